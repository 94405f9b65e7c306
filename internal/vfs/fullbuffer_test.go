package vfs

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/readahead"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
)

// A write that adds no unpublished bytes (it rewrites bytes not yet
// published) needs no room in the buffer, and must not wait for any: with
// the buffer over its bound (a non-blocking mount lets a log writer finish
// a line the kernel split in two past it) it returned 0 bytes written and
// no error, which the kernel turned into EIO (page-cached writes) or a
// write(2) of 0 (direct I/O: "unexpected EOF" in Go). Found by the e2e
// stress under a 16 KiB non-blocking buffer.
func TestRewriteNeedsNoRoom(t *testing.T) {
	mem := memstore.New("b")
	sp, recovered, err := spool.Open(t.TempDir(), "test/", spool.Options{MaxBuffer: 100, Mode: spool.NonBlocking})
	if err != nil {
		t.Fatal(err)
	}
	pool := readahead.NewPool(mem, readahead.PoolOptions{PartSize: 1 << 20, FirstRequest: 256 << 10, MemoryTarget: 32 << 20, MaxThreads: 4})
	fs := New(mem, sp, recovered, pool, Options{AllowOverwrite: true, UploadInterval: time.Hour, CloseDelay: time.Hour, DropMarker: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { fs.Shutdown(context.Background()) })
	ctx := context.Background()
	_, w, err := fs.Create(ctx, fs.Root(), "w", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w.Write(ctx, make([]byte, 50), 0); n != 50 || err != nil {
		t.Fatalf("first write: %d, %v", n, err)
	}
	_, l, err := fs.Create(ctx, fs.Root(), "l", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	// A line's head, then its tail past the bound: the tail is taken over
	// the bound (the kernel split one write() in two).
	for _, s := range []string{"abc", string(make([]byte, 60)) + "\n"} {
		if n, err := l.Write(ctx, []byte(s), 0); n != len(s) || err != nil {
			t.Fatalf("log write: %d, %v", n, err)
		}
	}
	if used := sp.Used(); used <= sp.Max() {
		t.Fatalf("premise: the buffer over its bound, used %d of %d", used, sp.Max())
	}
	for _, tc := range []struct {
		off int64
		n   int
	}{{10, 5}, {0, 50}} {
		if n, err := w.Write(ctx, []byte("EDIT!EDIT!EDIT!EDIT!EDIT!EDIT!EDIT!EDIT!EDIT!EDIT!")[:tc.n], tc.off); n != tc.n || err != nil {
			t.Fatalf("rewrite of %d unpublished bytes at %d with the buffer over its bound: %d, %v; want %d, nil", tc.n, tc.off, n, err, tc.n)
		}
	}
}
