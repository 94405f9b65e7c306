package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// A file unlinked while a process holds it open, a new file under its name
// with the same bytes, the mount killed: after the remount the new file is
// there. Before, recovery finished the unlink (its journal still named the
// deleted object by its ETag) by deleting the key while it had that ETag —
// and a single-part object's ETag is the MD5 of its bytes, so the new file
// went (model seed 133943018).
func TestUnlinkedWhileOpenThenSameBytesKilled(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	opts := []string{"--spool-dir", t.TempDir(), "--allow-delete", "--upload-interval", "1s", "--close-delay", "100ms"}
	m := mount(t, srv, b, opts...)
	p := filepath.Join(m.Dir, "app.log")
	data := []byte("the same line\n")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	waitObject(t, srv, b, "app.log", data)
	held, err := os.OpenFile(p, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if !waitUntil(30*time.Second, func() bool { return !srv.Exists(t, b, "app.log") }) {
		t.Fatal("the unlinked file's object stays in S3")
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	waitObject(t, srv, b, "app.log", data)
	m.Kill(t)
	m2 := mount(t, srv, b, opts...)
	defer func() {
		if t.Failed() {
			t.Logf("mount log after the kill:\n%s", m2.Stderr())
		}
	}()
	if got, err := os.ReadFile(filepath.Join(m2.Dir, "app.log")); err != nil || string(got) != string(data) {
		t.Errorf("after the remount the new file reads %q (%v), want %q", got, err, data)
	}
	m2.Unmount(t)
	if got := srv.Get(t, b, "app.log"); string(got) != string(data) {
		t.Errorf("S3 holds %q at app.log after the remount, want %q", got, data)
	}
}
