package readahead

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
)

// Reader reads one object version. It keeps a stream: parts scheduled from
// where sequential reading is going, a window of speculative bytes ahead of
// the reader that widens as the stream proves sequential, and resets on a
// seek. Safe for concurrent ReadAt.
type Reader struct {
	pool      *Pool
	key, etag string
	size      int64
	bs        int64 // cache block size; 0 without a cache

	ctx    context.Context // cancelled by Close; every prefetch GET derives from it
	cancel context.CancelFunc
	wg     sync.WaitGroup // fetch goroutines

	mu        sync.Mutex
	parts     []*part // sorted by offset, disjoint, all below next
	next      int64   // stream end: bytes below were scheduled or fetched directly
	start     int64   // where the stream began: 0 at Open, else the last seek
	sideEnd   int64   // end of the last read served beside the stream; -1 if none
	sideStart int64   // where the run of side reads ending at sideEnd began
	hi        int64   // highest end of a read in the stream
	window    int64   // speculative bytes wanted ahead of hi
	fresh     bool    // nothing scheduled since the stream (re)started
	charged   int64   // budget held by this reader's parts
	stale     bool
	closed    bool

	lastRead atomic.Int64 // unix nanos of the last read; idle readers yield memory
}

// Open returns a reader of one object version of size bytes. Every GET it
// sends carries If-Match etag.
func (p *Pool) Open(key, etag string, size int64) *Reader {
	ctx, cancel := context.WithCancel(context.Background())
	var bs int64
	if p.o.Cache != nil {
		bs = p.o.Cache.BlockSize()
	}
	return &Reader{
		pool: p, key: key, etag: etag, size: size, bs: bs,
		ctx: ctx, cancel: cancel,
		window: p.o.FirstRequest, fresh: true, sideEnd: -1,
	}
}

// Size is the object size the reader was opened with.
func (r *Reader) Size() int64 { return r.size }

// seg is a piece of one read: served from a part, or (part == nil) fetched
// directly into the caller's buffer.
type seg struct {
	off, end int64
	part     *part
	ok       bool // served from part
}

