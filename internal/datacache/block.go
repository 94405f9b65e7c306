package datacache

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// A block file is a header then the data. The header holds a magic, the
// data length, the data's CRC32C and the CRC32C of the block's id (key,
// ETag, index), so a file that is damaged, cut short or in the wrong place
// is never served.
const (
	headerSize = 16
	magic      = 0x53334d42 // "S3MB"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func header(id string, data []byte) []byte {
	h := make([]byte, headerSize)
	binary.LittleEndian.PutUint32(h[0:], magic)
	binary.LittleEndian.PutUint32(h[4:], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[8:], crc32.Checksum(data, castagnoli))
	binary.LittleEndian.PutUint32(h[12:], crc32.Checksum([]byte(id), castagnoli))
	return h
}

// Get fills dst with the block (dst's length is the block's) and reports
// a hit. A block that fails its checks is deleted: a miss.
func (c *Cache) Get(key, etag string, block int64, dst []byte) bool {
	id := blockID(key, etag, block)
	name := blockName(id)
	if !c.touch(name) {
		c.misses.Add(1)
		return false
	}
	f, err := os.Open(c.path(name))
	if err != nil {
		c.drop(name) // evicted meanwhile, or removed under us
		c.misses.Add(1)
		return false
	}
	defer f.Close()
	var h [headerSize]byte
	ok := false
	if _, err := io.ReadFull(f, h[:]); err == nil &&
		binary.LittleEndian.Uint32(h[0:]) == magic &&
		binary.LittleEndian.Uint32(h[12:]) == crc32.Checksum([]byte(id), castagnoli) {
		if binary.LittleEndian.Uint32(h[4:]) != uint32(len(dst)) {
			c.misses.Add(1) // the caller's idea of the block differs; the block is fine
			return false
		}
		if _, err := io.ReadFull(f, dst); err == nil {
			ok = binary.LittleEndian.Uint32(h[8:]) == crc32.Checksum(dst, castagnoli)
		}
	}
	if !ok {
		c.corrupt.Add(1)
		c.misses.Add(1)
		c.drop(name)
		return false
	}
	c.hits.Add(1)
	return true
}

// Put stores data as the block, evicting least recently used blocks to
// stay within the size limit. Best effort: a block that cannot be written
// is simply not cached.
func (c *Cache) Put(key, etag string, block int64, data []byte) {
	id := blockID(key, etag, block)
	name := blockName(id)
	if c.touch(name) {
		return
	}
	sz := diskSize(len(data))
	if !c.makeRoom(sz) {
		return
	}
	if err := c.write(c.path(name), id, data); err != nil {
		c.unreserve(sz)
		return
	}
	c.mu.Lock()
	if _, ok := c.index[name]; ok {
		c.size -= sz // a concurrent Put of the same block won
	} else {
		c.index[name] = c.lru.PushFront(&entry{name: name, size: sz})
	}
	c.mu.Unlock()
}

// write stores the block through a temporary file, so a reader never sees
// a half-written one.
func (c *Cache) write(p, id string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-")
	if err != nil {
		return err
	}
	_, err = f.Write(header(id, data))
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// makeRoom evicts until sz more bytes fit, under MaxSize or with 5% of the
// file system still free after writing them, and reserves them (c.size
// includes them). It reports false if they cannot fit at all.
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
	var victims []string
	c.mu.Lock()
	for (c.max > 0 && c.size+sz > c.max) || (c.max == 0 && free < sz) {
		el := c.lru.Back()
		if el == nil {
			c.mu.Unlock()
			return false // empty, and it still does not fit
		}
		e := el.Value.(*entry)
		c.lru.Remove(el)
		delete(c.index, e.name)
		c.size -= e.size
		free += e.size
		victims = append(victims, e.name)
	}
	c.size += sz
	c.mu.Unlock()
	for _, name := range victims {
		os.Remove(c.path(name))
		c.evictions.Add(1)
	}
	return true
}

func (c *Cache) unreserve(sz int64) {
	c.mu.Lock()
	c.size -= sz
	c.mu.Unlock()
}
