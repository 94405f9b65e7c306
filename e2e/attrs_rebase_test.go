package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A chmod of a shared log made after another host appended to it (this
// mount had not seen that version: the mode changes through the open
// descriptor) is applied to the other host's version: its bytes stay, the
// mode is stored with them, and the mount shows their size. Before, the
// copy onto itself pinned to the version the mount knew was refused and
// the change dropped: S3 held the log without the mode, and the chmod
// reverted for every later reader.
func TestChmodAfterAnotherHostsAppendSticks(t *testing.T) {
	srv, b := setup(t)
	st := srv.Store(t, b)
	m := mount(t, srv, b)
	p := filepath.Join(m.Dir, "shared.log")

	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ours := []byte("ours 1\n")
	if _, err := f.Write(ours); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil { // published: the mount knows this version
		t.Fatal(err)
	}
	if got := srv.Get(t, b, "shared.log"); !bytes.Equal(got, ours) {
		t.Fatalf("after fsync S3 holds %q", got)
	}
	// Another host appends (a whole-object write, as on a general
	// bucket): no attributes of its own.
	all := append(append([]byte(nil), ours...), "theirs 1\ntheirs 2\n"...)
	srv.Put(t, b, "shared.log", all)

	if err := f.Chmod(0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil { // stores the mode
		t.Fatalf("fsync after the chmod: %v", err)
	}
	if a := headAttrs(t, st, "shared.log"); a == nil || a.Mode != syscall.S_IFREG|0o600 {
		t.Fatalf("S3 holds the log with attributes %+v, want mode 0100600 (the chmod was dropped)", a)
	}
	if got := srv.Get(t, b, "shared.log"); !bytes.Equal(got, all) {
		t.Fatalf("S3 holds %q, want the other host's version %q kept", got, all)
	}
	// The mount shows the mode set here and the other host's size.
	if !waitUntil(time.Minute, func() bool {
		fi, err := os.Stat(p)
		return err == nil && fi.Mode().Perm() == 0o600 && fi.Size() == int64(len(all))
	}) {
		fi, err := os.Stat(p)
		t.Fatalf("stat after the chmod: %v %v, want mode 0600 and size %d", fi.Mode(), err, len(all))
	}
	// Our next line goes after theirs.
	if _, err := f.Write([]byte("ours 2\n")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte(nil), all...), "ours 2\n"...)
	if !waitUntil(time.Minute, func() bool { return bytes.Equal(srv.Get(t, b, "shared.log"), want) }) {
		t.Fatalf("S3 holds %q, want %q", srv.Get(t, b, "shared.log"), want)
	}
	if a := headAttrs(t, st, "shared.log"); a == nil || a.Mode != syscall.S_IFREG|0o600 {
		t.Fatalf("after the next append S3 holds attributes %+v, want mode 0100600", a)
	}
}
