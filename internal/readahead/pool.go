// Package readahead is the read path: a per-file prefetcher that turns the
// kernel's small reads into parallel part-sized ranged GETs, and one memory
// budget shared by every open reader. It knows nothing of FUSE or the SDK;
// it talks to S3 through s3store.Store only.
package readahead

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
)

// ErrStale means the object changed in S3 while a reader had it open (a GET
// pinned with If-Match answered 412). The file system answers ESTALE.
var ErrStale = errors.New("object changed while open")

// ErrClosed is returned by ReadAt on a closed Reader.
var ErrClosed = errors.New("reader closed")

// Defaults. A single sequential reader never holds more than MaxWindow plus
// the partly read parts just behind it (about one part), so with 8 MiB parts
// and a 128 MiB window one streaming reader stays near 140 MiB of buffers and
// the daemon well under 256 MiB RSS. MemoryTarget bounds all readers
// together: 512 MiB lets four readers stream at full window, and more
// readers share it (each gets at least FirstRequest).
const (
	DefaultPartSize     = 8 << 20
	DefaultFirstRequest = 1 << 20
	DefaultMaxWindow    = 128 << 20
	DefaultMemoryTarget = 512 << 20
	DefaultMaxThreads   = 16
)

// Fixed tuning. randomChunk is the least a part fetches (until a stream
// proves sequential a read fetches exactly its bytes, in no part); slack is how
// far reads may wander around the stream (kernel async reads arrive a little
// out of order, FUSE reads are at most 1 MiB) and still count as sequential.
// seekProof: bytes read in order after a seek before anything is fetched
// speculatively (one 256 KiB pread reaches us as up to 3 x 128 KiB when the
// kernel's read-ahead is at its default). rampFactor: the window is this
// many times the bytes read in order. keepTail: a dropped part this close
// to complete is let finish, keeping its connection. maxReady: parts' worth
// of bytes arrived ahead of the reader (or asked for in the same top-up)
// past which nothing more is prefetched (Reader.ready).
const (
	randomChunk = 128 << 10
	minBufClass = 64 << 10
	seqSlack    = 1 << 20
	seekProof   = 512 << 10
	rampFactor  = 4
	keepTail    = 256 << 10
	maxReady    = 4
)

// idleAfter: a reader this long without a read yields its buffers to readers
// that are out of budget. A variable for tests.
var idleAfter = time.Second

// PoolOptions configures a Pool. Zero fields take the defaults above.
type PoolOptions struct {
	PartSize          int64   // --read-part-size: size of each ranged GET in steady state
	FirstRequest      int64   // the first GET of a stream is small for a fast first byte
	MaxWindow         int64   // bytes in flight + buffered ahead for one reader (≤ MemoryTarget/2)
	MemoryTarget      int64   // --memory-target: budget for all readers together
	MaxThreads        int     // --max-threads: concurrent GETs over all readers
	MaxThroughputGbps float64 // --maximum-throughput-gbps; 0 = unlimited
	Cache             Cache   // optional local block cache (--cache); nil = none
}

// Cache is a local cache of whole object blocks, keyed by key, ETag and
// block index (internal/datacache implements it). Block i covers
// [i*BlockSize, min((i+1)*BlockSize, size)). Implementations are safe for
// concurrent use and never fail a read: a broken block is a miss.
type Cache interface {
	BlockSize() int64
	// Get fills dst (the block's exact length) and reports a hit.
	Get(key, etag string, block int64, dst []byte) bool
	// Has reports whether Get would likely hit, without reading.
	Has(key, etag string, block int64) bool
	// Put stores a copy of data as the block; best effort.
	Put(key, etag string, block int64, data []byte)
}

