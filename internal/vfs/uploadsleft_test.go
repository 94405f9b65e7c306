package vfs

import (
	"bytes"
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A log's publication fails and so does the abort of its multipart
// upload; the next publication lands while S3 still refuses the abort, and
// the log is closed. The journal is all that names the upload: the file
// stays in the spool, and its job aborts the upload once S3 takes aborts
// again. Before, the clean file's spool file was dropped at the close and
// the upload left for good, its parts billed (random seed 630542629: one
// upload left after a clean unmount).
func TestUploadWhoseAbortFailedIsAbortedAfterTheFileIsClean(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	// Over 5 MiB: the log's publication is a multipart compose.
	big := append(bytes.Repeat([]byte("0123456789abcdef\n"), 6<<20/17), "end\n"...)
	mem.PutObject("app.log", big)
	dir := t.TempDir()
	fs := lostFS(t, mem, dir)
	h := openAppend(t, fs, "app.log")
	var completes, refused atomic.Int32
	var refuseAborts atomic.Bool
	refuseAborts.Store(true)
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		switch {
		case c.Op == "CompleteMultipartUpload" && completes.Add(1) == 1:
			return memstore.Fail
		case c.Op == "AbortMultipartUpload" && refuseAborts.Load():
			refused.Add(1)
			return memstore.Fail
		}
		return memstore.Pass
	})
	mustWrite(t, h, "line 1\n")
	if err := h.Fsync(ctx); err == nil {
		t.Fatal("fsync succeeded; its publication's completion was to fail")
	}
	if n := len(mem.Uploads()); n != 1 {
		t.Fatalf("%d uploads after a failed publication whose abort failed, want 1", n)
	}
	mustWrite(t, h, "line 2\n")
	if err := h.Fsync(ctx); err != nil {
		t.Fatalf("fsync while S3 refuses aborts (the data is published): %v", err)
	}
	h.Release()
	if got, _, _ := mem.Object("app.log"); !bytes.HasSuffix(got, []byte("end\nline 1\nline 2\n")) {
		t.Fatalf("S3 app.log ends %q", got[max(0, len(got)-40):])
	}
	if n := len(mem.Uploads()); n != 1 {
		t.Fatalf("%d uploads while S3 refuses aborts, want 1", n)
	}
	// The abort is retried on its own (a backoff, not the hour-long
	// interval nor the unmount), the file closed and clean: twice more
	// while S3 refuses it (a retry of the failed fsync scheduled before
	// may make one), then once S3 takes it.
	n := refused.Load()
	waitFor(t, func() bool { return refused.Load() >= n+2 })
	refuseAborts.Store(false)
	waitFor(t, func() bool { return len(mem.Uploads()) == 0 })
	if err := fs.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if ups := mem.Uploads(); len(ups) != 0 {
		t.Fatalf("uploads left after a clean unmount: %v", ups)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(left) != 0 {
		t.Fatalf("spool files left after a clean unmount with nothing to do: %v", left)
	}
}
