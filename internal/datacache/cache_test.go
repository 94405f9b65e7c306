package datacache

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const bs = 64 << 10

func open(t *testing.T, dir string, max int64) *Cache {
	t.Helper()
	c, err := Open(Options{Dir: dir, MaxSize: max, BlockSize: bs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func block(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

// files lists the block files on disk.
func files(t *testing.T, c *Cache) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(c.Dir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != ".lock" {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestHitMiss(t *testing.T) {
	root := filepath.Join(t.TempDir(), "cache")
	c := open(t, root, 0)
	if fi, err := os.Stat(root); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir: %v, %v", fi, err)
	}
	dst := make([]byte, bs)
	if c.Get("k", `"e1"`, 0, dst) || c.Has("k", `"e1"`, 0) {
		t.Fatal("hit in an empty cache")
	}
	b0, last := block(1, bs), block(2, 1000)
	c.Put("k", `"e1"`, 0, b0)
	c.Put("k", `"e1"`, 3, last) // an object's short last block
	if !c.Has("k", `"e1"`, 0) || !c.Get("k", `"e1"`, 0, dst) || !bytes.Equal(dst, b0) {
		t.Fatal("block 0 not served back")
	}
	if !c.Get("k", `"e1"`, 3, dst[:1000]) || !bytes.Equal(dst[:1000], last) {
		t.Fatal("short block not served back")
	}
	// Other block, other key, other ETag, other length: misses.
	for _, m := range []struct {
		key, etag string
		block     int64
		n         int
	}{{"k", `"e1"`, 1, bs}, {"k2", `"e1"`, 0, bs}, {"k", `"e2"`, 0, bs}, {"k", `"e1"`, 3, bs}} {
		if c.Get(m.key, m.etag, m.block, dst[:m.n]) {
			t.Errorf("hit for %+v", m)
		}
	}
	st := c.Stats()
	if st.Hits != 2 || st.Blocks != 2 || st.Bytes != diskSize(bs)+diskSize(1000) {
		t.Fatalf("stats %+v", st)
	}
}

// A new ETag names different blocks: the old version's bytes are never
// served for it, even for the same key and index.
func TestStaleETagNeverServed(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	v1, v2 := block(3, bs), block(4, bs)
	c.Put("log", `"v1"`, 0, v1)
	dst := make([]byte, bs)
	if c.Get("log", `"v2"`, 0, dst) {
		t.Fatal("version 1's block served for version 2")
	}
	c.Put("log", `"v2"`, 0, v2)
	if !c.Get("log", `"v2"`, 0, dst) || !bytes.Equal(dst, v2) {
		t.Fatal("version 2 not served")
	}
	if !c.Get("log", `"v1"`, 0, dst) || !bytes.Equal(dst, v1) {
		t.Fatal("version 1 lost its own block")
	}
}

func TestEvictionLRU(t *testing.T) {
	max := 3 * diskSize(bs)
	c := open(t, t.TempDir(), max)
	dst := make([]byte, bs)
	for i := range int64(3) {
		c.Put("k", "e", i, block(uint64(i), bs))
	}
	c.Get("k", "e", 0, dst) // 0 is now the most recent; 1 the least
	for i := int64(3); i < 6; i++ {
		c.Put("k", "e", i, block(uint64(i), bs))
		if st := c.Stats(); st.Bytes > max {
			t.Fatalf("after block %d: %d bytes, max %d", i, st.Bytes, max)
		}
		if n := len(files(t, c)); n > 3 {
			t.Fatalf("after block %d: %d files on disk", i, n)
		}
	}
	// Put 3 evicted 1, put 4 evicted 2, put 5 evicted 0.
	for i, want := range []bool{false, false, false, true, true, true} {
		if got := c.Get("k", "e", int64(i), dst); got != want {
			t.Errorf("block %d cached = %v, want %v", i, got, want)
		} else if got && !bytes.Equal(dst, block(uint64(i), bs)) {
			t.Errorf("block %d: wrong bytes", i)
		}
	}
	if ev := c.Stats().Evictions; ev != 3 {
		t.Fatalf("%d evictions, want 3", ev)
	}
	// A block larger than the whole cache is not stored.
	small := open(t, t.TempDir(), diskSize(bs)/2)
	small.Put("k", "e", 0, block(9, bs))
	if small.Has("k", "e", 0) {
		t.Fatal("block larger than the cache stored")
	}
}

func TestCorruptBlockDiscarded(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	dst := make([]byte, bs)
	damage := map[string]func(p string) error{
		"flipped byte": func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[headerSize+bs/2] ^= 0x40
			return os.WriteFile(p, b, 0o600)
		},
		"cut short":   func(p string) error { return os.Truncate(p, headerSize+bs-1) },
		"header only": func(p string) error { return os.Truncate(p, headerSize) },
		"wrong place": func(p string) error {
			// Another block's intact file under this block's name.
			other := block(7, bs)
			return os.WriteFile(p, append(header(blockID("x", "e", 0), other), other...), 0o600)
		},
	}
	for what, f := range damage {
		t.Run(strings.ReplaceAll(what, " ", "_"), func(t *testing.T) {
			data := block(5, bs)
			c.Put("k", "e", 0, data)
			fs := files(t, c)
			if len(fs) != 1 {
				t.Fatalf("%d files", len(fs))
			}
			if err := f(fs[0]); err != nil {
				t.Fatal(err)
			}
			before := c.Stats().Corrupt
			if c.Get("k", "e", 0, dst) {
				t.Fatal("damaged block served")
			}
			if c.Stats().Corrupt != before+1 || c.Has("k", "e", 0) || len(files(t, c)) != 0 {
				t.Fatalf("damaged block kept: %+v, %d files", c.Stats(), len(files(t, c)))
			}
			// Refilled, it is served again.
			c.Put("k", "e", 0, data)
			if !c.Get("k", "e", 0, dst) || !bytes.Equal(dst, data) {
				t.Fatal("refilled block not served")
			}
			c.drop(blockName(blockID("k", "e", 0)))
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	c := open(t, t.TempDir(), 8*diskSize(bs)) // small: eviction runs all along
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			dst := make([]byte, bs)
			for range 200 {
				i := rng.Int64N(16)
				if rng.IntN(2) == 0 {
					c.Put("k", "e", i, block(uint64(i), bs))
				} else if c.Get("k", "e", i, dst) && !bytes.Equal(dst, block(uint64(i), bs)) {
					t.Errorf("block %d: wrong bytes", i)
					return
				}
			}
		})
	}
	wg.Wait()
	st := c.Stats()
	if st.Bytes > 8*diskSize(bs) || st.Bytes != int64(st.Blocks)*diskSize(bs) || st.Corrupt != 0 {
		t.Fatalf("stats after concurrent use: %+v", st)
	}
	if n := len(files(t, c)); n != st.Blocks {
		t.Fatalf("%d files on disk, %d indexed", n, st.Blocks)
	}
}

// Each mount has its own subdirectory, removed at Close; those of dead
// mounts go at the next Open, those of live ones stay.
func TestSubdirectories(t *testing.T) {
	root := t.TempDir()
	dead := filepath.Join(root, subdirPrefix+"dead")
	os.MkdirAll(dead, 0o700)
	os.WriteFile(filepath.Join(dead, ".lock"), nil, 0o600)
	os.WriteFile(filepath.Join(dead, "blk"), []byte("x"), 0o600)
	other := filepath.Join(root, "not-ours")
	os.MkdirAll(other, 0o700)
	live := open(t, root, 0)
	c, err := Open(Options{Dir: root})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Fatalf("dead mount's subdirectory kept: %v", err)
	}
	for _, d := range []string{live.Dir(), other, c.Dir()} {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
	}
	if live.Dir() == c.Dir() {
		t.Fatal("two mounts share a subdirectory")
	}
	c.Put("k", "e", 0, []byte("abc"))
	c.Close()
	if _, err := os.Stat(c.Dir()); !os.IsNotExist(err) {
		t.Fatalf("subdirectory kept after Close: %v", err)
	}
	if _, err := os.Stat(live.Dir()); err != nil {
		t.Fatal(fmt.Errorf("live mount's subdirectory removed: %w", err))
	}
}
