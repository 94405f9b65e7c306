package vfs

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/readahead"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
)

// lostFS is a file system over mem whose publications are driven by the
// test (intervals of an hour), with every option that allows edits.
func lostFS(t *testing.T, mem *memstore.Store, dir string) *FS {
	return memFS(t, mem, dir, Options{AllowDelete: true, AllowOverwrite: true})
}

// memFS is a file system over mem with the spool in dir (the same dir is
// a remount after a crash) and options o, its publications driven by the
// test (intervals of an hour).
func memFS(t testing.TB, mem s3store.Store, dir string, o Options) *FS {
	t.Helper()
	fs, _ := memFSSpool(t, mem, dir, spool.Options{}, o)
	return fs
}

// memFSSpool is memFS with spool options so, returning the spool too.
func memFSSpool(t testing.TB, mem s3store.Store, dir string, so spool.Options, o Options) (*FS, *spool.Spool) {
	t.Helper()
	sp, recovered, err := spool.Open(dir, "test/", so)
	if err != nil {
		t.Fatal(err)
	}
	pool := readahead.NewPool(mem, readahead.PoolOptions{PartSize: 1 << 20, FirstRequest: 256 << 10, MemoryTarget: 32 << 20, MaxThreads: 4})
	if o.UploadInterval == 0 {
		o.UploadInterval = time.Hour // published when a test asks
	}
	if o.CloseDelay == 0 {
		o.CloseDelay = time.Hour
	}
	if o.WritePartSize == 0 {
		o.WritePartSize = s3store.MinPartSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	fs := New(mem, sp, recovered, pool, o)
	t.Cleanup(func() { fs.Shutdown(context.Background()) })
	return fs, sp
}

// loseOnce makes the first call of op apply and lose its answer.
func loseOnce(mem *memstore.Store, op string) {
	lost := false
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == op && !lost {
			lost = true
			return memstore.LoseAnswer
		}
		return memstore.Pass
	})
}

func mustWrite(t *testing.T, h *Handle, s string) {
	t.Helper()
	if _, err := h.Write(context.Background(), []byte(s), 0); err != nil {
		t.Fatal(err)
	}
}

// openAppend opens the published file name for appending.
func openAppend(t *testing.T, fs *FS, name string) *Handle {
	t.Helper()
	ctx := context.Background()
	n, err := fs.Lookup(ctx, fs.Root(), name)
	if err != nil {
		t.Fatal(err)
	}
	h, err := fs.Open(ctx, n, os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// loseThenFail makes the first PutObject apply and lose its answer, and
// every call after it fail: S3 cannot be asked whether it landed.
func loseThenFail(mem *memstore.Store) {
	put := false
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		switch {
		case c.Op == "PutObject" && !put:
			put = true
			return memstore.LoseAnswer
		case put:
			return memstore.Fail
		}
		return memstore.Pass
	})
}

