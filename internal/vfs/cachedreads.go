package vfs

import (
	"os"
	"sync/atomic"

	"github.com/s3mount/s3mount/internal/spool"
)

// CachedFiles is the data cache's side of local reads (--cache:
// internal/datacache): an object version whose bytes are all cached is one
// file with them at their own offsets, which the kernel may read directly
// (FUSE passthrough), as it reads a spool data file (localreads.go).
type CachedFiles interface {
	// Pin returns a descriptor of the file of the object version (key,
	// etag) of size bytes when it holds every byte at its offset, and
	// keeps it so (nothing evicted or moved) until unpin.
	Pin(key, etag string, size int64) (fd int, unpin func(), ok bool)
	// Dir is where the cache's files are (the adapter probes it).
	Dir() string
}

// cacheReads: whether read-only opens of wholly cached objects may read
// the cache's file directly.
type cacheReads struct {
	on      atomic.Bool
	granted atomic.Int64 // such opens, for metrics and tests
}

// cacheBacking is the cache file a node's local opens name (n.mu): one
// pin, held while any of them lasts (writeState.ioLocal), for the object
// version etag.
type cacheBacking struct {
	etag  string
	fd    int
	unpin func()
}

// SetCacheReads turns reading wholly cached objects' files directly on or
// off (the adapter says what the kernel allows) and says which, once: the
// mount calls it once. Only on a --read-only mount: a reader that reads
// the cache file directly would not see a write made through this mount
// after its open (the kernel lets every later open of the file name only
// that file), where the file contract says every process here sees it.
func (fs *FS) SetCacheReads(on bool, why string) {
	if fs.opt.Cache == nil {
		return
	}
	if on && !fs.opt.ReadOnly {
		on, why = false, "the mount is not --read-only (a reader of the cache's file would not see this host's writes)"
	}
	fs.cache.on.Store(on)
	if on {
		fs.log.Info("reads of wholly cached objects: FUSE passthrough (the kernel reads the cache's file)")
		return
	}
	fs.log.Info("reads of cached objects: through the daemon (FUSE passthrough off)", "reason", why)
}

// CacheScratchFile is an unlinked file beside the cache's files, for the
// adapter to ask the kernel whether it would read such files directly.
func (fs *FS) CacheScratchFile() (*os.File, error) {
	if fs.opt.Cache == nil {
		return nil, os.ErrNotExist
	}
	return spool.ScratchIn(fs.opt.Cache.Dir())
}

// HasCache reports whether the mount has a data cache (--cache).
func (fs *FS) HasCache() bool { return fs.opt.Cache != nil }

// CacheReads reports whether wholly cached objects may be read directly.
func (fs *FS) CacheReads() bool { return fs.cache.on.Load() }

// CacheOpens counts the opens served from a cache file directly.
func (fs *FS) CacheOpens() int64 { return fs.cache.granted.Load() }

// pinCached pins the cache file of n's object for a read-only open that
// might read it directly (chooseIOLocked decides, under n.mu; the pin's
// open(2) must not run under it), or returns nil.
func (n *Node) pinCached(h *Handle) *cacheBacking {
	if h.write || !n.fs.cache.on.Load() {
		return nil
	}
	n.mu.Lock()
	ok := n.file == nil && n.state == stateInS3 && !n.dir && n.ws().ioLocal == 0 && n.ws().ioCached == 0
	key, etag, size := n.fs.key(n.path), n.etag, n.size
	n.mu.Unlock()
	if !ok {
		return nil
	}
	fd, unpin, ok := n.fs.opt.Cache.Pin(key, etag, size)
	if !ok {
		return nil
	}
	return &cacheBacking{etag: etag, fd: fd, unpin: unpin}
}
