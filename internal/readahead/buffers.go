package readahead

import (
	"sync"
	"time"
)

// freeIdle: free buffers nobody asked for in this long go back to the GC,
// so an idle mount does not keep a stream's worth of RSS.
const freeIdle = 5 * time.Second

// buffers recycles part buffers. A new buffer costs more than its
// allocation: the runtime zeroes it (7% of the daemon's CPU during a
// sequential read when only a few parts were kept), and dropped buffers are
// garbage that grows the heap until the next GC. So every released buffer
// is kept, up to a stream's worth (the window plus a part: what a
// sequential reader releases and asks for again), until the pool has been
// idle for freeIdle.
type buffers struct {
	mu        sync.Mutex
	free      map[int][][]byte // by capacity
	freeBytes int64
	maxFree   int64
	idle      time.Duration // freeIdle; shorter in tests
	used      time.Time     // last get
	timer     *time.Timer   // drops the free buffers once idle; nil when none are kept
}

func (b *buffers) init(maxFree int64, idle time.Duration) {
	b.free = map[int][][]byte{}
	b.maxFree, b.idle = maxFree, idle
}

// get returns a buffer of length n and capacity c from the free list, or a
// new one.
func (b *buffers) get(n int64, c int) []byte {
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
	b.mu.Unlock()
	return make([]byte, n, c)
}

// put keeps buf for a later get, while the free list has room.
func (b *buffers) put(buf []byte) {
	c := cap(buf)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.freeBytes+int64(c) > b.maxFree {
		return // let the GC have it
	}
	b.free[c] = append(b.free[c], buf[:0])
	b.freeBytes += int64(c)
	if b.timer == nil {
		b.timer = time.AfterFunc(b.idle, b.dropIfIdle)
	}
}

// dropIfIdle lets the GC have the free buffers when no get came for
// b.idle, else looks again later.
func (b *buffers) dropIfIdle() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if idle := time.Since(b.used); idle < b.idle {
		b.timer.Reset(b.idle - idle)
		return
	}
	clear(b.free)
	b.freeBytes = 0
	b.timer = nil
}

// bytes is how much the free list holds.
func (b *buffers) bytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.freeBytes
}

// bufClass rounds n up to a buffer size class: powers of two from 64 KiB,
// and PartSize itself, so freed buffers fit later requests.
func (p *Pool) bufClass(n int64) int {
	if n >= p.o.PartSize/2 {
		return int(max(n, p.o.PartSize))
	}
	c := int64(minBufClass)
	for c < n {
		c <<= 1
	}
	return int(c)
}

// getBuf returns a buffer of length n from the free list or a new one.
func (p *Pool) getBuf(n int64) []byte { return p.bufs.get(n, p.bufClass(n)) }

func (p *Pool) putBuf(b []byte) { p.bufs.put(b) }
