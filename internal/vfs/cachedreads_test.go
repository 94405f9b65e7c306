package vfs

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"

	"github.com/s3mount/s3mount/internal/datacache"
	"github.com/s3mount/s3mount/internal/readahead"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
	"github.com/s3mount/s3mount/internal/testenv"
)

// cacheFS is a mount of mem with a data cache of 64 KiB blocks, whose
// reads of wholly cached objects may name the cache's files (as the
// adapter allows when the kernel does).
func cacheFS(t *testing.T, mem *memstore.Store, o Options) (*FS, *datacache.Cache) {
	t.Helper()
	dc, err := datacache.Open(datacache.Options{Dir: t.TempDir(), BlockSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	sp, recovered, err := spool.Open(t.TempDir(), "test/", spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pool := readahead.NewPool(mem, readahead.PoolOptions{PartSize: 1 << 20, FirstRequest: 256 << 10, MemoryTarget: 32 << 20, MaxThreads: 4, Cache: dc})
	o.Cache = dc
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	fs := New(mem, sp, recovered, pool, o)
	t.Cleanup(func() { fs.Shutdown(context.Background()) })
	fs.SetLocalReads(true, "")
	fs.SetCacheReads(true, "")
	return fs, dc
}

// readHandle reads h through this package, as the kernel does for an
// open that is not read locally.
func readHandle(t *testing.T, h *Handle) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, 200<<10)
	for {
		n, err := h.Read(context.Background(), buf, int64(len(out)))
		out = append(out, buf[:n]...)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return out
		}
	}
}

