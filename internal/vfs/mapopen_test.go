package vfs

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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
	if st := fs.Files(); len(st) != 1 || st[0].MapCheck != "[0, end)" || st[0].MapOpens != 2 {
		t.Fatalf("status while the opens last: %+v; want [0, end) to compare once 2 opens close", st)
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

// S3 Express, a read-write open beside a direct reader: a crash while it
// is open and an append's answer is lost. The next mount's look at
// whether S3 took the append (publish.AlreadyOurs, which first compares
// the bytes a mapping may have changed, and may make the file a whole
// edit) runs under the file's job token, as every step of its
// publication. Before, recovery ran it without the token, beside the
// job. The mapped write reaches S3, the append once.
func TestExpressRecoveryLooksUnderTheJobsToken(t *testing.T) {
	ctx := context.Background()
	mem := memstore.NewExpress("b--x-s3")
	fc := newFence(mem)
	dir := filepath.Join(t.TempDir(), "spool")
	fs := memFS(t, fc, dir, Options{AllowOverwrite: true, Express: fc})
	_, _, _, rw := openBesideReader(t, fs)
	fd, _ := rw.LocalFd()
	if _, err := syscall.Pwrite(fd, []byte("ONE"), 0); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, rw, "ours\n")
	// SIGKILL once S3 took the append, before its answer.
	var armed atomic.Bool
	armed.Store(true)
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "PutObject" && c.Append && c.Key == "a.log" && armed.Swap(false) {
			fc.kill(1, "after the append")
			return memstore.LoseAnswer
		}
		return memstore.Pass
	})
	if err := rw.Fsync(ctx); err == nil {
		t.Fatal("fsync succeeded through the crash")
	}
	crashed := filepath.Join(t.TempDir(), "spool")
	if err := copySpool(dir, crashed); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := mem.Object("a.log"); string(got) != "one\nours\n" {
		t.Fatalf("premise: S3 holds %q, want the append taken", got)
	}
	sp, recovered, err := spool.Open(crashed, "test/", spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recovered) != 1 {
		t.Fatalf("premise: recovered %d files", len(recovered))
	}
	if j := recovered[0].Journal(); j.MapCheck == nil || j.Pending <= j.BaseSize {
		t.Fatalf("premise: recovered journal %+v; want a map check and an append in flight", j)
	}
	sp.Close()
	// The look's GET waits for the test to find the node, then sees
	// whether the job's token is held.
	ready := make(chan *Node)
	var looked, tokenHeld atomic.Bool
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "GetObject" && c.Key == "a.log" && !looked.Load() {
			select {
			case n := <-ready:
				tokenHeld.Store(n.ws().job.Busy())
			case <-time.After(time.Minute):
			}
			looked.Store(true)
		}
		return memstore.Pass
	})
	fs2 := memFS(t, mem, crashed, Options{AllowOverwrite: true, Express: mem})
	fs2.mu.Lock()
	n2 := fs2.byPath.get("a.log")
	fs2.mu.Unlock()
	if n2 == nil {
		t.Fatal("no node for the recovered file")
	}
	select {
	case ready <- n2:
	case <-time.After(time.Minute):
		t.Fatal("recovery made no look at S3's bytes")
	}
	if err := fs2.Shutdown(ctx); err != nil {
		t.Fatalf("unmount after the crash: %v", err)
	}
	if !looked.Load() || !tokenHeld.Load() {
		t.Fatalf("recovery's look at S3's bytes: made %v, under the job's token %v; want both", looked.Load(), tokenHeld.Load())
	}
	if got, _, _ := mem.Object("a.log"); string(got) != "ONE\nours\n" {
		t.Fatalf("S3 holds %q, want %q", got, "ONE\nours\n")
	}
}