// A publication S3 applied but whose answer was lost is recognised by its
// tag: not published twice, not taken for another writer's (which would
// make close fail with EIO), and identical bytes appended by another host
// are not taken for ours.
func TestLostAnswerIsSettledByTag(t *testing.T) {
	ctx := context.Background()
	t.Run("whole file", func(t *testing.T) {
		mem := memstore.New("b")
		fs := lostFS(t, mem, t.TempDir())
		loseOnce(mem, "PutObject")
		_, h, err := fs.Create(ctx, fs.Root(), "f", os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, h, "whole\n")
		if err := h.Flush(ctx); err != nil {
			t.Fatalf("close after a lost answer: %v", err)
		}
		h.Release()
		if got, _, _ := mem.Object("f"); string(got) != "whole\n" {
			t.Fatalf("S3 holds %q", got)
		}
	})
	t.Run("log append", func(t *testing.T) {
		mem := memstore.New("b")
		mem.PutObject("app.log", []byte("line 1\n"))
		fs := lostFS(t, mem, t.TempDir())
		h := openAppend(t, fs, "app.log")
		mustWrite(t, h, "line 2\n")
		loseOnce(mem, "PutObject")
		if err := h.Fsync(ctx); err != nil {
			t.Fatalf("fsync after a lost answer: %v", err)
		}
		// Another host appends the very same line after ours.
		mem.SetHook(nil)
		mem.AppendObject("app.log", []byte("line 2\n"))
		mustWrite(t, h, "line 3\n")
		if err := h.Fsync(ctx); err != nil {
			t.Fatal(err)
		}
		h.Release()
		want := "line 1\nline 2\nline 2\nline 3\n"
		if got, _, _ := mem.Object("app.log"); string(got) != want {
			t.Fatalf("S3 holds %q, want %q", got, want)
		}
	})
	t.Run("after a crash", func(t *testing.T) {
		mem := memstore.New("b")
		dir := t.TempDir()
		fs := lostFS(t, mem, dir)
		_, h, err := fs.Create(ctx, fs.Root(), "c.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, h, "only once\n")
		// S3 applies the publication; the daemon dies before the answer.
		mem.SetHook(func(c memstore.Call) memstore.Fault {
			if c.Op == "PutObject" {
				return memstore.LoseAnswer
			}
			return memstore.Fail
		})
		_ = h.Fsync(ctx)
		snap := t.TempDir()
		copyDir(t, dir, snap)
		mem.SetHook(nil)
		// Recovery on a copy of the spool as the crash left it.
		fs2 := lostFS(t, mem, snap)
		waitFor(t, func() bool { return fs2.Stats().SpoolFiles == 0 })
		if got, _, _ := mem.Object("c.log"); string(got) != "only once\n" {
			t.Fatalf("S3 holds %q after recovery", got)
		}
	})
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() || e.Name() == "LOCK" || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		b, err := os.ReadFile(from + "/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to+"/"+e.Name(), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A log's publication lands, its answer is lost and the SDK's retry is
// refused (412: the first attempt changed the object), while another host
// keeps appending: between the settle's HEAD and its read of our bytes,
// and (second case) with that read failing. Our line must be in S3 once:
// a settle that cannot tell must not turn into a rebase, which appends
// the line again after the other host's.
func TestLostAnswerRetriedWhileAnotherHostAppends(t *testing.T) {
	ctx := context.Background()
	for _, failRead := range []bool{false, true} {
		name := map[bool]string{false: "object moved under the settle", true: "settle's read fails"}[failRead]
		t.Run(name, func(t *testing.T) {
			mem := memstore.New("b")
			mem.PutObject("app.log", []byte("line 1\n"))
			fs := lostFS(t, mem, t.TempDir())
			h := openAppend(t, fs, "app.log")
			mustWrite(t, h, "line 2\n")
			put, head, get := false, false, false
			mem.SetHook(func(c memstore.Call) memstore.Fault {
				switch {
				case c.Op == "PutObject" && !put:
					put = true
					return memstore.Retried
				case c.Op == "HeadObject" && put && !head:
					head = true
					mem.AppendObject("app.log", []byte("other 1\n"))
				case c.Op == "GetObject" && head && !get:
					get = true
					mem.AppendObject("app.log", []byte("other 2\n"))
					if failRead {
						return memstore.Fail
					}
				}
				return memstore.Pass
			})
			err := h.Fsync(ctx)
			if !get {
				t.Fatal("the settle never read our bytes back: the test does not test it")
			}
			if failRead && err == nil {
				t.Fatal("fsync succeeded though whether the publication landed was not known")
			}
			if !failRead && err != nil {
				t.Fatalf("fsync: %v", err)
			}
			mem.SetHook(nil)
			mustWrite(t, h, "line 3\n")
			if err := h.Fsync(ctx); err != nil {
				t.Fatal(err)
			}
			h.Release()
			want := "line 1\nline 2\nother 1\nother 2\nline 3\n"
			if got, _, _ := mem.Object("app.log"); string(got) != want {
				t.Fatalf("S3 holds %q, want %q", got, want)
			}
		})
	}
}

// A new log's first publication lands with its answer lost and S3 cannot
// be asked; another host then appends to the object ours created. The
// next attempt finds our bytes with theirs after them: the base it records
// must still condition the next write (a new file had no ETag: an empty
// one made the re-put unconditional, and it overwrote the other host's
// line).
func TestLostFirstPublicationThenAnotherHostAppends(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	fs := lostFS(t, mem, t.TempDir())
	_, h, err := fs.Create(ctx, fs.Root(), "new.log", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, h, "ours 1\n")
	loseThenFail(mem)
	if err := h.Fsync(ctx); err == nil {
		t.Fatal("fsync succeeded though whether the publication landed was not known")
	}
	mem.SetHook(nil)
	mem.AppendObject("new.log", []byte("theirs\n"))
	mustWrite(t, h, "ours 2\n")
	if err := h.Fsync(ctx); err != nil {
		t.Fatal(err)
	}
	h.Release()
	want := "ours 1\ntheirs\nours 2\n"
	if got, _, _ := mem.Object("new.log"); string(got) != want {
		t.Fatalf("S3 holds %q, want %q", got, want)
	}
}

// On a directory bucket a log's append is applied with its answer lost and
// S3 cannot be asked; then the object goes (another host deleted it, or a
// rename whose outcome this host could not tell moved it). The next
// attempt must not be stuck on "cannot tell" for good: the object is gone,
// so nothing of ours is there, and the file's bytes start a new object.
func TestExpressLostAppendThenObjectGone(t *testing.T) {
	ctx := context.Background()
	mem := memstore.NewExpress("b--x-s3")
	mem.PutObject("app.log", []byte("line 1\n"))
	fs := memFS(t, mem, t.TempDir(), Options{AllowDelete: true, AllowOverwrite: true, Express: mem})
	h := openAppend(t, fs, "app.log")
	mustWrite(t, h, "line 2\n")
	loseThenFail(mem)
	if err := h.Fsync(ctx); err == nil {
		t.Fatal("fsync succeeded though whether the append landed was not known")
	}
	mem.SetHook(nil)
	mem.DeleteObject("app.log")
	mustWrite(t, h, "line 3\n")
	if err := h.Fsync(ctx); err != nil {
		t.Fatalf("fsync after the object went: %v", err)
	}
	h.Release()
	// The file keeps what S3 did not hold of it: line 1 went with the
	// object, line 2 (its append's outcome unknown) and line 3 did not.
	if got, _, _ := mem.Object("app.log"); string(got) != "line 2\nline 3\n" {
		t.Fatalf("S3 holds %q, want our unpublished lines", got)
	}
}
