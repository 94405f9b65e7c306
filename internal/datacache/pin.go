package datacache

import (
	"errors"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Pin, when every block of the object version (key, etag) of size bytes
// is cached, returns a descriptor of its file — offset N of the object at
// offset N, every byte present, size bytes long — for the kernel to read
// directly (FUSE passthrough), and keeps it so until unpin: its blocks are
// not evicted, nor punched out when damaged (the size bound then holds
// without them: a Put that finds no other room is not cached). The bytes
// were checked as they were written; reads that do not reach the daemon
// are not checked again. fd is valid until unpin; unpin may be called once.
func (c *Cache) Pin(key, etag string, size int64) (fd int, unpin func(), ok bool) {
	if size <= 0 {
		return 0, nil, false
	}
	nb := (size + c.bs - 1) / c.bs
	c.mu.Lock()
	o := c.objs[objectID(key, etag)]
	if o == nil || o.lent || !c.wholeLocked(o, size) {
		c.mu.Unlock()
		return 0, nil, false
	}
	for i := nb - 1; i >= 0; i-- {
		c.lru.MoveToFront(o.blocks[i]) // read directly, they are not touched by Get
	}
	o.pins++
	f := o.fd
	c.mu.Unlock()

	unpin = func() { c.unpin(o) }
	if f == nil {
		var err error
		f, err = os.Open(o.path)
		var st unix.Stat_t
		if err == nil && (unix.Fstat(int(f.Fd()), &st) != nil || st.Size != size) {
			f.Close()
			err = os.ErrInvalid // damaged: not a plain image of the object
		}
		if err != nil {
			unpin()
			return 0, nil, false
		}
		c.mu.Lock()
		if o.fd == nil {
			o.fd, f = f, nil
		} else {
			defer f.Close() // another Pin opened it first
		}
		fd = int(o.fd.Fd())
		c.mu.Unlock()
		return fd, unpin, true
	}
	return int(f.Fd()), unpin, true
}

func (c *Cache) unpin(o *object) {
	c.mu.Lock()
	var f *os.File
	if o.pins--; o.pins == 0 {
		f, o.fd = o.fd, nil
	}
	gone := c.releaseLocked(o)
	c.mu.Unlock()
	if f != nil {
		f.Close()
	}
	removeFile(gone)
}

// ErrNotGiven: Give found no pinned, wholly cached file of the version.
var ErrNotGiven = errors.New("datacache: no pinned, wholly cached file of the object version")

// Give moves the file of the object version (key, etag) of size bytes —
// pinned, every block cached, none being written — to dst (a new name on
// the cache's file system) for the caller (a write open of an object the
// kernel reads from its cache file makes that file the data file of the
// edit, so the readers see the writes). The pins' descriptors stay valid
// (the same file under its new name).
//
// The move is settled by done, called once: done(true) when the file is
// the caller's for good (the spool recorded it): the cache forgets the
// version, and the pins' unpins only close their descriptors;
// done(false) when the caller could not keep it (the spool's journal met
// a full disk): the file goes back and stays cached, for a later Give.
// Until then the version is lent: nothing evicts, punches, serves, pins,
// writes or gives it (its file is not at its name). A crash meanwhile
// loses nothing: the cache's files do not outlive the mount, and the
// spool drops a data file it has no journal for.
func (c *Cache) Give(key, etag string, size int64, dst string) (done func(kept bool), err error) {
	c.mu.Lock()
	o := c.objs[objectID(key, etag)]
	if o == nil || o.pins == 0 || o.lent || len(o.pending) > 0 || !c.wholeLocked(o, size) {
		c.mu.Unlock()
		return nil, ErrNotGiven
	}
	o.lent = true
	o.pins++ // the lend's own: kept until done, whatever the readers do
	c.mu.Unlock()
	if err := unix.Renameat2(unix.AT_FDCWD, o.path, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE); err != nil {
		c.settle(o, true)
		return nil, err
	}
	var once sync.Once
	return func(kept bool) {
		once.Do(func() {
			if !kept && !giveBack(dst, o.path) {
				os.Remove(dst) // it cannot go back: forgotten, nothing else would remove it
				kept = true
			}
			c.settle(o, !kept)
		})
	}, nil
}

// giveBack moves a lent file from dst back to its name in the cache.
func giveBack(dst, path string) bool {
	err := unix.Renameat2(unix.AT_FDCWD, dst, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.ENOENT) {
		// Its directory emptied and removed meanwhile (removeFile).
		if os.MkdirAll(filepath.Dir(path), 0o700) == nil {
			err = unix.Renameat2(unix.AT_FDCWD, dst, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
		}
	}
	return err == nil
}

// settle ends a lend of o: still cached (back), or forgotten (given):
// out of the index, so no Get, Put or eviction finds it again.
func (c *Cache) settle(o *object, back bool) {
	c.mu.Lock()
	o.lent = false
	if !back {
		for _, el := range o.blocks {
			c.forgetLocked(el, false)
		}
		if c.objs[o.id] == o {
			delete(c.objs, o.id)
		}
	}
	c.mu.Unlock()
	c.unpin(o)
}

// wholeLocked: every block of o, an object of size bytes, is cached.
func (c *Cache) wholeLocked(o *object, size int64) bool {
	nb := (size + c.bs - 1) / c.bs
	if size <= 0 || int64(len(o.blocks)) != nb {
		return false
	}
	for i := range nb {
		el := o.blocks[i]
		if el == nil || int64(el.Value.(*entry).n) != min(c.bs, size-i*c.bs) {
			return false
		}
	}
	return true
}
