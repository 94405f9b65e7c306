package datacache

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
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

// files lists the object files on disk.
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

// blocksOnDisk counts the blocks whose bytes the object files hold (the
// others are holes: never written, or punched out by an eviction).
func blocksOnDisk(t *testing.T, c *Cache) int {
	t.Helper()
	n := 0
	for _, p := range files(t, c) {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		for off := int64(0); off < st.Size(); off += c.bs {
			data, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
			if err == nil && data < min(off+c.bs, st.Size()) {
				n++
			}
		}
		f.Close()
	}
	return n
}

// blockAt is where block idx of the only object file is, to damage it.
func blockAt(t *testing.T, c *Cache, idx int64) (string, int64) {
	t.Helper()
	fs := files(t, c)
	if len(fs) != 1 {
		t.Fatalf("%d object files", len(fs))
	}
	return fs[0], idx * c.bs
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
		if n := blocksOnDisk(t, c); n > 3 {
			t.Fatalf("after block %d: %d blocks on disk", i, n)
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
	damage := map[string]func(p string, off int64) error{
		"flipped byte": func(p string, off int64) error {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			b := make([]byte, 1)
			f.ReadAt(b, off+bs/2)
			b[0] ^= 0x40
			_, err = f.WriteAt(b, off+bs/2)
			return err
		},
		"cut short": func(p string, off int64) error { return os.Truncate(p, off+bs-1) },
		"emptied":   func(p string, off int64) error { return os.Truncate(p, 0) },
		"wrong place": func(p string, off int64) error {
			// Another block's bytes in this block's place.
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt(block(7, bs), off)
			return err
		},
	}
	for what, f := range damage {
		t.Run(strings.ReplaceAll(what, " ", "_"), func(t *testing.T) {
			data := block(5, bs)
			c.Put("k", "e", 0, data)
			if err := f(blockAt(t, c, 0)); err != nil {
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
			c.drop("k", "e", 0)
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
				if rng.IntN(8) == 0 {
					// An object of two blocks, pinned when whole: its
					// file holds its bytes while pinned.
					pi := i % 2
					c.Put("p", "e", pi, block(uint64(100+pi), bs))
					if fd, unpin, ok := c.Pin("p", "e", 2*bs); ok {
						got := make([]byte, 2*bs)
						n, err := unix.Pread(fd, got, 0)
						unpin()
						if n != len(got) || err != nil || !bytes.Equal(got, append(block(100, bs), block(101, bs)...)) {
							t.Error("pinned object: wrong bytes")
							return
						}
					}
				} else if rng.IntN(2) == 0 {
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
	if n := blocksOnDisk(t, c); n != st.Blocks {
		t.Fatalf("%d blocks on disk, %d indexed", n, st.Blocks)
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

// drop forgets a block and punches it out, as an eviction does.
func (c *Cache) drop(key, etag string, idx int64) {
	c.mu.Lock()
	o := c.objs[objectID(key, etag)]
	if o == nil || o.blocks[idx] == nil {
		c.mu.Unlock()
		return
	}
	c.forgetLocked(o.blocks[idx], true)
	c.mu.Unlock()
	c.punch(o, idx)
}

// readFd reads n bytes at off through a pinned descriptor, as the kernel
// does for a passthrough open.
func readFd(t *testing.T, fd int, n int, off int64) []byte {
	t.Helper()
	b := make([]byte, n)
	m, err := unix.Pread(fd, b, off)
	if err != nil || m != n {
		t.Fatalf("pread %d at %d: %d, %v", n, off, m, err)
	}
	return b
}

// An object whose blocks are all cached is one file with its bytes at
// their own offsets, exactly its size: Pin hands it out, and only then.
func TestPinWholeObject(t *testing.T) {
	c := open(t, t.TempDir(), 0)
	size := int64(3*bs + 1000)
	obj := block(11, int(size))
	put := func(etag string, i int64, data []byte) {
		end := min((i+1)*bs, int64(len(data)))
		c.Put("k", etag, i, data[i*bs:end])
	}
	for _, i := range []int64{3, 0, 2} {
		put(`"e1"`, i, obj)
		if _, _, ok := c.Pin("k", `"e1"`, size); ok {
			t.Fatalf("pinned with block 1 missing (after block %d)", i)
		}
	}
	put(`"e1"`, 1, obj)
	if _, _, ok := c.Pin("k", `"e1"`, size+1); ok {
		t.Fatal("pinned for another size")
	}
	if _, _, ok := c.Pin("k", `"e2"`, size); ok {
		t.Fatal("pinned for another ETag")
	}
	fd, unpin, ok := c.Pin("k", `"e1"`, size)
	if !ok {
		t.Fatal("a wholly cached object not pinned")
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Size != size {
		t.Fatalf("pinned file: size %d, %v", st.Size, err)
	}
	if got := readFd(t, fd, int(size), 0); !bytes.Equal(got, obj) {
		t.Fatal("pinned file is not the object's bytes at their offsets")
	}
	fd2, unpin2, ok := c.Pin("k", `"e1"`, size)
	if !ok || fd2 != fd {
		t.Fatalf("second pin: %v, fd %d (first %d)", ok, fd2, fd)
	}
	if c.Stats().Pinned != 1 {
		t.Fatalf("stats %+v", c.Stats())
	}
	unpin()
	unpin2()
	if c.Stats().Pinned != 0 || len(files(t, c)) != 1 {
		t.Fatalf("after unpin: %+v, %d files", c.Stats(), len(files(t, c)))
	}
	// A damaged file (cut short) is not a plain image: not pinned.
	p, _ := blockAt(t, c, 0)
	os.Truncate(p, size-1)
	if _, _, ok := c.Pin("k", `"e1"`, size); ok {
		t.Fatal("a file cut short pinned")
	}
}

// While pinned, an object keeps every byte where the kernel reads it:
// eviction passes over its blocks (a Put that finds no other room is not
// cached: the size bound holds), a damaged block is not punched out but
// written again in place, and once unpinned it is evicted as any other.
func TestPinnedNotEvicted(t *testing.T) {
	max := 4 * diskSize(bs)
	c := open(t, t.TempDir(), max)
	dst := make([]byte, bs)
	putPinned := func(key string, obj []byte) func() {
		c.Put(key, "e", 0, obj[:bs])
		c.Put(key, "e", 1, obj[bs:])
		_, unpin, ok := c.Pin(key, "e", 2*bs)
		if !ok {
			t.Fatalf("%s not pinned", key)
		}
		return unpin
	}
	obj := block(12, 2*bs)
	unpin := putPinned("pinned", obj)
	fd, unpinFd, _ := c.Pin("pinned", "e", 2*bs)
	for i := range int64(6) {
		c.Put("other", "e", i, block(uint64(20+i), bs))
		if st := c.Stats(); st.Bytes > max {
			t.Fatalf("after block %d: %d bytes, max %d", i, st.Bytes, max)
		}
		if got := readFd(t, fd, 2*bs, 0); !bytes.Equal(got, obj) {
			t.Fatalf("after block %d: pinned file changed", i)
		}
	}
	if !c.Has("pinned", "e", 0) || !c.Has("pinned", "e", 1) {
		t.Fatal("a pinned block was evicted")
	}
	if !c.Has("other", "e", 5) || !c.Has("other", "e", 4) || c.Has("other", "e", 3) {
		t.Fatal("the unpinned blocks were not the ones evicted")
	}
	// Every block pinned: a Put finds no room and is not cached.
	unpin2 := putPinned("pinned2", block(14, 2*bs))
	c.Put("x", "e", 0, block(15, bs))
	if st := c.Stats(); c.Has("x", "e", 0) || st.Bytes > max || st.Blocks != 4 {
		t.Fatalf("with every block pinned: x cached %v, %+v", c.Has("x", "e", 0), st)
	}
	// A damaged pinned block is reported, its bytes left in place, and a
	// Put writes it again where the kernel reads it.
	c.mu.Lock()
	path := c.objs[objectID("pinned", "e")].path
	c.mu.Unlock()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{obj[bs+9] ^ 1}, bs+9)
	f.Close()
	if c.Get("pinned", "e", 1, dst) || c.Stats().Corrupt != 1 || c.Has("pinned", "e", 1) {
		t.Fatalf("damaged pinned block: %+v", c.Stats())
	}
	if got := readFd(t, fd, bs, bs); got[9] != obj[bs+9]^1 || !bytes.Equal(got[10:], obj[bs+10:]) {
		t.Fatal("damaged pinned block punched out")
	}
	c.Put("pinned", "e", 1, obj[bs:])
	if got := readFd(t, fd, 2*bs, 0); !bytes.Equal(got, obj) {
		t.Fatal("pinned block not written again in place")
	}
	unpin()
	unpinFd()
	unpin2()
	for i := range int64(4) {
		c.Put("third", "e", i, block(uint64(30+i), bs))
	}
	if c.Has("pinned", "e", 0) || c.Has("pinned2", "e", 1) || c.Stats().Blocks != 4 {
		t.Fatalf("unpinned objects' blocks outlived newer ones: %+v", c.Stats())
	}
	if !c.Get("third", "e", 3, dst) || !bytes.Equal(dst, block(33, bs)) {
		t.Fatal("newest block not served")
	}
	if n := blocksOnDisk(t, c); n != 4 {
		t.Fatalf("%d blocks on disk, 4 indexed", n)
	}
}

// Give hands a pinned, wholly cached object's file to the caller: renamed
// to its name, out of the cache (its room freed, nothing served from it,
// the version cached again in a file of its own), the pins' descriptors
// still the same file, their unpins leaving it alone; only a pinned
// whole object is given.
func TestGivePinnedFile(t *testing.T) {
	dir := t.TempDir()
	c := open(t, filepath.Join(dir, "cache"), 0)
	size := int64(2*bs + 10)
	obj := block(16, int(size))
	putAll := func() {
		for i := int64(0); i*bs < size; i++ {
			c.Put("k", "e", i, obj[i*bs:min((i+1)*bs, size)])
		}
	}
	putAll()
	dst := filepath.Join(dir, "taken")
	if _, err := c.Give("k", "e", size, dst); !errors.Is(err, ErrNotGiven) {
		t.Fatalf("gave an unpinned file: %v", err)
	}
	fd, unpin, ok := c.Pin("k", "e", size)
	if !ok {
		t.Fatal("not pinned")
	}
	if _, err := c.Give("k", "e", size+1, dst); !errors.Is(err, ErrNotGiven) {
		t.Fatalf("gave for another size: %v", err)
	}
	done, err := c.Give("k", "e", size, dst)
	if err != nil {
		t.Fatal(err)
	}
	done(true)
	done(false) // once only: no effect
	if st := c.Stats(); st.Bytes != 0 || st.Blocks != 0 || st.Pinned != 0 || c.Has("k", "e", 0) || len(files(t, c)) != 0 {
		t.Fatalf("a given file still in the cache: %+v, %d files", st, len(files(t, c)))
	}
	// The caller's now: a write through its name is what the pin reads.
	f, err := os.OpenFile(dst, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("more"))
	f.Close()
	if got := readFd(t, fd, int(size)+4, 0); !bytes.Equal(got, append(slices.Clone(obj), "more"...)) {
		t.Fatal("the pinned descriptor is not the given file")
	}
	putAll() // cached again: a file of its own
	if _, _, ok := c.Pin("k", "e", size); !ok || len(files(t, c)) != 1 {
		t.Fatal("the version not cached again after Give")
	}
	unpin()
	if got, err := os.ReadFile(dst); err != nil || len(got) != int(size)+4 {
		t.Fatalf("the given file after its pin ended: %d bytes, %v", len(got), err)
	}
}

// A Give the caller cannot keep (the spool's journal met a full disk)
// gives the file back: cached as before, pinned by its readers, given
// again by a later Give. While lent, the version is neither served,
// pinned, written, given nor evicted (its file is not at its name), even
// once its readers unpin. A file that cannot go back is forgotten.
func TestGiveBack(t *testing.T) {
	dir := t.TempDir()
	size := int64(2*bs + 10)
	obj := block(17, int(size))
	c := open(t, filepath.Join(dir, "cache"), 4*bs) // room for this and one block more
	for i := int64(0); i*bs < size; i++ {
		c.Put("k", "e", i, obj[i*bs:min((i+1)*bs, size)])
	}
	_, unpin, ok := c.Pin("k", "e", size)
	if !ok {
		t.Fatal("not pinned")
	}
	dst := filepath.Join(dir, "taken")
	done, err := c.Give("k", "e", size, dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dst); err != nil {
		t.Fatalf("not moved: %v", err)
	}
	dstBuf := make([]byte, bs)
	if c.Get("k", "e", 0, dstBuf) {
		t.Fatal("a lent block served")
	}
	if _, _, ok := c.Pin("k", "e", size); ok {
		t.Fatal("a lent file pinned")
	}
	if _, err := c.Give("k", "e", size, filepath.Join(dir, "again")); !errors.Is(err, ErrNotGiven) {
		t.Fatalf("a lent file given again: %v", err)
	}
	c.Put("k", "e", 3, block(1, bs)) // past its end: not written into the lent version
	unpin()                          // its readers gone meanwhile: still held by the lend
	for i := int64(0); i < 4; i++ {  // would evict the version's blocks, were it not lent
		c.Put("other", "e", i, block(uint64(40+i), bs))
	}
	if !c.Has("k", "e", 0) || !c.Has("k", "e", 2) || c.Has("k", "e", 3) {
		t.Fatal("the lent version's blocks changed")
	}
	done(false)
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("given back, yet still at dst: %v", err)
	}
	got := make([]byte, bs)
	for i := int64(0); i < 2; i++ {
		if !c.Get("k", "e", i, got) || !bytes.Equal(got, obj[i*bs:(i+1)*bs]) {
			t.Fatalf("block %d of the file given back not served", i)
		}
	}
	// Given again, for good this time.
	_, unpin, ok = c.Pin("k", "e", size)
	if !ok {
		t.Fatal("the file given back not pinned again")
	}
	done, err = c.Give("k", "e", size, dst)
	if err != nil {
		t.Fatalf("the file given back not given again: %v", err)
	}
	done(true)
	unpin()
	if b, err := os.ReadFile(dst); err != nil || !bytes.Equal(b, obj) {
		t.Fatalf("the file given for good: %d bytes, %v", len(b), err)
	}
	if c.Has("k", "e", 0) {
		t.Fatal("a file given for good still cached")
	}

	// Its directory removed meanwhile (the last other file in it went):
	// made again.
	for i := int64(0); i*bs < size; i++ {
		c.Put("k2", "e", i, obj[i*bs:min((i+1)*bs, size)])
	}
	_, unpin, _ = c.Pin("k2", "e", size)
	dst2 := filepath.Join(dir, "taken2")
	if done, err = c.Give("k2", "e", size, dst2); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	sub := filepath.Dir(c.objs[objectID("k2", "e")].path)
	c.mu.Unlock()
	if err := os.Remove(sub); err != nil { // as removeFile of another file there does
		t.Fatal(err)
	}
	done(false)
	if _, err := os.Stat(dst2); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("given back, yet still at dst: %v", err)
	}
	if !c.Get("k2", "e", 0, got) || !bytes.Equal(got, obj[:bs]) {
		t.Fatal("a file given back into a removed directory not served")
	}
	unpin()

	// It cannot go back (dst gone): forgotten, nothing left behind.
	_, unpin, _ = c.Pin("k2", "e", size)
	if done, err = c.Give("k2", "e", size, dst2); err != nil {
		t.Fatal(err)
	}
	os.Rename(dst2, filepath.Join(dir, "elsewhere"))
	done(false)
	unpin()
	if c.Has("k2", "e", 0) || c.Stats().Pinned != 0 {
		t.Fatalf("a file that could not go back still cached: %+v", c.Stats())
	}
}