func (o PoolOptions) withDefaults() PoolOptions {
	if o.PartSize <= 0 {
		o.PartSize = DefaultPartSize
	}
	if o.FirstRequest <= 0 {
		o.FirstRequest = DefaultFirstRequest
	}
	if o.MemoryTarget <= 0 {
		o.MemoryTarget = DefaultMemoryTarget
	}
	if o.MaxWindow <= 0 {
		o.MaxWindow = DefaultMaxWindow
	}
	if o.MaxThreads <= 0 {
		o.MaxThreads = DefaultMaxThreads
	}
	o.FirstRequest = min(o.FirstRequest, o.PartSize)
	o.MaxWindow = max(min(o.MaxWindow, o.MemoryTarget/2), o.FirstRequest)
	return o
}

// Pool owns the memory budget, the GET concurrency limit and the throughput
// limit shared by all Readers it opens. Safe for concurrent use.
type Pool struct {
	store s3store.Store
	o     PoolOptions

	inUse  atomic.Int64 // bytes charged: buffered or in flight
	peak   atomic.Int64 // highest inUse so far (tests check the budget with it)
	active atomic.Int64 // readers holding any charge; they share the budget

	holdersMu sync.Mutex
	holders   map[*Reader]struct{} // readers holding any charge

	threads  *prioSem
	throttle *tokenBucket // nil: unlimited

	bufs buffers // free part buffers (buffers.go)
}

// NewPool returns a Pool reading through store.
func NewPool(store s3store.Store, o PoolOptions) *Pool {
	o = o.withDefaults()
	p := &Pool{
		store:   store,
		o:       o,
		threads: newPrioSem(o.MaxThreads),
		holders: map[*Reader]struct{}{},
	}
	// A stream's worth (what a sequential reader releases and asks for
	// again), never more than the budget itself.
	p.bufs.init(min(o.MaxWindow+o.PartSize, o.MemoryTarget), freeIdle)
	if o.MaxThroughputGbps > 0 {
		p.throttle = newTokenBucket(o.MaxThroughputGbps*1e9/8, o.PartSize)
	}
	return p
}

// Options returns the effective options (defaults filled in, clamped).
func (p *Pool) Options() PoolOptions { return p.o }

// MemoryInUse is the number of bytes buffered or in flight over all readers.
func (p *Pool) MemoryInUse() int64 { return p.inUse.Load() }

// tryCharge takes n bytes of budget if they fit under the target.
func (p *Pool) tryCharge(n int64) bool {
	for {
		cur := p.inUse.Load()
		if cur+n > p.o.MemoryTarget {
			return false
		}
		if p.inUse.CompareAndSwap(cur, cur+n) {
			for pk := p.peak.Load(); cur+n > pk && !p.peak.CompareAndSwap(pk, cur+n); pk = p.peak.Load() {
			}
			return true
		}
	}
}

func (p *Pool) uncharge(n int64) { p.inUse.Add(-n) }

// addHolder and removeHolder track readers holding memory; called with the
// reader's lock held (holdersMu is taken under it, never the other way).
func (p *Pool) addHolder(r *Reader) {
	p.active.Add(1)
	p.holdersMu.Lock()
	p.holders[r] = struct{}{}
	p.holdersMu.Unlock()
}

func (p *Pool) removeHolder(r *Reader) {
	p.active.Add(-1)
	p.holdersMu.Lock()
	delete(p.holders, r)
	p.holdersMu.Unlock()
}

// reclaim makes readers idle for idleAfter drop their buffers so that r,
// which ran out of budget, can stream. It reports whether any budget came
// back. r.mu is held: others' locks are only tried, so two readers
// reclaiming from each other cannot deadlock.
func (p *Pool) reclaim(r *Reader) bool {
	idle := time.Now().Add(-idleAfter).UnixNano()
	p.holdersMu.Lock()
	var victims []*Reader
	for v := range p.holders {
		if v != r && v.lastRead.Load() < idle {
			victims = append(victims, v)
		}
	}
	p.holdersMu.Unlock()
	before := p.inUse.Load()
	for _, v := range victims {
		if v.mu.TryLock() {
			v.shed()
			v.mu.Unlock()
		}
	}
	return p.inUse.Load() < before
}

// share is the window one reader may hold when others stream too.
func (p *Pool) share() int64 {
	n := max(p.active.Load(), 1)
	return max(p.o.MemoryTarget/n, p.o.FirstRequest)
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
