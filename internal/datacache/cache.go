// Package datacache is the optional local disk cache of object content
// (--cache DIR). It caches whole blocks (1 MiB by default) of object
// versions, keyed by key, ETag and block index, so a block of an object
// that changed is never served: the new ETag names other blocks and the
// old ones age out.
//
// The blocks of one object version live in one sparse file, block i at
// offset i*BlockSize: an object whose blocks are all cached is a plain
// image of it, which the kernel may read directly (Pin, for FUSE
// passthrough). Every block's CRC32C is kept in memory and checked on each
// Get; a block that fails it is forgotten and reported as a miss, so the
// reader fetches it again. Eviction is LRU by block and by size: an
// evicted block's bytes are punched out of its file, and a file with no
// block left is removed. The files live in a per-mount subdirectory of DIR
// that is removed at Close; subdirectories left by mounts that died are
// removed by the next Open (nothing cached outlives its mount, so a crash
// leaves nothing to trust).
package datacache

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// DefaultBlockSize is the size of a cached block.
const DefaultBlockSize = 1 << 20

// minFreePercent: with no --max-cache-size, the cache keeps this much of
// its file system free.
const minFreePercent = 5

// Options configure Open.
type Options struct {
	Dir       string // --cache; created 0700 if missing
	MaxSize   int64  // --max-cache-size in bytes; 0 = keep 5% of the file system free
	BlockSize int64  // 0 = DefaultBlockSize
}

// Stats counts cache outcomes since Open.
type Stats struct {
	Hits, Misses, Corrupt, Evictions int64
	Bytes                            int64 // bytes held on disk (4 KiB rounded)
	Blocks                           int
	Pinned                           int // objects pinned (read directly)
}

// Cache is a disk block cache. Safe for concurrent use.
type Cache struct {
	dir  string // this mount's subdirectory
	lock *os.File
	bs   int64
	max  int64

	mu   sync.Mutex         // leaf: no I/O under it
	lru  *list.List         // of *entry, most recently used first
	objs map[string]*object // by objectID
	size int64
	gen  uint64 // numbers object files, so a removed file's name is never reused

	hits, misses, corrupt, evictions atomic.Int64
}

// object is one object version's file and the blocks it holds (c.mu).
// It stays while it holds a block, a block is being written or punched,
// a Get reads it, or it is pinned.
type object struct {
	id      string
	path    string
	blocks  map[int64]*list.Element // cached blocks
	pending map[int64]bool          // blocks being written (Put) or punched out (eviction)
	readers int                     // Gets reading the file
	pins    int
	lent    bool     // its file is at a Give's dst until done (pinned meanwhile)
	fd      *os.File // open while pinned
}

// entry is a cached block of an object (c.mu).
type entry struct {
	obj  *object
	idx  int64
	n    int    // data length
	crc  uint32 // CRC32C of the data as written
	disk int64  // what it takes on disk, about
}

// Open creates the cache in a new subdirectory of o.Dir.
func Open(o Options) (*Cache, error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("datacache: no directory")
	}
	if o.BlockSize <= 0 {
		o.BlockSize = DefaultBlockSize
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	removeStale(o.Dir)
	dir, err := os.MkdirTemp(o.Dir, subdirPrefix)
	if err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Cache{dir: dir, lock: lock, bs: o.BlockSize, max: o.MaxSize,
		lru: list.New(), objs: map[string]*object{}}, nil
}

const subdirPrefix = "s3mount-"

// lockDir holds an flock on dir/.lock for the life of the mount: a subdir
// whose lock can be taken belongs to no running mount.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// removeStale deletes subdirectories of dead mounts (best effort).
func removeStale(root string) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), subdirPrefix) {
			continue
		}
		d := filepath.Join(root, e.Name())
		f, err := os.OpenFile(filepath.Join(d, ".lock"), os.O_RDWR, 0)
		if err != nil {
			continue // not ours, or being created right now
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.RemoveAll(d)
		}
		f.Close()
	}
}

// Close removes this mount's files. The cache must not be used afterwards.
func (c *Cache) Close() error {
	err := os.RemoveAll(c.dir)
	c.lock.Close()
	return err
}

// Dir is this mount's subdirectory.
func (c *Cache) Dir() string { return c.dir }

// BlockSize is the size of every block but an object's last.
func (c *Cache) BlockSize() int64 { return c.bs }

// Stats returns counters and the current size.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	pinned := 0
	for _, o := range c.objs {
		if o.pins > 0 {
			pinned++
		}
	}
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Corrupt: c.corrupt.Load(),
		Evictions: c.evictions.Load(), Bytes: c.size, Blocks: c.lru.Len(), Pinned: pinned}
}

func objectID(key, etag string) string { return key + "\x00" + etag }

// diskSize is what a block of n bytes takes on disk, about.
func diskSize(n int) int64 { return (int64(n) + 4095) &^ 4095 }

// objectLocked returns the object of id, made (in memory only) if need be.
func (c *Cache) objectLocked(id string) *object {
	if o := c.objs[id]; o != nil {
		return o
	}
	h := sha256.Sum256([]byte(id))
	name := hex.EncodeToString(h[:])
	c.gen++
	o := &object{id: id, path: filepath.Join(c.dir, name[:2], name+"-"+strconv.FormatUint(c.gen, 10)),
		blocks: map[int64]*list.Element{}, pending: map[int64]bool{}}
	c.objs[id] = o
	return o
}

// releaseLocked forgets o once nothing holds it and returns the path of
// its file for the caller to remove (after c.mu: no I/O under it), or "".
// A later object of the same id gets another file name, so the removal
// never hits a file in use.
func (c *Cache) releaseLocked(o *object) string {
	if len(o.blocks) > 0 || len(o.pending) > 0 || o.readers > 0 || o.pins > 0 || c.objs[o.id] != o {
		return ""
	}
	delete(c.objs, o.id)
	return o.path
}

// removeFile deletes a released object's file (and its directory, if now
// empty, best effort).
func removeFile(path string) {
	if path == "" {
		return
	}
	os.Remove(path)
	os.Remove(filepath.Dir(path)) // fails while other files are in it
}

// Has reports whether the block is in the index (Get may still miss).
func (c *Cache) Has(key, etag string, idx int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.objs[objectID(key, etag)]
	return o != nil && o.blocks[idx] != nil
}

// forgetLocked takes the block out of the index and the size; punch: its
// bytes are to be punched out of the file (the caller does it, then
// punched): the block stays pending meanwhile.
func (c *Cache) forgetLocked(el *list.Element, punch bool) {
	b := el.Value.(*entry)
	c.lru.Remove(el)
	delete(b.obj.blocks, b.idx)
	c.size -= b.disk
	if punch {
		b.obj.pending[b.idx] = true
	}
}
