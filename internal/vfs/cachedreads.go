package vfs

import (
	"context"
	"os"
	"sync/atomic"
	"syscall"

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
	// Give moves the pinned file of the object version to dst, a new
	// name on the same file system; the pins' descriptors stay valid.
	// done(true): the file is the caller's from then on (the cache
	// forgets it); done(false): it goes back, cached as before, for a
	// later Give (the spool could not record it: a full disk).
	Give(key, etag string, size int64, dst string) (done func(kept bool), err error)
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
// version (key, etag).
//
// A write that brings the file into the spool while they last (an open
// for writing, truncate) takes the cache file as the spool's data file
// (takeCached): the kernel goes on reading the same file, which now
// receives every write, so the readers see them as any reader of a file
// in the spool does. spool is then that file, pinned for them.
type cacheBacking struct {
	key, cacheETag string // the version's name in the cache (Give)
	etag           string // the object version it holds (a rename's copy is another ETag)
	fd             int
	unpin          func()
	spool          *spool.File
}

// release ends the backing's pins (its last open is gone).
func (b *cacheBacking) release() {
	if b.spool != nil {
		b.spool.Unpin()
	}
	b.unpin()
}

// SetCacheReads turns reading wholly cached objects' files directly on or
// off (the adapter says what the kernel allows) and says which, once: the
// mount calls it once. On a read-write mount only with the cache on the
// spool's file system: a write made while a reader reads the cache file
// directly must reach that file (the kernel lets every later open of the
// file name only it), so the file moves into the spool (takeCached).
func (fs *FS) SetCacheReads(on bool, why string) {
	if fs.opt.Cache == nil {
		return
	}
	if on && !fs.opt.ReadOnly && !sameFileSystem(fs.opt.Cache.Dir(), fs.sp.Dir()) {
		on, why = false, "the cache directory is not on the spool directory's file system (a write while the kernel reads an object's cache file moves that file into the spool)"
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

// sameFileSystem: a and b are directories of one file system (a rename
// from one to the other works).
func sameFileSystem(a, b string) bool {
	var sa, sb syscall.Stat_t
	return syscall.Stat(a, &sa) == nil && syscall.Stat(b, &sb) == nil && sa.Dev == sb.Dev
}

// takeCached: a write is about to bring n into the spool (n.wmu held,
// n.file nil) while the kernel reads its object's cache file for other
// opens. If that file holds the version (size, etag) the write starts
// from, it becomes the spool's data file (moved, not copied: it holds the
// object's every byte at its offset), so those readers see the write, as
// readers of a file in the spool do; n.file is then that spool file, a
// plain image of the object (as after copyIn). It reports false, and
// changes nothing, otherwise: the caller makes its spool file as usual.
// current: the caller needs the version S3 holds now (copyIn's GET is
// conditional on etag): S3 is asked first.
func (fs *FS) takeCached(ctx context.Context, n *Node, size int64, etag string, current bool) bool {
	n.mu.Lock()
	b := n.cacheReadLocked(etag, size)
	ok := b != nil && n.file == nil && n.state == stateInS3
	var j spool.Journal
	if ok {
		j = spool.Journal{Key: fs.key(n.path), Kind: spool.KindAppend, Exists: true, BaseSize: size, BaseETag: etag, Size: size}
		j.Mode, j.UID, j.GID = n.unpublishedAttrsLocked()
	}
	n.mu.Unlock()
	if !ok {
		return false
	}
	if current {
		if info, err := fs.st.Head(ctx, j.Key); err != nil || info.ETag != etag {
			return false
		}
	}
	return fs.spoolCacheFile(n, b, j)
}

// spoolCacheFile makes the cache file b (its readers' backing file) the
// data file of a new spool file with journal j (every byte local, from
// offset 0) and n's spool file (n.wmu held).
func (fs *FS) spoolCacheFile(n *Node, b *cacheBacking, j spool.Journal) bool {
	f, err := fs.sp.CreateFrom(j, func(p string) (func(bool), error) { return fs.opt.Cache.Give(b.key, b.cacheETag, j.Size, p) })
	if err != nil {
		fs.log.Warn("cannot move the cache file read directly into the spool: the processes reading it do not see this write (they read the object as it was)", "key", j.Key, "err", err)
		return false
	}
	_, pinned := f.Pin()
	n.mu.Lock()
	n.file = f
	mine := pinned && n.ws().cached == b
	if mine {
		b.spool = f
	}
	n.mu.Unlock()
	if pinned && !mine {
		f.Unpin() // its readers closed meanwhile
	}
	fs.log.Debug("spool file taken from the data cache (read directly beside the write)", "key", j.Key, "size", j.Size, "spool_file", f.ID())
	return true
}

// cachedRecord: a rename left n's move record (a journal with no local
// bytes, its old key still to delete) as n's spool file while processes
// read n's cache file directly. A later write goes to the spool file, not
// takeCached's (n has one), so the record takes the cache file as its
// data file now: those readers see the write as any reader of a file in
// the spool does. Before, they read on the object as it was, short of
// every later write (TestModelCompressed seed 373891155). The rename holds
// n's job token and n.wmu: nothing publishes from rec meanwhile.
func (fs *FS) cachedRecord(n *Node, rec *spool.File) {
	n.mu.Lock()
	j := rec.Journal()
	b := n.cacheReadLocked(j.BaseETag, j.Size)
	ok := n.file == rec && b != nil && j.Kind == spool.KindAppend && j.LocalStart == j.Size && j.BaseSize == j.Size
	n.mu.Unlock()
	if !ok {
		return
	}
	j.Shift, j.LocalStart = 0, 0
	if fs.spoolCacheFile(n, b, j) {
		rec.Remove()
	}
}

// cacheReadLocked is the cache file the kernel reads for n's opens when
// it holds the object version (etag, size) and no spool file took it yet
// (takeCached, cachedRecord), or nil (n.mu held).
func (n *Node) cacheReadLocked(etag string, size int64) *cacheBacking {
	b := n.ws().cached
	if b == nil || b.spool != nil || n.ws().ioLocal == 0 || b.etag != etag || n.size != size {
		return nil
	}
	return b
}

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
	return &cacheBacking{key: key, cacheETag: etag, etag: etag, fd: fd, unpin: unpin}
}
