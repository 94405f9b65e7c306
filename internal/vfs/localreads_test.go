package vfs

import (
	"bytes"
	"context"
	"os"
	"syscall"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// readFd reads the whole data file an IOLocal handle names, as the kernel
// would serve its reader.
func readFd(t *testing.T, h *Handle) string {
	t.Helper()
	fd, ok := h.LocalFd()
	if !ok {
		t.Fatalf("handle in mode %v has no local fd", h.IOMode())
	}
	var out []byte
	buf := make([]byte, 64<<10)
	for off := int64(0); ; {
		n, err := preadFd(fd, buf, off)
		out = append(out, buf[:n]...)
		off += int64(n)
		if n == 0 || err != nil {
			return string(out)
		}
	}
}

// preadFd reads the spool's descriptor without taking it over (an
// os.File would close it when collected).
func preadFd(fd int, p []byte, off int64) (int, error) {
	return syscall.Pread(fd, p, off)
}

func openMode(t *testing.T, fs *FS, n *Node, flags int) *Handle {
	t.Helper()
	h, err := fs.Open(context.Background(), n, flags)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Which opens read the spool file directly, and which keep the kernel's
// rules (no page-cached open beside a local one; every open beside a
// local one names the same file).
func TestLocalReadsChoice(t *testing.T) {
	ctx := context.Background()
	t.Run("off", func(t *testing.T) {
		fs := memFS(t, memstore.New("b"), t.TempDir(), Options{})
		n, w, err := fs.Create(ctx, fs.Root(), "a.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, w, "line\n")
		r := openMode(t, fs, n, os.O_RDONLY)
		if w.IOMode() != IOCached || r.IOMode() != IOCached {
			t.Fatalf("local reads off: writer %v, reader %v, want both cached", w.IOMode(), r.IOMode())
		}
		r.Release()
		w.Release()
	})
	t.Run("on", func(t *testing.T) {
		fs := memFS(t, memstore.New("b"), t.TempDir(), Options{AllowOverwrite: true})
		fs.SetLocalReads(true, "")
		n, w, err := fs.Create(ctx, fs.Root(), "a.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if w.IOMode() != IODirect {
			t.Fatalf("write-only writer: %v, want IODirect", w.IOMode())
		}
		mustWrite(t, w, "one\n")
		r := openMode(t, fs, n, os.O_RDONLY)
		if r.IOMode() != IOLocal {
			t.Fatalf("reader beside a direct writer: %v, want IOLocal", r.IOMode())
		}
		if got := readFd(t, r); got != "one\n" {
			t.Fatalf("local read: %q", got)
		}
		mustWrite(t, w, "two\n")
		if got := readFd(t, r); got != "one\ntwo\n" {
			t.Fatalf("local read after a write: %q", got)
		}
		rw := openMode(t, fs, n, os.O_RDWR)
		if rw.IOMode() != IOLocalWriter {
			t.Fatalf("read-write open beside a local reader: %v, want IOLocalWriter", rw.IOMode())
		}
		r2 := openMode(t, fs, n, os.O_RDONLY)
		fd1, _ := r.LocalFd()
		fd2, ok := r2.LocalFd()
		if r2.IOMode() != IOLocal || !ok || fd1 != fd2 {
			t.Fatalf("second reader: %v fd %d (ok %v), want IOLocal on fd %d", r2.IOMode(), fd2, ok, fd1)
		}
		if fs.LocalOpens() != 2 {
			t.Fatalf("LocalOpens = %d, want 2", fs.LocalOpens())
		}
		r.Release()
		r2.Release()
		rw.Release()
		// No local open left: a read-write open is page-cached again, and
		// a reader beside it cannot read locally.
		rw = openMode(t, fs, n, os.O_RDWR)
		r = openMode(t, fs, n, os.O_RDONLY)
		if rw.IOMode() != IOCached || r.IOMode() != IOCached {
			t.Fatalf("beside a cached read-write open: %v and reader %v, want both cached", rw.IOMode(), r.IOMode())
		}
		r.Release()
		rw.Release()
		w.Release()
	})
	t.Run("unsettled", func(t *testing.T) {
		// A direct open the kernel may not have completed yet (nothing
		// sent on it) keeps a reader from reading locally.
		fs := memFS(t, memstore.New("b"), t.TempDir(), Options{})
		fs.SetLocalReads(true, "")
		n, w, err := fs.Create(ctx, fs.Root(), "a.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		r := openMode(t, fs, n, os.O_RDONLY)
		if r.IOMode() != IOCached {
			t.Fatalf("reader beside a writer with nothing sent yet: %v, want cached", r.IOMode())
		}
		r.Release()
		mustWrite(t, w, "x\n")
		r = openMode(t, fs, n, os.O_RDONLY)
		if r.IOMode() != IOLocal {
			t.Fatalf("reader beside a writer that wrote: %v, want IOLocal", r.IOMode())
		}
		r.Release()
		w2 := openMode(t, fs, n, os.O_WRONLY|os.O_APPEND)
		if err := w2.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		r = openMode(t, fs, n, os.O_RDONLY)
		if r.IOMode() != IOLocal {
			t.Fatalf("reader beside a writer that was flushed: %v, want IOLocal", r.IOMode())
		}
		r.Release()
		w2.Release()
		w.Release()
	})
	t.Run("not local", func(t *testing.T) {
		mem := memstore.New("b")
		mem.PutObject("s3.txt", []byte("in S3\n"))
		fs := memFS(t, mem, t.TempDir(), Options{})
		fs.SetLocalReads(true, "")
		n, err := fs.Lookup(ctx, fs.Root(), "s3.txt")
		if err != nil {
			t.Fatal(err)
		}
		r := openMode(t, fs, n, os.O_RDONLY)
		if r.IOMode() != IOCached {
			t.Fatalf("reader of an object in S3: %v, want cached", r.IOMode())
		}
		r.Release()
		// Appending to it: the spool file holds only the new bytes.
		w := openMode(t, fs, n, os.O_WRONLY|os.O_APPEND)
		mustWrite(t, w, "more\n")
		r = openMode(t, fs, n, os.O_RDONLY)
		if r.IOMode() != IOCached {
			t.Fatalf("reader of an appended object: %v, want cached", r.IOMode())
		}
		r.Release()
		w.Release()
	})
	t.Run("failed", func(t *testing.T) {
		fs := memFS(t, memstore.New("b"), t.TempDir(), Options{})
		fs.SetLocalReads(true, "")
		n, w, err := fs.Create(ctx, fs.Root(), "a.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		r := openMode(t, fs, n, os.O_RDONLY)
		r.LocalFailed("test")
		if r.IOMode() != IOCached || fs.LocalReads() || fs.LocalOpens() != 0 {
			t.Fatalf("after LocalFailed: mode %v, on %v, opens %d", r.IOMode(), fs.LocalReads(), fs.LocalOpens())
		}
		if n.spoolFile().Pinned() {
			t.Fatal("still pinned after LocalFailed")
		}
		r.Release()
		w.Release()
	})
}

// While a reader reads the spool file directly, the file keeps its layout:
// a publication does not punch the published bytes, ftruncate(0) cuts the
// same data file (the reader sees the cut and what follows, never the old
// bytes), and once the reader is gone the published bytes are freed as
// before.
func TestLocalReadsFreeze(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	fs := memFS(t, mem, t.TempDir(), Options{AllowOverwrite: true})
	fs.SetLocalReads(true, "")
	n, w, err := fs.Create(ctx, fs.Root(), "big.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	line := bytes.Repeat([]byte("x"), 1023)
	line = append(line, '\n')
	big := bytes.Repeat(line, int(s3store.MinPartSize/1024)+16)
	if _, err := w.Write(ctx, big, 0); err != nil {
		t.Fatal(err)
	}
	r := openMode(t, fs, n, os.O_RDONLY)
	if r.IOMode() != IOLocal {
		t.Fatalf("reader: %v, want IOLocal", r.IOMode())
	}
	if err := w.Fsync(ctx); err != nil {
		t.Fatal(err)
	}
	f := n.spoolFile()
	if j := f.Journal(); j.BaseSize != int64(len(big)) || j.LocalStart != 0 {
		t.Fatalf("published while read locally: base %d local_start %d, want base %d, local_start 0", j.BaseSize, j.LocalStart, len(big))
	}
	if got := readFd(t, r); got != string(big) {
		t.Fatalf("local read after publication: %d bytes, want %d", len(got), len(big))
	}
	size := int64(0)
	if err := fs.Setattr(ctx, n, w, SetAttr{Size: &size}); err != nil {
		t.Fatal(err)
	}
	if n.spoolFile() != f {
		t.Fatal("ftruncate(0) replaced the spool file a reader reads directly")
	}
	if got := readFd(t, r); got != "" {
		t.Fatalf("local read after ftruncate(0): %d bytes, want none", len(got))
	}
	mustWrite(t, w, "after\n")
	if got := readFd(t, r); got != "after\n" {
		t.Fatalf("local read after ftruncate(0) and a write: %q", got)
	}
	r.Release()
	// Published again, nobody reading locally: the bytes are freed.
	if _, err := w.Write(ctx, big, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Fsync(ctx); err != nil {
		t.Fatal(err)
	}
	if j := n.spoolFile().Journal(); j.LocalStart == 0 {
		t.Fatalf("published with no local reader: local_start still 0 (%+v)", j)
	}
	r = openMode(t, fs, n, os.O_RDONLY)
	if r.IOMode() != IOCached {
		t.Fatalf("reader of a file whose published part was freed: %v, want cached", r.IOMode())
	}
	r.Release()
	w.Release()
	want := "after\n" + string(big)
	got, _, _ := mem.Object("big.log")
	if string(got) != want {
		t.Fatalf("object: %d bytes, want %d", len(got), len(want))
	}
}

// Another host appends while a reader reads the spool file directly: the
// rebase that would move our unpublished bytes waits (the publication
// fails and stays in the spool: the reader's view cannot shift under it),
// and once the reader is gone it goes through with both hosts' lines.
func TestLocalReadsRebaseWaits(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	fs := memFS(t, mem, t.TempDir(), Options{})
	fs.SetLocalReads(true, "")
	n, w, err := fs.Create(ctx, fs.Root(), "two.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, "ours 1\n")
	if err := w.Fsync(ctx); err != nil {
		t.Fatal(err)
	}
	r := openMode(t, fs, n, os.O_RDONLY)
	if r.IOMode() != IOLocal {
		t.Fatalf("reader: %v, want IOLocal", r.IOMode())
	}
	mem.PutObject("two.log", []byte("ours 1\ntheirs\n"))
	mustWrite(t, w, "ours 2\n")
	if err := w.Fsync(ctx); err == nil {
		t.Fatal("fsync rebased under a reader of the spool file")
	}
	if got := readFd(t, r); got != "ours 1\nours 2\n" {
		t.Fatalf("local read after the refused rebase: %q", got)
	}
	r.Release()
	if err := w.Fsync(ctx); err != nil {
		t.Fatalf("fsync once the reader is gone: %v", err)
	}
	w.Release()
	if got, _, _ := mem.Object("two.log"); string(got) != "ours 1\ntheirs\nours 2\n" {
		t.Fatalf("object: %q", got)
	}
}
