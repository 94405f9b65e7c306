package datacache

import (
	"container/list"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Get fills dst with the block (dst's length is the block's) and reports
// a hit. A block whose bytes fail their CRC is forgotten: a miss.
func (c *Cache) Get(key, etag string, idx int64, dst []byte) bool {
	c.mu.Lock()
	o := c.objs[objectID(key, etag)]
	var el *list.Element
	if o != nil {
		el = o.blocks[idx]
	}
	if el == nil || el.Value.(*entry).n != len(dst) || o.lent {
		// Absent, or the caller's idea of the block differs (the block
		// is fine), or lent (Give: its file is not at its name).
		c.mu.Unlock()
		c.misses.Add(1)
		return false
	}
	c.lru.MoveToFront(el)
	crc := el.Value.(*entry).crc
	o.readers++
	c.mu.Unlock()

	ok := readAt(o.path, dst, idx*c.bs) && crc32.Checksum(dst, castagnoli) == crc

	c.mu.Lock()
	o.readers--
	// Evicted (or evicted and cached again) while we read: a plain miss.
	still := o.blocks[idx] == el
	punch := false
	if !ok && still {
		// Damaged on disk. A pinned file keeps its bytes where they are
		// (the kernel reads it; a Put writes the block again in place).
		punch = o.pins == 0
		c.forgetLocked(el, punch)
	}
	gone := c.releaseLocked(o)
	c.mu.Unlock()
	if punch {
		c.punch(o, idx)
	}
	removeFile(gone)
	if !ok {
		if still {
			c.corrupt.Add(1)
		}
		c.misses.Add(1)
		return false
	}
	c.hits.Add(1)
	return true
}

func readAt(path string, dst []byte, off int64) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	n, err := f.ReadAt(dst, off)
	return n == len(dst) && (err == nil || errors.Is(err, io.EOF))
}

// Put stores data as the block, evicting least recently used blocks to
// stay within the size limit. Best effort: a block that cannot be written
// is simply not cached, nor is one already being written or punched out.
func (c *Cache) Put(key, etag string, idx int64, data []byte) {
	sz := diskSize(len(data))
	c.mu.Lock()
	o := c.objectLocked(objectID(key, etag))
	if el := o.blocks[idx]; el != nil {
		c.lru.MoveToFront(el)
		c.mu.Unlock()
		return
	}
	if o.pending[idx] || o.lent {
		c.mu.Unlock()
		return
	}
	o.pending[idx] = true // holds o (and its file name) while we write
	c.mu.Unlock()

	reserved := c.makeRoom(sz)
	err := errors.New("no room")
	if reserved {
		err = c.write(o, idx, data)
	}

	c.mu.Lock()
	if err == nil {
		delete(o.pending, idx)
		o.blocks[idx] = c.lru.PushFront(&entry{obj: o, idx: idx, n: len(data),
			crc: crc32.Checksum(data, castagnoli), disk: sz})
	} else if reserved {
		c.size -= sz
	}
	var gone string
	if !reserved {
		delete(o.pending, idx)
		gone = c.releaseLocked(o)
	}
	c.mu.Unlock()
	removeFile(gone)
	if reserved && err != nil {
		c.punch(o, idx) // what a failed write left (a full disk)
	}
}

// write stores the block at its offset in o's file. The block is indexed
// (and so served) only once this returns: no reader sees it half-written.
func (c *Cache) write(o *object, idx int64, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(o.path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(o.path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, idx*c.bs)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// punch frees the bytes of o's block idx (forgotten, pending) and lets
// the block be cached again.
func (c *Cache) punch(o *object, idx int64) {
	if f, err := os.OpenFile(o.path, os.O_WRONLY, 0); err == nil {
		// Without hole punching (a file system that lacks it) the bytes
		// stay until the whole file goes.
		_ = unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, idx*c.bs, c.bs)
		f.Close()
	}
	c.mu.Lock()
	delete(o.pending, idx)
	gone := c.releaseLocked(o)
	c.mu.Unlock()
	removeFile(gone)
}

// makeRoom evicts until sz more bytes fit, under MaxSize or with 5% of the
// file system still free after writing them, and reserves them (c.size
// includes them). It reports false if they cannot fit at all. Blocks of
// pinned objects are never evicted: the kernel may be reading them.
func (c *Cache) makeRoom(sz int64) bool {
	if c.max > 0 && sz > c.max {
		return false
	}
	var free int64 // bytes the file system may still take; for MaxSize == 0
	if c.max == 0 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(c.dir, &st); err != nil {
			return false
		}
		bsize := int64(st.Bsize)
		free = int64(st.Bavail)*bsize - int64(st.Blocks)*bsize*minFreePercent/100
	}
	var victims []*entry
	c.mu.Lock()
	el := c.lru.Back()
	for (c.max > 0 && c.size+sz > c.max) || (c.max == 0 && free < sz) {
		for el != nil && el.Value.(*entry).obj.pins > 0 {
			el = el.Prev()
		}
		if el == nil {
			c.mu.Unlock()
			// Empty (or all pinned), and it still does not fit.
			for _, b := range victims {
				c.punch(b.obj, b.idx)
				c.evictions.Add(1)
			}
			return false
		}
		prev := el.Prev()
		b := el.Value.(*entry)
		c.forgetLocked(el, true)
		free += b.disk
		victims = append(victims, b)
		el = prev
	}
	c.size += sz
	c.mu.Unlock()
	for _, b := range victims {
		c.punch(b.obj, b.idx)
		c.evictions.Add(1)
	}
	return true
}
