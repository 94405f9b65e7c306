package vfs

import (
	"context"
	"os"
	"sync/atomic"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A scheduled publication of a closed log, and an appender that opens the
// log and writes half a line after the publication was due but before it
// chose its end (here: while its retry asks S3 whether the failed attempt
// landed). The publication must stop at the last newline, as for any log
// open for writing: readers elsewhere never see half a line (random seed
// 622419381 of TestModelAttrs, real timers: the job judged "no writers"
// when it fired and published everything).
func TestScheduledPublicationLeavesTheHalfLineOfAWriterThatOpenedSince(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	mem.PutObject("app.log", []byte("line 1\n"))
	fs := lostFS(t, mem, t.TempDir())
	n, err := fs.Lookup(ctx, fs.Root(), "app.log")
	if err != nil {
		t.Fatal(err)
	}
	h := openAppend(t, fs, "app.log")
	mustWrite(t, h, "line 2\n")
	h.Release() // its last close schedules the publication
	job := n.ws().job

	// The closed log's publication fails, and so does the look whether it
	// landed: its retry looks first (a HEAD), before it chooses its end.
	put, head := false, false
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		switch {
		case writeOps[c.Op] && !put:
			put = true
			return memstore.Fail
		case c.Op == "HeadObject" && put && !head:
			head = true
			return memstore.Fail
		}
		return memstore.Pass
	})
	if !job.RunWaiting() {
		t.Fatal("no publication scheduled after the log's last close")
	}
	if !put || !head {
		t.Fatalf("the publication's write failed %v, its look failed %v: the case is not made", put, head)
	}
	if n.spoolFile().Journal().PendingTag == "" {
		t.Fatal("nothing left to look at before the retry: the case is not made")
	}

	// The retry: during its look, a writer opens the log and writes half
	// a line. (It runs here or, if the backoff's timer came first, in the
	// scheduler: errors are kept, not reported from the hook.)
	var injected atomic.Bool
	var h2 atomic.Pointer[Handle]
	var hookErr atomic.Pointer[error]
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op != "HeadObject" || !injected.CompareAndSwap(false, true) {
			return memstore.Pass
		}
		h, err := fs.Open(ctx, n, os.O_WRONLY|os.O_APPEND)
		if err == nil {
			h2.Store(h)
			_, err = h.Write(ctx, []byte("hal"), 0)
		}
		if err != nil {
			hookErr.Store(&err)
		}
		return memstore.Pass
	})
	job.RunWaiting()
	waitFor(t, func() bool { return injected.Load() && !job.Busy() })
	mem.SetHook(nil)
	if e := hookErr.Load(); e != nil {
		t.Fatalf("the writer's open or write during the look: %v", *e)
	}
	if got, _, _ := mem.Object("app.log"); string(got) != "line 1\nline 2\n" {
		t.Fatalf("with a writer open after half a line, S3 holds %q, want %q: a publication ended inside the line", got, "line 1\nline 2\n")
	}

	// The line's end and an fsync publish it whole.
	w := h2.Load()
	mustWrite(t, w, "f\n")
	if err := w.Fsync(ctx); err != nil {
		t.Fatal(err)
	}
	w.Release()
	if got, _, _ := mem.Object("app.log"); string(got) != "line 1\nline 2\nhalf\n" {
		t.Fatalf("S3 holds %q after the writer's fsync", got)
	}
}
