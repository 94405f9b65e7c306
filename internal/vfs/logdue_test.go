package vfs

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
)

// Lines a log's open writer adds while another handle's close publishes
// the file are published at the interval like any others. They were
// not: the close's publication runs outside the scheduler, the lines made
// the file dirty again with no deadline (a log's writes set one only when
// the file goes dirty), and the log stayed unpublished until its writer
// closed it or the buffer filled. With a full buffer that is a write
// waiting for good: the e2e full-buffer stress hung so, a whole write
// waiting for room that only that log's publication would free, its
// writer blocked in the kernel behind the waiting write.
func TestLogLinesWrittenDuringAnotherHandlesCloseArePublished(t *testing.T) {
	mem := memstore.New("b")
	fs, _, n := publishedFirst(t, mem, spool.Options{})
	ctx := context.Background()
	// A writer extends it; then a log writer opens it.
	e, err := fs.Open(ctx, n, os.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Write(ctx, []byte("edit\n"), 6); err != nil {
		t.Fatal(err)
	}
	l, err := fs.Open(ctx, n, os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	// The log writer writes a line while the edit's close publishes.
	var once sync.Once
	var werr error
	wrote := false
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if writeOps[c.Op] && c.Key == "l" {
			once.Do(func() {
				_, werr = l.Write(ctx, []byte("line\n"), 0)
				wrote = true
			})
		}
		return memstore.Pass
	})
	if err := e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !wrote || werr != nil {
		t.Fatalf("premise: the log's line written during the close's publication: %v, %v", wrote, werr)
	}
	e.Release()
	mem.SetHook(nil)
	const want = "first\nedit\nline\n"
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _, _ := mem.Object("l")
		if string(got) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("S3 holds %q 10 s after the line was written (interval 20 ms), want %q", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The hang itself: a write waiting for the whole buffer (non-blocking
// mode), which only such a log's line still holds once every other
// publication landed, and nothing writes or closes any more.
func TestWriteWaitingForRoomHeldByALogLineWrittenDuringAClose(t *testing.T) {
	mem := memstore.New("b")
	fs, sp, n := publishedFirst(t, mem, spool.Options{MaxBuffer: 100, Mode: spool.NonBlocking})
	ctx := context.Background()
	// z's bytes hold the buffer while S3 refuses them.
	var zDown sync.Mutex
	down := true
	var once sync.Once
	var l *Handle
	var werr error
	lineWritten := false
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		zDown.Lock()
		defer zDown.Unlock()
		if writeOps[c.Op] && c.Key == "z" && down {
			return memstore.Fail
		}
		if writeOps[c.Op] && c.Key == "l" && l != nil {
			// The log's line, written during the close's publication.
			once.Do(func() { _, werr = l.Write(ctx, []byte("line\n"), 0); lineWritten = true })
		}
		return memstore.Pass
	})
	zn, z, err := fs.Create(ctx, fs.Root(), "z", os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Release()
	mustWrite(t, z, "zzzzzzzzz\n")
	// A write of the whole buffer waits (it asked every dirty file's
	// publication when it began: z's fails).
	_, a, err := fs.Create(ctx, fs.Root(), "a", os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	done := make(chan error, 1)
	go func() {
		_, err := a.Write(ctx, make([]byte, 100), 0)
		done <- err
	}()
	// (z is published only when asked: its failed attempt says the
	// write asked.)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if err, _ := zn.ws().job.Outcome(); err != nil {
			break
		}
		if time.Now().After(deadline) || len(done) > 0 {
			t.Fatal("premise: the write waits for room, z's publication failed")
		}
	}
	// Then: a writer extends the published l, a log writer opens it,
	// and writes a line while the first one's close publishes l.
	e, err := fs.Open(ctx, n, os.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Write(ctx, []byte("edit\n"), 6); err != nil {
		t.Fatal(err)
	}
	lh, err := fs.Open(ctx, n, os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	defer lh.Release()
	zDown.Lock()
	l = lh
	zDown.Unlock()
	if err := e.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	e.Release()
	zDown.Lock()
	down = false // z publishes at its retry
	wrote := lineWritten && werr == nil
	zDown.Unlock()
	if !wrote {
		t.Fatalf("premise: the log's line written during the close's publication: %v", werr)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("a write still waits for room 10 s after every file but the log published (interval 20 ms): buffer used %d, S3 holds l = %q", sp.Used(), object(mem, "l"))
	}
}

// publishedFirst is a mount with a 20 ms interval and close delay, and
// its published file "l" holding "first\n" (not a log).
func publishedFirst(t *testing.T, mem *memstore.Store, so spool.Options) (*FS, *spool.Spool, *Node) {
	t.Helper()
	fs, sp := memFSSpool(t, mem, t.TempDir(), so, Options{AllowOverwrite: true, UploadInterval: 20 * time.Millisecond, CloseDelay: 20 * time.Millisecond})
	n, w, err := fs.Create(context.Background(), fs.Root(), "l", os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, "first\n")
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Release()
	return fs, sp, n
}

func object(mem *memstore.Store, key string) string {
	b, _, _ := mem.Object(key)
	return string(b)
}
