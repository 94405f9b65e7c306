package vfs

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
)

// A crash (SIGKILL) while a read-write open beside a direct reader is
// still open: its open recorded that every byte S3 has is to be compared,
// so the next mount compares them before publishing: a mapped write to
// published bytes reaches S3 (whole), unchanged bytes let the log go on
// as an append after another host's line. Before, nothing was recorded
// until the release, and the mapped bytes stayed local for good.
func TestMapCheckAfterACrashWhileMapped(t *testing.T) {
	for _, c := range []struct {
		name         string
		at           int64 // where a mapped write puts "ONE" (-1: none)
		theirs, tail string
		want         string
	}{
		{"a mapped write to bytes S3 had at the open", 0, "", "", "ONE\nours\n"},
		{"a mapped write to bytes published during the open", 4, "", "", "one\nONEs\n"},
		{"unchanged, another host appends", -1, "theirs\n", "two\n", "one\nours\ntheirs\ntwo\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := memstore.New("b")
			fc := newFence(mem)
			dir := filepath.Join(t.TempDir(), "spool")
			_, _, w, _, rw := mapCheckSetup(t, fc, dir, false)
			if c.at >= 0 {
				fd, _ := rw.LocalFd()
				if _, err := syscall.Pwrite(fd, []byte("ONE"), c.at); err != nil {
					t.Fatal(err)
				}
			}
			if c.tail != "" {
				mustWrite(t, w, c.tail)
			}
			// SIGKILL with rw still open.
			fc.kill(0, "")
			remountAfterCrash(t, mem, dir, c.theirs, func(mc *spool.MapCheck) bool { return mc != nil && mc.To == spool.MapToEnd }, c.want)
		})
	}
}

// While a read-write open beside a direct reader lasts, the file's
// publications go on (an open log's lines publish on time) without a look
// at S3's bytes, which a mapped write may change after any look: the
// journal keeps every byte S3 has due. A second such open's release does
// not end that; the last one's does, and its look finds a mapped write
// to bytes published during the open, so the file is published whole.
func TestMapCheckWaitsForTheLastMappingOpen(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	var failing atomic.Bool
	var gets atomic.Int64
	failGets(mem, "a.log", &failing, &gets)
	fs, n, w, r, rw := mapCheckSetup(t, mem, t.TempDir(), false)
	rw2 := openMode(t, fs, n, os.O_RDWR)
	if rw2.IOMode() != IOLocalWriter {
		t.Fatalf("second read-write open: %v, want IOLocalWriter", rw2.IOMode())
	}
	mustWrite(t, w, "two\n")
	if err := w.Fsync(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := mem.Object("a.log"); string(got) != "one\nours\ntwo\n" {
		t.Fatalf("S3 holds %q while the opens last, want every line", got)
	}
	due := func() *spool.MapCheck { return n.spoolFile().Journal().MapCheck }
	if mc := due(); mc == nil || mc.From != 0 || mc.To != spool.MapToEnd || gets.Load() != 0 {
		t.Fatalf("while the opens last: map check %+v, %d GETs; want every byte S3 has due, no look", mc, gets.Load())
	}
	fd, _ := rw.LocalFd()
	if _, err := syscall.Pwrite(fd, []byte("TWO"), 9); err != nil {
		t.Fatal(err)
	}
	rw.Release()
	if mc := due(); mc == nil || mc.To != spool.MapToEnd || gets.Load() != 0 {
		t.Fatalf("after one of two opens closed: map check %+v, %d GETs; want every byte S3 has still due", mc, gets.Load())
	}
	rw2.Release()
	waitFor(t, func() bool { got, _, _ := mem.Object("a.log"); return string(got) == "one\nours\nTWO\n" })
	if mc := due(); mc != nil {
		t.Fatalf("map check left after the look: %+v", mc)
	}
	r.Release()
	w.Release()
	if err := fs.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := mem.Object("a.log"); string(got) != "one\nours\nTWO\n" {
		t.Fatalf("S3 holds %q", got)
	}
}
