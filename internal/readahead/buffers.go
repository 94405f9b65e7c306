package readahead

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// freeIdle: free buffers nobody asked for in this long are unmapped, so an
// idle mount does not keep a stream's worth of RSS. A variable for tests.
var freeIdle = 5 * time.Second

// hugeClass: part buffers this large and up live outside the Go heap, each
// in its own mapping with transparent huge pages. The kernel copies every
// byte twice through them (socket into the part, part into the page cache
// through /dev/fuse), and with 4 KiB pages the second copy cost twice the
// first: a TLB miss and a page pin per 4 KiB (35% of the daemon's CPU in
// that memcpy, 6% pinning; 19% and 2% with huge pages). Off the heap, the
// GC neither zeroes nor scans them, and released parts never wait as
// garbage in RSS for the next GC (a heap twice the live buffers at
// GOGC=100).
const hugeClass = 2 << 20

// buffers recycles part buffers. A new buffer costs more than its mapping:
// the kernel zeroes its pages at first touch (clear_page, 9% of the
// daemon's CPU when only 4 parts were kept: every open of a file started
// its window with new buffers). So every released buffer is kept, up to a
// stream's worth, until the pool has been idle for freeIdle. Locks: mu is
// a leaf.
type buffers struct {
	mu        sync.Mutex
	free      map[int][][]byte // by capacity
	freeBytes int64
	maxFree   int64
	idle      time.Duration
	used      time.Time   // last get
	timer     *time.Timer // unmaps the free buffers once idle; nil when none are kept
}

func (b *buffers) init(maxFree int64, idle time.Duration) {
	b.free = map[int][][]byte{}
	b.maxFree, b.idle = maxFree, idle
}

// get returns a buffer of length n and capacity c from the free list, or a
// new one. room is how many bytes the free list may keep beside it (the
// budget not in use): free buffers of other classes beyond it are unmapped
// first, so buffers in use and free together stay within the budget.
func (b *buffers) get(n int64, c int, room int64) []byte {
	b.mu.Lock()
	b.used = time.Now()
	if l := b.free[c]; len(l) > 0 {
		buf := l[len(l)-1]
		l[len(l)-1] = nil
		b.free[c] = l[:len(l)-1]
		b.freeBytes -= int64(c)
		b.mu.Unlock()
		return buf[:n]
	}
	var drop [][]byte
	for k, l := range b.free {
		for len(l) > 0 && b.freeBytes > room {
			drop = append(drop, l[len(l)-1])
			l[len(l)-1] = nil
			l = l[:len(l)-1]
			b.freeBytes -= int64(k)
		}
		b.free[k] = l
	}
	b.mu.Unlock()
	for _, d := range drop {
		unmapBuf(d)
	}
	return newBuf(c)[:n]
}

// put keeps buf for a later get while the free list has room, else unmaps
// it; nothing may use buf afterwards.
func (b *buffers) put(buf []byte) {
	c := cap(buf)
	b.mu.Lock()
	if b.freeBytes+int64(c) > b.maxFree {
		b.mu.Unlock()
		unmapBuf(buf)
		return
	}
	b.free[c] = append(b.free[c], buf[:0])
	b.freeBytes += int64(c)
	if b.timer == nil {
		b.timer = time.AfterFunc(b.idle, b.dropIfIdle)
	}
	b.mu.Unlock()
}

// dropIfIdle unmaps the free buffers when no get came for b.idle, else
// looks again later.
func (b *buffers) dropIfIdle() {
	b.mu.Lock()
	if idle := time.Since(b.used); idle < b.idle {
		b.timer.Reset(b.idle - idle)
		b.mu.Unlock()
		return
	}
	free := b.free
	b.free = map[int][][]byte{}
	b.freeBytes = 0
	b.timer = nil
	b.mu.Unlock()
	for _, l := range free {
		for _, buf := range l {
			unmapBuf(buf)
		}
	}
}

// bytes is how much the free list holds.
func (b *buffers) bytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.freeBytes
}

// newBuf returns an empty buffer of capacity c: its own huge-page mapping
// from hugeClass up, else (or when mapping fails) from the Go heap.
func newBuf(c int) []byte {
	if c >= hugeClass {
		buf, err := unix.Mmap(-1, 0, c, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err == nil {
			_ = unix.Madvise(buf, unix.MADV_HUGEPAGE) // a hint: 4 KiB pages work too
			return buf[:0]
		}
	}
	return make([]byte, 0, c)
}

// unmapBuf gives a mapped buffer's memory back at once. A buffer from the
// Go heap (unix.Munmap does not know it: EINVAL) is left to the GC.
func unmapBuf(buf []byte) {
	_ = unix.Munmap(buf[:cap(buf)])
}

// getBuf returns a buffer of length n from the free list or a new one; its
// class is already charged to the budget.
func (p *Pool) getBuf(n int64) []byte {
	return p.bufs.get(n, p.bufClass(n), p.o.MemoryTarget-p.inUse.Load())
}

func (p *Pool) putBuf(b []byte) { p.bufs.put(b) }
