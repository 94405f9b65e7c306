package vfs

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/s3mount/s3mount/internal/datacache"
	"github.com/s3mount/s3mount/internal/readahead"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
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

// Only a read-only mount reads cache files directly: on another, a reader
// of the cache file would miss this host's writes.
func TestCachedReadsReadOnlyOnly(t *testing.T) {
	mem := memstore.New("b")
	mem.PutObject("data.bin", randObject(3, 1000))
	fs, _ := cacheFS(t, mem, Options{})
	if fs.CacheReads() {
		t.Fatal("cache reads on a read-write mount")
	}
	n, err := fs.Lookup(context.Background(), fs.Root(), "data.bin")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r := openMode(t, fs, n, os.O_RDONLY)
		readHandle(t, r)
		if r.IOMode() != IOCached {
			t.Fatalf("open on a read-write mount: %v", r.IOMode())
		}
		r.Release()
	}
}
