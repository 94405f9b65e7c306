package datacache

import (
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
	if o == nil || int64(len(o.blocks)) != nb {
		c.mu.Unlock()
		return 0, nil, false
	}
	for i := nb - 1; i >= 0; i-- {
		el := o.blocks[i]
		if el == nil || int64(el.Value.(*entry).n) != min(c.bs, size-i*c.bs) {
			c.mu.Unlock()
			return 0, nil, false
		}
		c.lru.MoveToFront(el) // read directly, they are not touched by Get
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
