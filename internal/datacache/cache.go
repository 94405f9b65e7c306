// Package datacache is the optional local disk cache of object content
// (--cache DIR). It stores whole blocks (1 MiB by default) of one object
// version each, keyed by key, ETag and block index, so a block of an
// object that changed is never served: the new ETag names other blocks and
// the old ones age out. Every block carries a CRC32C that is checked on each
// read; a block that fails it is deleted and reported as a miss, so the
// reader fetches it again. Eviction is LRU by size. The blocks live in a
// per-mount subdirectory of DIR that is removed at Close; subdirectories
// left by mounts that died are removed by the next Open.
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
}

// Cache is a disk block cache. Safe for concurrent use.
type Cache struct {
	dir  string // this mount's subdirectory
	lock *os.File
	bs   int64
	max  int64

	mu    sync.Mutex
	lru   *list.List // of *entry, most recently used first
	index map[string]*list.Element
	size  int64

	hits, misses, corrupt, evictions atomic.Int64
}

type entry struct {
	name string
	size int64
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
		lru: list.New(), index: map[string]*list.Element{}}, nil
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

// Close removes this mount's blocks. The cache must not be used afterwards.
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
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Corrupt: c.corrupt.Load(),
		Evictions: c.evictions.Load(), Bytes: c.size, Blocks: c.lru.Len()}
}

// blockID is what a block's name and its stored id checksum are made of.
func blockID(key, etag string, block int64) string {
	return key + "\x00" + etag + "\x00" + strconv.FormatInt(block, 10)
}

func blockName(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

func (c *Cache) path(name string) string {
	return filepath.Join(c.dir, name[:2], name)
}

// diskSize is what a block of n bytes takes on disk, about.
func diskSize(n int) int64 { return (int64(n+headerSize) + 4095) &^ 4095 }

// Has reports whether the block is in the index (Get may still miss).
func (c *Cache) Has(key, etag string, block int64) bool {
	name := blockName(blockID(key, etag, block))
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.index[name]
	return ok
}

// touch marks name used and reports whether it is indexed.
func (c *Cache) touch(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.index[name]
	if ok {
		c.lru.MoveToFront(el)
	}
	return ok
}

// drop forgets name and deletes its file.
func (c *Cache) drop(name string) {
	c.mu.Lock()
	if el, ok := c.index[name]; ok {
		c.lru.Remove(el)
		delete(c.index, name)
		c.size -= el.Value.(*entry).size
	}
	c.mu.Unlock()
	os.Remove(c.path(name))
}
