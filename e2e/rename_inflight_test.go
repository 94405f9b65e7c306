package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// A log moved while its publication is in flight (an fsync, S3 slow), on a
// bucket that refuses deletes: the move waits for that publication, so
// its lines land under the old name first and move with the log; the old
// key keeps a version of the log (nothing else) until deletes work again,
// and the log's next publication deletes it — nothing resurrected, the
// mount logs it. (The reference model once took that old key for a
// resurrection: vfs TestRenameRefusedDeleteAfterAPublicationInFlight.)
func TestLogMovedDuringAPublicationWithDeletesRefused(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m, p := mountVia(t, srv, b, "--allow-delete", "--upload-interval", "1h", "--close-delay", "1h")
	defer func() {
		if t.Failed() {
			t.Logf("mount log:\n%s", m.Stderr())
		}
	}()
	log := filepath.Join(m.Dir, "app.log")
	w, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var want strings.Builder
	write := func(from, to int) {
		t.Helper()
		for i := from; i <= to; i++ {
			line := fmt.Sprintf("A-%d\n", i)
			want.WriteString(line)
			if _, err := w.WriteString(line); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(1, 100)
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	first := want.String()
	write(101, 200)
	second := want.String()

	p.SetRefuseDeletes(true)
	p.SetLatency(300 * time.Millisecond)
	before := p.Requests()
	synced := make(chan error, 1)
	go func() { synced <- w.Sync() }()
	if !waitUntil(30*time.Second, func() bool { return p.Requests() > before }) {
		t.Fatal("the fsync sent no request")
	}
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatalf("mv app.log app.log.1 while its publication is in flight: %v", err)
	}
	if err := <-synced; err != nil {
		t.Fatalf("fsync: %v", err)
	}
	p.SetLatency(0)

	// Refused deletes: the old key holds a version of the log.
	if got := string(srv.Get(t, b, "app.log.1")); got != second {
		t.Errorf("S3 app.log.1 holds %d bytes, want %d", len(got), len(second))
	}
	old := string(srv.Get(t, b, "app.log"))
	if old != first && old != second {
		t.Errorf("S3 still holds the old key app.log with %d bytes (%q...), want a version of the log (%d or %d bytes)", len(old), firstLine(old), len(first), len(second))
	}
	t.Logf("the old key held %d of the log's %d bytes (the publication in flight landed first: %v)", len(old), len(second), old == second)
	if !strings.Contains(m.Stderr(), "deleted later") {
		t.Error("no warning that the old key is deleted later")
	}
	ents, err := os.ReadDir(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "app.log.1" {
		t.Errorf("the mount lists %v, want only app.log.1", ents)
	}

	// Deletes work again: the log's next publication deletes the old key.
	p.SetRefuseDeletes(false)
	write(201, 300)
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if keys := srv.Keys(t, b, ""); !slices.Equal(keys, []string{"app.log.1"}) {
		t.Errorf("after the next publication S3 holds %q, want only app.log.1", keys)
	}
	if got := string(srv.Get(t, b, "app.log.1")); got != want.String() {
		t.Errorf("S3 app.log.1 holds %d bytes, want %d", len(got), want.Len())
	}
	w.Close()
	m.Unmount(t)
	if keys := srv.Keys(t, b, ""); !slices.Equal(keys, []string{"app.log.1"}) {
		t.Errorf("after the unmount S3 holds %q, want only app.log.1", keys)
	}
}