// ReadAt fills p from off, with io.ReaderAt semantics: n < len(p) only at
// the end of the object, with io.EOF. If the object changed in S3 it returns
// an error wrapping ErrStale, and no bytes.
func (r *Reader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("readahead: negative offset %d", off)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	end := min(off+int64(len(p)), r.size)
	if off >= r.size {
		end = off
	}
	segs, err := r.plan(off, end)
	if err != nil {
		return 0, err
	}
	if err := r.fill(ctx, p, off, segs); err != nil {
		return 0, err
	}
	n := int(end - off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// plan classifies the read, moves the stream, schedules prefetch and returns
// the pieces that cover [off, end), holding a reference on each part used.
func (r *Reader) plan(off, end int64) ([]seg, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if r.stale {
		return nil, r.staleErr()
	}
	if off >= end {
		return nil, nil
	}
	r.lastRead.Store(time.Now().UnixNano())
	// A read far behind the stream is a late one (a goroutine that lost
	// the CPU; several may be late together) or a backward seek: it is
	// served on the side, leaving the stream alone, and the stream moves
	// only once side reads continued each other for seekProof bytes.
	side := false
	switch {
	case off > r.next+seqSlack, r.window == 0 && off > r.next:
		// A seek: forget the stream, start small. A stream not yet proven
		// sequential may not skip bytes either: random reads that land
		// close to each other must not add up to a proof.
		r.reset(off)
	case off < r.hi-r.backSlack():
		if off != r.sideEnd {
			r.sideStart = off
		}
		if off != r.sideEnd || end-r.sideStart < seekProof {
			side = true
			break
		}
		from := r.sideStart
		r.reset(off)
		r.start = from // proven sequential already: the window opens now
	}
	r.sideEnd = -1
	// Until a stream that began at a seek proves sequential, a read (in the
	// stream or beside it) fetches exactly its bytes, straight into the
	// caller's buffer: a random read costs one GET of what it asks, no part
	// and no hand-off to a fetch goroutine. (With a cache, parts stay whole
	// blocks the cache keeps.)
	if side {
		r.sideEnd = end
	} else {
		r.hi = max(r.hi, end)
		r.grow()
	}
	exact := r.window == 0 && r.bs == 0
	if !side && !exact {
		r.topUp(end)
	}

	var segs []seg
	pos := off
	i := sort.Search(len(r.parts), func(i int) bool { return r.parts[i].end() > pos })
	for pos < end {
		if i < len(r.parts) && r.parts[i].off <= pos {
			pt := r.parts[i]
			pt.refs++
			e := min(end, pt.end())
			segs = append(segs, seg{off: pos, end: e, part: pt})
			pos = e
			i++
			continue
		}
		// A hole: past the stream end (out of budget), or below it where a
		// part failed or was dropped, or a late read behind the reader.
		holeEnd := r.next
		if i < len(r.parts) {
			holeEnd = r.parts[i].off
		}
		if pos < holeEnd && !exact {
			// Cache blocks are whole: start at a block boundary, never
			// inside the part before.
			from := r.alignDown(pos)
			if i > 0 {
				from = max(from, r.parts[i-1].end())
			}
			n := r.chunk()
			if side {
				n = randomChunk // what it needs: it tells nothing of what comes next
			}
			to := min(r.alignUp(from+min(max(end-from, n), r.pool.o.PartSize)), holeEnd)
			if pt := r.addPart(i, from, to-from, true); pt != nil {
				continue // the loop takes it as the part at i
			}
		}
		e := end
		if pos < holeEnd {
			e = min(end, holeEnd)
		}
		segs = append(segs, seg{off: pos, end: e})
		pos = e
	}
	// Bytes fetched directly past the stream end count as streamed, so a
	// starved reader is not mistaken for a seeking one.
	r.next = max(r.next, end)
	r.trim()
	return segs, nil
}

// backSlack is how far behind the furthest read a read may land and still
// belong to the stream: concurrent kernel reads finish out of order, and a
// goroutine can be late by many reads on a busy machine.
func (r *Reader) backSlack() int64 { return max(2*seqSlack, r.window/4) }

// chunk is the size of a speculative part: half the window, so several are
// in flight, at most PartSize.
func (r *Reader) chunk() int64 {
	w := min(r.window, r.pool.share())
	return min(max(w/2, randomChunk), r.pool.o.PartSize)
}

// reset starts a new stream at off with no speculative window: the read
// fetches what it needs (at least randomChunk) and the window only opens
// once reads continue from there for seekProof bytes.
func (r *Reader) reset(off int64) {
	for len(r.parts) > 0 {
		r.remove(r.parts[0])
	}
	r.start, r.hi = off, off
	r.next = r.alignDown(off)
	r.window = 0
	r.fresh = true
}

// grow keeps the window at rampFactor times what was read in order since
// the stream began, so it reaches MaxWindow after MaxWindow/rampFactor
// bytes. A stream that began at a seek speculates nothing until seekProof
// bytes were read in order: the kernel splits one random pread into
// several contiguous FUSE reads, and they must not open a window.
func (r *Reader) grow() {
	o := r.pool.o
	d := r.hi - r.start
	if r.window == 0 && d < seekProof {
		return
	}
	r.window = min(max(r.window, rampFactor*d, o.FirstRequest), o.MaxWindow)
}

// alignDown and alignUp round to cache blocks (no-ops without a cache), so
// parts cover whole blocks the cache can serve and store.
func (r *Reader) alignDown(off int64) int64 {
	if r.bs == 0 {
		return off
	}
	return off - off%r.bs
}

func (r *Reader) alignUp(off int64) int64 {
	if r.bs == 0 || off%r.bs == 0 {
		return min(off, r.size)
	}
	return min(off-off%r.bs+r.bs, r.size)
}

// topUp schedules parts from the stream end: whatever the current read
// (ending at end) needs, then speculative parts while they fit the window.
func (r *Reader) topUp(end int64) {
	o := r.pool.o
	w := min(r.window, r.pool.share())
	limit := min(max(r.hi, end)+w, r.size)
	ready := r.ready()
	for r.next < r.size {
		n := r.chunk()
		if r.fresh {
			n = max(w, randomChunk) // the first GET is one small request
		}
		need := r.next < end
		if need {
			n = max(n, end-r.next)
		}
		n = r.alignUp(r.next+min(n, o.PartSize)) - r.next
		if !need && (r.next+n > limit || ready >= maxReady*o.PartSize) {
			return
		}
		if r.addPart(len(r.parts), r.next, n, need) == nil {
			return // out of budget: the window is what we could get
		}
		r.next += n
		ready += n // about to arrive: the next read tops up again
	}
}

// ready is how many bytes past the furthest read have arrived and wait to
// be read. While they are plenty, the reader and not S3 is what limits the
// stream: more GETs would only land bytes that leave the CPU cache before
// the kernel copies them out (that copy then costs 2-3x more), so topUp
// adds at most maxReady parts beyond them. A reader faster than S3 finds
// nothing waiting and tops the window up to its full size in a few reads.
func (r *Reader) ready() int64 {
	var n int64
	for _, pt := range r.parts {
		if pt.end() <= r.hi {
			continue
		}
		if f := pt.off + pt.filledBytes(); f > r.hi {
			n += f - max(pt.off, r.hi)
		}
	}
	return n
}

// addPart charges and starts a GET of [off, off+n), inserted at index i of
// parts. It returns nil when the budget has no room.
func (r *Reader) addPart(i int, off, n int64, urgent bool) *part {
	c := int64(r.pool.bufClass(n))
	if !r.pool.tryCharge(c) && !(r.pool.reclaim(r) && r.pool.tryCharge(c)) {
		return nil
	}
	if r.charged == 0 {
		r.pool.addHolder(r)
	}
	r.charged += c
	ctx, cancel := context.WithCancel(r.ctx)
	pt := &part{off: off, n: n, buf: r.pool.getBuf(n), charge: c, urgent: urgent,
		done: make(chan struct{}), cancel: cancel}
	r.parts = append(r.parts, nil)
	copy(r.parts[i+1:], r.parts[i:])
	r.parts[i] = pt
	r.fresh = false
	r.wg.Add(1)
	go r.fetch(ctx, pt)
	return pt
}

func (r *Reader) fetch(ctx context.Context, pt *part) {
	defer r.wg.Done()
	var err error
	if c := r.pool.o.Cache; c != nil {
		err = r.fetchCached(ctx, pt, c)
	} else {
		err = r.pool.get(ctx, r.key, r.etag, pt.off, pt.buf, pt.urgent, pt.progress)
	}
	pt.cancel()
	pt.finish(err)
	r.mu.Lock()
	defer r.mu.Unlock()
	pt.fetched = true
	close(pt.done)
	if pt.removed && pt.refs == 0 {
		r.release(pt)
	}
}

// trim drops parts the reader has moved past for good.
func (r *Reader) trim() {
	for len(r.parts) > 0 && r.parts[0].end() <= r.hi-r.backSlack() {
		r.remove(r.parts[0])
	}
}

// remove takes pt out of the stream; its GET is cancelled and its memory
// returned as soon as no read uses it.
func (r *Reader) remove(pt *part) {
	if pt.removed {
		return
	}
	pt.removed = true
	for i, q := range r.parts {
		if q == pt {
			r.parts = append(r.parts[:i], r.parts[i+1:]...)
			break
		}
	}
	if pt.refs == 0 {
		r.unused(pt)
	}
}

// unused handles a removed part nobody reads any more. A GET with little
// left to receive is let finish: cancelling it would cost the connection.
func (r *Reader) unused(pt *part) {
	switch {
	case pt.fetched:
		r.release(pt)
	case pt.n-pt.filledBytes() > keepTail:
		pt.cancel() // fetch releases it when the GET returns
	}
}

// shed drops the parts no read is using, last first, and closes the window:
// an idle reader gives its memory to readers that stream. r.mu is held.
func (r *Reader) shed() {
	for len(r.parts) > 0 {
		pt := r.parts[len(r.parts)-1]
		if pt.refs > 0 {
			break
		}
		r.remove(pt)
		r.next = max(pt.off, r.hi)
	}
	r.window = 0
}

func (r *Reader) release(pt *part) {
	if pt.buf == nil {
		return
	}
	r.pool.putBuf(pt.buf)
	pt.buf = nil
	r.pool.uncharge(pt.charge)
	r.charged -= pt.charge
	if r.charged == 0 {
		r.pool.removeHolder(r)
	}
}

// fill copies each piece into p, waiting for parts and fetching the rest.
func (r *Reader) fill(ctx context.Context, p []byte, off int64, segs []seg) error {
	_, err := r.serve(ctx, p, off, segs, true)
	r.finish(segs)
	return r.readErr(ctx, err)
}

// ReadSlices is ReadAt without the last copy, for a FUSE reply: it returns
// slices of the reader's part buffers (and of scratch, which must be as long
// as the read, for bytes fetched directly). The buffers stay valid, and are
// not reused, until release is called; call it exactly once, after the
// reply is sent. On error nothing is held.
func (r *Reader) ReadSlices(ctx context.Context, scratch []byte, off int64) (bufs [][]byte, n int, release func(), err error) {
	if off < 0 {
		return nil, 0, nil, fmt.Errorf("readahead: negative offset %d", off)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, nil, err
	}
	end := min(off+int64(len(scratch)), r.size)
	if off >= r.size {
		end = off
	}
	segs, err := r.plan(off, end)
	if err != nil {
		return nil, 0, nil, err
	}
	bufs, err = r.serve(ctx, scratch, off, segs, false)
	if err != nil {
		r.finish(segs)
		return nil, 0, nil, r.readErr(ctx, err)
	}
	var once sync.Once
	return bufs, int(end - off), func() { once.Do(func() { r.finish(segs) }) }, nil
}

// serve waits for each piece's bytes (fetching what no part holds into p)
// and either copies them into p or returns them as slices.
func (r *Reader) serve(ctx context.Context, p []byte, off int64, segs []seg, copyOut bool) ([][]byte, error) {
	var bufs [][]byte
	for i := range segs {
		s := &segs[i]
		dst := p[s.off-off : s.end-off]
		if s.part == nil {
			err := r.direct(ctx, dst, s.off)
			if err != nil && r.retryable(ctx, err) {
				// As a failed part is fetched once more: a read gets two tries.
				err = r.direct(ctx, dst, s.off)
			}
			if err != nil {
				return nil, err
			}
			bufs = append(bufs, dst)
			continue
		}
		err := s.part.wait(ctx, s.end-s.part.off)
		if err == nil {
			src := s.part.buf[s.off-s.part.off : s.end-s.part.off]
			if copyOut {
				copy(dst, src)
			} else {
				bufs = append(bufs, src)
			}
			s.ok = true
			continue
		}
		if !r.retryable(ctx, err) {
			return nil, err
		}
		// A failed prefetch must not fail the read: fetch what we need once more.
		if err := r.direct(ctx, dst, s.off); err != nil {
			return nil, err
		}
		bufs = append(bufs, dst)
	}
	return bufs, nil
}

// retryable: a GET that failed for another reason than the read or the
// reader being cancelled, or the object having changed.
func (r *Reader) retryable(ctx context.Context, err error) bool {
	return ctx.Err() == nil && r.ctx.Err() == nil && !errors.Is(err, s3store.ErrPrecondition)
}

// finish gives back the references plan took and retires parts that were
// read through (or failed: the next read that needs them refetches).
func (r *Reader) finish(segs []seg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range segs {
		pt := s.part
		if pt == nil {
			continue
		}
		pt.refs--
		if s.ok {
			pt.consumed += s.end - s.off
		}
		if !pt.removed && (pt.consumed >= pt.n || pt.fetched && pt.err != nil) {
			r.remove(pt)
		} else if pt.removed && pt.refs == 0 {
			r.unused(pt)
		}
	}
}

// readErr turns a serve error into what ReadAt returns.
func (r *Reader) readErr(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, s3store.ErrPrecondition):
		r.mu.Lock()
		defer r.mu.Unlock()
		r.markStale()
		return r.staleErr()
	case r.ctx.Err() != nil && ctx.Err() == nil:
		return ErrClosed
	}
	return fmt.Errorf("readahead %s: %w", r.key, err)
}

// direct GETs len(dst) bytes at off straight into the caller's buffer: for
// reads the budget cannot cover and for the retry of a failed part. It stops
// when either the read's context or the reader is cancelled.
func (r *Reader) direct(ctx context.Context, dst []byte, off int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.ctx, cancel)
	defer stop()
	if c := r.pool.o.Cache; c != nil {
		return r.fillCached(ctx, c, off, dst, true, nil)
	}
	return r.pool.get(ctx, r.key, r.etag, off, dst, true, nil)
}

func (r *Reader) markStale() {
	if !r.stale {
		r.stale = true
		r.reset(r.hi)
	}
}

func (r *Reader) staleErr() error {
	return fmt.Errorf("readahead %s: %w", r.key, ErrStale)
}

// Close cancels in-flight GETs and returns the reader's memory to the pool
// (memory of parts a concurrent ReadAt still copies from returns when it
// finishes). ReadAt after Close returns ErrClosed.
func (r *Reader) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	for len(r.parts) > 0 {
		r.remove(r.parts[0])
	}
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}
