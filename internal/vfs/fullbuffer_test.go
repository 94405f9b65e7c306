package vfs

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

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
	fs, sp, mem := smallBufferFS(t, spool.NonBlocking)
	// S3 down: no publication frees room while the test looks.
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if writeOps[c.Op] {
			return memstore.Fail
		}
		return memstore.Pass
	})
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

// smallBufferFS is a mount of a new memstore with a 100-byte buffer in
// mode, publications only when asked.
func smallBufferFS(t *testing.T, mode spool.Mode) (*FS, *spool.Spool, *memstore.Store) {
	return smallBufferFSLog(t, mode, io.Discard)
}

// smallBufferFSLog is smallBufferFS logging to log.
func smallBufferFSLog(t *testing.T, mode spool.Mode, log io.Writer) (*FS, *spool.Spool, *memstore.Store) {
	t.Helper()
	mem := memstore.New("b")
	fs, sp := memFSSpool(t, mem, t.TempDir(), spool.Options{MaxBuffer: 100, Mode: mode},
		Options{AllowOverwrite: true, DropMarker: true, Logger: slog.New(slog.NewTextHandler(log, nil))})
	return fs, sp, mem
}

// An open log publishes whole lines only: the bytes past its last newline
// stay in the buffer until the next newline or the close. When they alone
// leave less room than a write needs, no publication can make it, and a
// writer of that log may be the one waiting (the e2e stress hung so under
// a 16 KiB buffer: a log truncated inside a long line by one process,
// appended to and held open by another that then waited, in a whole
// write of another file, for room only the log's close would free). The
// write now goes past the bound, in both modes, and a log line says so.
func TestUnfinishedLinesDoNotMakeWritersWaitForEver(t *testing.T) {
	for _, mode := range []spool.Mode{spool.Blocking, spool.NonBlocking} {
		t.Run(modeName(mode), func(t *testing.T) {
			log := &logBuf{}
			fs, sp, _ := smallBufferFSLog(t, mode, log)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, l, err := fs.Create(ctx, fs.Root(), "log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release()
			if n, err := l.Write(ctx, make([]byte, 90), 0); n != 90 || err != nil {
				t.Fatalf("log write: %d, %v", n, err)
			}
			_, w, err := fs.Create(ctx, fs.Root(), "w", os.O_WRONLY|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Release()
			if n, err := w.Write(ctx, make([]byte, 20), 0); n != 20 || err != nil {
				t.Fatalf("a write needing room only the log's close would free: %d, %v; want 20, nil", n, err)
			}
			if used := sp.Used(); used != 110 {
				t.Fatalf("buffer used %d, want 110 (past the bound)", used)
			}
			if !strings.Contains(log.Tail(), "letting writes go past --max-buffer-size") {
				t.Fatalf("going past the bound is not said in the log:\n%s", log.Tail())
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
