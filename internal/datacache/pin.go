package datacache

import (
	"errors"
	"os"

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
	if o == nil || !c.wholeLocked(o, size) {
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
// the cache's file system) and forgets it: the file and its bytes are the
// caller's from then on (a write open of an object the kernel reads from
// its cache file makes that file the data file of the edit, so the
// readers see the writes). The pins' descriptors stay valid (the same
// file under its new name); their unpins only close them.
func (c *Cache) Give(key, etag string, size int64, dst string) error {
	c.mu.Lock()
	o := c.objs[objectID(key, etag)]
	if o == nil || o.pins == 0 || len(o.pending) > 0 || !c.wholeLocked(o, size) {
		c.mu.Unlock()
		return ErrNotGiven
	}
	// Out of the index first: no Get, Put or eviction finds it again (a
	// Get reading it now fails its CRC check once the bytes change: a
	// miss).
	for _, el := range o.blocks {
		c.forgetLocked(el, false)
	}
	delete(c.objs, o.id)
	c.mu.Unlock()
	err := unix.Renameat2(unix.AT_FDCWD, o.path, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	if err != nil {
		os.Remove(o.path) // forgotten: nothing would remove it before Close
		return err
	}
	return nil
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