func randObject(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

// A read-only open of an object whose bytes are all in the data cache
// names the cache's file (the kernel reads it); opens beside it name it
// too, and read it only while it is the object's current version; one
// that is not wholly cached goes through this package as before.
func TestCachedReadsChoice(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	v1 := randObject(1, 5*64<<10+1234)
	mem.PutObject("data.bin", v1)
	fs, dc := cacheFS(t, mem, Options{ReadOnly: true})
	if !fs.CacheReads() {
		t.Fatal("cache reads off on a read-only mount")
	}
	n, err := fs.Lookup(ctx, fs.Root(), "data.bin")
	if err != nil {
		t.Fatal(err)
	}
	r := openMode(t, fs, n, os.O_RDONLY)
	if r.IOMode() != IOCached {
		t.Fatalf("first open of an uncached object: %v, want IOCached", r.IOMode())
	}
	if got := readHandle(t, r); !bytes.Equal(got, v1) {
		t.Fatal("first read: wrong bytes")
	}
	r.Release()
	if st := dc.Stats(); st.Blocks != 6 {
		t.Fatalf("after a whole read: %+v, want 6 blocks", st)
	}

	r1 := openMode(t, fs, n, os.O_RDONLY)
	r2 := openMode(t, fs, n, os.O_RDONLY)
	fd1, ok1 := r1.LocalFd()
	fd2, ok2 := r2.LocalFd()
	if r1.IOMode() != IOLocal || r2.IOMode() != IOLocal || !ok1 || !ok2 || fd1 != fd2 {
		t.Fatalf("opens of a cached object: %v/%v fds %d/%d, want IOLocal on one file", r1.IOMode(), r2.IOMode(), fd1, fd2)
	}
	if got := readFd(t, r1); got != string(v1) {
		t.Fatal("the cache file is not the object's bytes")
	}
	if fs.CacheOpens() != 2 || fs.LocalOpens() != 2 || dc.Stats().Pinned != 1 {
		t.Fatalf("CacheOpens %d LocalOpens %d, stats %+v", fs.CacheOpens(), fs.LocalOpens(), dc.Stats())
	}

	// Another writer replaces the object: an open that sees the new ETag
	// must name the same file (the kernel requires it) but not read it.
	v2 := randObject(2, 3*64<<10)
	mem.PutObject("data.bin", v2)
	r3 := openMode(t, fs, n, os.O_RDONLY)
	if fd3, _ := r3.LocalFd(); r3.IOMode() != IOLocalWriter || fd3 != fd1 {
		t.Fatalf("open of the replaced object beside cached readers: %v fd %d, want IOLocalWriter on %d", r3.IOMode(), fd3, fd1)
	}
	if got := readHandle(t, r3); !bytes.Equal(got, v2) {
		t.Fatal("the replaced object's read: wrong bytes")
	}
	if got := readFd(t, r1); got != string(v1) {
		t.Fatal("the pinned file changed under its readers")
	}
	r1.Release()
	r2.Release()
	r3.Release()
	if dc.Stats().Pinned != 0 {
		t.Fatalf("still pinned: %+v", dc.Stats())
	}
	// The new version, cached as r3 read it, is read from its own cache
	// file; the old one is never named again.
	r = openMode(t, fs, n, os.O_RDONLY)
	if r.IOMode() != IOLocal || readFd(t, r) != string(v2) || dc.Stats().Pinned != 1 {
		t.Fatalf("open of the cached new version: %v, %+v", r.IOMode(), dc.Stats())
	}
	// A page-cached open beside it is impossible (the kernel refuses it):
	// LocalFailed puts the handle back to the daemon's path and stops
	// cache reads, and the pin goes with the last open.
	r.LocalFailed("test")
	if r.IOMode() != IOCached || fs.CacheReads() || !fs.LocalReads() || dc.Stats().Pinned != 0 {
		t.Fatalf("after LocalFailed: %v, cache reads %v, local reads %v, %+v", r.IOMode(), fs.CacheReads(), fs.LocalReads(), dc.Stats())
	}
	r.Release()
}

// A write made while the kernel reads an object's cache file for an open
// (a read-write mount) takes that file into the spool as the data file
// of the write: the readers' descriptor reads every write at once
// (appended, cut, edited in place), later opens name the same file
// through the spool, the cache forgets it, the pins end with the last
// open, and S3 gets the file the readers saw.
func TestCachedReadsTakenByWriter(t *testing.T) {
	ctx := context.Background()
	size := 3*64<<10 + 77
	cut := int64(1000)
	for _, c := range []struct {
		name  string
		write func(t *testing.T, fs *FS, n *Node) *Handle
		want  func(v []byte) []byte
	}{
		{"append", func(t *testing.T, fs *FS, n *Node) *Handle {
			w := openMode(t, fs, n, os.O_WRONLY|os.O_APPEND)
			writeAt(t, w, []byte("tail\n"), int64(size))
			return w
		}, func(v []byte) []byte { return append(v, "tail\n"...) }},
		{"O_TRUNC", func(t *testing.T, fs *FS, n *Node) *Handle {
			w := openMode(t, fs, n, os.O_WRONLY|os.O_TRUNC)
			writeAt(t, w, []byte("new\n"), 0)
			return w
		}, func([]byte) []byte { return []byte("new\n") }},
		{"truncate", func(t *testing.T, fs *FS, n *Node) *Handle {
			if err := fs.Setattr(ctx, n, nil, SetAttr{Size: &cut}); err != nil {
				t.Fatal(err)
			}
			return nil
		}, func(v []byte) []byte { return v[:cut] }},
		{"edit", func(t *testing.T, fs *FS, n *Node) *Handle {
			w := openMode(t, fs, n, os.O_RDWR)
			writeAt(t, w, []byte("EDIT"), 100)
			return w
		}, func(v []byte) []byte { v = bytes.Clone(v); copy(v[100:], "EDIT"); return v }},
		{"rename, append", func(t *testing.T, fs *FS, n *Node) *Handle {
			// The copy under the new name has another ETag (memstore,
			// as S3 for a multipart object) and the same bytes.
			if err := fs.Rename(ctx, fs.Root(), "data.bin", fs.Root(), "moved.bin", 0); err != nil {
				t.Fatal(err)
			}
			w := openMode(t, fs, n, os.O_WRONLY|os.O_APPEND)
			writeAt(t, w, []byte("tail\n"), int64(size))
			return w
		}, func(v []byte) []byte { return append(v, "tail\n"...) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := memstore.New("b")
			v := randObject(4, size)
			mem.PutObject("data.bin", v)
			fs, dc := cacheFS(t, mem, Options{AllowOverwrite: true, AllowDelete: true})
			if !fs.CacheReads() {
				t.Fatal("cache reads off on a read-write mount with the cache on the spool's file system")
			}
			n, r1 := cachedOpen(t, fs, "data.bin")
			if r1.IOMode() != IOLocal || readFd(t, r1) != string(v) {
				t.Fatalf("open of a cached object: %v", r1.IOMode())
			}
			w := c.write(t, fs, n)
			want := string(c.want(v))
			if got := readFd(t, r1); got != want {
				t.Fatalf("the cache file's reader after the write: %d bytes, want %d (right %v)", len(got), len(want), got == want)
			}
			if st := dc.Stats(); st.Pinned != 0 || st.Blocks != 0 || st.Bytes != 0 {
				t.Fatalf("the taken file is still the cache's: %+v", st)
			}
			fd1, _ := r1.LocalFd()
			r2 := openMode(t, fs, n, os.O_RDONLY)
			fd2, _ := r2.LocalFd()
			if r2.IOMode() != IOLocal || !sameFile(t, fd1, fd2) || readFd(t, r2) != want {
				t.Fatalf("a reader opened after the write: %v, same file %v", r2.IOMode(), sameFile(t, fd1, fd2))
			}
			if w != nil {
				if fdw, ok := w.LocalFd(); w.IOMode() != IOLocalWriter || !ok || !sameFile(t, fd1, fdw) || w.pinned == nil {
					t.Fatalf("the writer: %v, names the file %v", w.IOMode(), ok && sameFile(t, fd1, fdw))
				}
				if err := w.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				w.Release()
			}
			r1.Release()
			n.mu.Lock()
			f := n.file
			n.mu.Unlock()
			if f == nil || !f.Pinned() {
				t.Fatal("the spool file not pinned while a reader names it")
			}
			r2.Release()
			if f.Pinned() {
				t.Fatal("the spool file still pinned after its last reader")
			}
			if err := n.publish(ctx, true); err != nil {
				t.Fatal(err)
			}
			if got, _, _ := mem.Object(n.Path()); string(got) != want {
				t.Fatalf("S3 holds %d bytes, want %d", len(got), len(want))
			}
		})
	}
}

// The object changed in S3 since the readers' cache file was pinned: a
// write starts from the new version and does not take the old file (its
// readers keep the version they opened); on a cache beside the spool's
// file system the file cannot move, so a read-write mount reads cached
// objects through this package.
func TestCachedReadsNotTaken(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	v1 := randObject(5, 2*64<<10)
	mem.PutObject("data.bin", v1)
	fs, dc := cacheFS(t, mem, Options{MetadataTTL: 1})
	n, r1 := cachedOpen(t, fs, "data.bin")
	if r1.IOMode() != IOLocal {
		t.Fatalf("open of a cached object: %v", r1.IOMode())
	}
	v2 := randObject(6, 64<<10)
	mem.PutObject("data.bin", v2)
	r := openMode(t, fs, n, os.O_RDONLY) // learns the new ETag
	readHandle(t, r)
	r.Release()
	w := openMode(t, fs, n, os.O_WRONLY|os.O_APPEND)
	writeAt(t, w, []byte("tail\n"), int64(len(v2)))
	if got := readFd(t, r1); got != string(v1) || dc.Stats().Pinned != 1 {
		t.Fatalf("the old version's reader: right %v, %+v", got == string(v1), dc.Stats())
	}
	if w.IOMode() != IOLocalWriter {
		t.Fatalf("the writer beside it: %v", w.IOMode())
	}
	w.Release()
	r1.Release()
	if err := n.publish(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := mem.Object("data.bin"); string(got) != string(v2)+"tail\n" {
		t.Fatalf("S3 holds %d bytes", len(got))
	}

	// The cache on another file system than the spool: off.
	other, err := datacache.Open(datacache.Options{Dir: testenv.OtherFSDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	sp, _, err := spool.Open(t.TempDir(), "test/", spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sameFileSystem(other.Dir(), sp.Dir()) {
		t.Fatalf("%s and %s are one file system", other.Dir(), sp.Dir())
	}
	fs2 := New(mem, sp, nil, readahead.NewPool(mem, readahead.PoolOptions{PartSize: 1 << 20, FirstRequest: 256 << 10, MemoryTarget: 32 << 20, MaxThreads: 4, Cache: other}),
		Options{Cache: other, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer fs2.Shutdown(ctx)
	fs2.SetCacheReads(true, "")
	if fs2.CacheReads() {
		t.Fatal("cache reads on a read-write mount whose cache is not on the spool's file system")
	}
}

// cachedOpen reads name whole (so it is cached) and opens it again.
func cachedOpen(t *testing.T, fs *FS, name string) (*Node, *Handle) {
	t.Helper()
	n, err := fs.Lookup(context.Background(), fs.Root(), name)
	if err != nil {
		t.Fatal(err)
	}
	r := openMode(t, fs, n, os.O_RDONLY)
	readHandle(t, r)
	r.Release()
	return n, openMode(t, fs, n, os.O_RDONLY)
}

// writeAt writes through h as the kernel does.
func writeAt(t *testing.T, h *Handle, p []byte, off int64) {
	t.Helper()
	if _, err := h.Write(context.Background(), p, off); err != nil {
		t.Fatal(err)
	}
}

// sameFile: two descriptors of one file.
func sameFile(t *testing.T, a, b int) bool {
	t.Helper()
	var sa, sb syscall.Stat_t
	if syscall.Fstat(a, &sa) != nil || syscall.Fstat(b, &sb) != nil {
		t.Fatal("fstat")
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// An object deleted while the kernel reads its cache file for an open:
// the file moves into the spool (its bytes, which the open keeps reading,
// need no GET), nothing is published from it, and it goes with the open.
func TestCachedReadsUnlinkedWhileRead(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	v := randObject(7, 2*64<<10+3)
	mem.PutObject("data.bin", v)
	fs, dc := cacheFS(t, mem, Options{AllowDelete: true})
	n, r := cachedOpen(t, fs, "data.bin")
	if r.IOMode() != IOLocal {
		t.Fatalf("open of a cached object: %v", r.IOMode())
	}
	if err := fs.Unlink(ctx, fs.Root(), "data.bin"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := mem.Object("data.bin"); ok {
		t.Fatal("the object is still in S3")
	}
	if got := readFd(t, r); got != string(v) || dc.Stats().Pinned != 0 {
		t.Fatalf("the reader of the deleted object: right %v, %+v", got == string(v), dc.Stats())
	}
	n.mu.Lock()
	f := n.file
	n.mu.Unlock()
	if f == nil || !f.Pinned() {
		t.Fatal("the deleted object's bytes are not the spool's, pinned")
	}
	r.Release()
	if fs.sp.Files() != 0 {
		t.Fatalf("%d spool files once the deleted file's last open closed", fs.sp.Files())
	}
	if keys := mem.Keys(); len(keys) != 0 {
		t.Fatalf("S3 holds %v after the delete", keys)
	}
}
