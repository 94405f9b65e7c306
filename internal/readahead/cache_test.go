package readahead

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/s3mount/s3mount/internal/datacache"
)

var _ Cache = (*datacache.Cache)(nil)

// cachedPool is a pool with options o and a data cache (1 MiB blocks).
func cachedPool(t *testing.T, f *fixture, o PoolOptions) (*Pool, *datacache.Cache) {
	t.Helper()
	dc, err := datacache.Open(datacache.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	o.Cache = dc
	return NewPool(f.st, o), dc
}

// With a cache, a second read of an object costs no GET; after the object
// is replaced the new bytes are read; a damaged block is fetched again.
func TestCachedReads(t *testing.T) {
	f := newFixture(t)
	pool, dc := cachedPool(t, f, smallOpts())
	v1 := randBytes(61, 5*mib+12345)
	etag1 := f.put(t, "cached", v1)

	read := func(etag string, size int64, chunk int) ([]byte, int64) {
		before := f.gets()
		r := pool.Open("cached", etag, size)
		defer r.Close()
		return readSeq(t, r, chunk), f.gets() - before
	}
	got, gets := read(etag1, int64(len(v1)), 128<<10)
	sameBytes(t, "first read", got, v1)
	if gets == 0 {
		t.Fatal("first read did no GET")
	}
	if n := dc.Stats().Blocks; n != 6 {
		t.Fatalf("%d blocks cached after a whole read, want 6", n)
	}
	got, gets = read(etag1, int64(len(v1)), 300<<10)
	sameBytes(t, "second read", got, v1)
	if gets != 0 {
		t.Fatalf("second read did %d GETs", gets)
	}
	// Random reads are served from the cache too, block edges and all.
	r := pool.Open("cached", etag1, int64(len(v1)))
	before := f.gets()
	for _, off := range []int64{3*mib - 10, 17, 5 * mib, int64(len(v1)) - 5, mib} {
		if err := checkRead(context.Background(), r, v1, make([]byte, 70000), off); err != nil {
			t.Fatalf("at %d: %v", off, err)
		}
	}
	r.Close()
	if gets := f.gets() - before; gets != 0 {
		t.Fatalf("random reads of a cached object did %d GETs", gets)
	}

	// Damage one block on disk: it is fetched again (one GET), bytes right.
	var blocks []string
	filepath.WalkDir(dc.Dir(), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != ".lock" {
			blocks = append(blocks, p)
		}
		return nil
	})
	b, err := os.ReadFile(blocks[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	os.WriteFile(blocks[0], b, 0o600)
	got, gets = read(etag1, int64(len(v1)), 128<<10)
	sameBytes(t, "read with a damaged block", got, v1)
	if gets != 1 || dc.Stats().Corrupt != 1 {
		t.Fatalf("damaged block: %d GETs, stats %+v", gets, dc.Stats())
	}

	// Replaced: the new version's bytes, never a cached block of the old.
	v2 := randBytes(62, 5*mib+12345)
	etag2 := f.put(t, "cached", v2)
	got, gets = read(etag2, int64(len(v2)), 128<<10)
	sameBytes(t, "new version", got, v2)
	if gets == 0 {
		t.Fatal("new version read without a GET")
	}
	got, gets = read(etag2, int64(len(v2)), 128<<10)
	sameBytes(t, "new version again", got, v2)
	if gets != 0 {
		t.Fatalf("second read of the new version did %d GETs", gets)
	}
}

// Reads fetched directly (no part: here the budget never allows one) use
// the cache too: whole blocks they cover are stored and served from it.
func TestCachedDirectReads(t *testing.T) {
	f := newFixture(t)
	o := smallOpts()
	o.MemoryTarget = 1 // no part fits: every read is fetched directly
	pool, dc := cachedPool(t, f, o)
	v := randBytes(63, 5*mib+12345)
	etag := f.put(t, "direct", v)
	for i, wantGets := range []bool{true, false} {
		before := f.gets()
		r := pool.Open("direct", etag, int64(len(v)))
		sameBytes(t, "read", readSeq(t, r, mib), v)
		r.Close()
		if gets := f.gets() - before; (gets > 0) != wantGets {
			t.Fatalf("read %d: %d GETs", i, gets)
		}
		if n := dc.Stats().Blocks; n != 6 {
			t.Fatalf("read %d: %d blocks cached, want 6", i, n)
		}
	}
	if p := pool.peak.Load(); p > 1 {
		t.Fatalf("a part was charged (peak %d): the reads were not direct", p)
	}
}
