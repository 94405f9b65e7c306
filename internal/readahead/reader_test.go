package readahead

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSequentialSizes(t *testing.T) {
	f := newFixture(t)
	o := smallOpts()
	pool := NewPool(f.st, o)
	ps := int(o.PartSize)
	for _, size := range []int{0, 1, ps - 1, ps, ps + 1, 40 * mib} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := randBytes(uint64(size), size)
			key := fmt.Sprintf("seq/%d", size)
			etag := f.put(t, key, data)
			before := f.gets()
			r := pool.Open(key, etag, int64(size))
			got := readSeq(t, r, 128<<10)
			r.Close()
			sameBytes(t, key, got, data)
			// Prefetch must turn 128 KiB reads into part-sized GETs: about
			// one GET per part plus the small ones of the ramp.
			gets := f.gets() - before
			if max := int64(size/ps) + 8; gets > max {
				t.Errorf("%d GETs for %d bytes, want ≤ %d", gets, size, max)
			}
			if size == 0 && gets != 0 {
				t.Errorf("empty object: %d GETs", gets)
			}
		})
	}
	if m := pool.MemoryInUse(); m != 0 {
		t.Fatalf("MemoryInUse after Close = %d", m)
	}
	if pk := pool.peak.Load(); pk > o.MaxWindow+2*o.PartSize {
		t.Fatalf("one reader held %d bytes, window %d", pk, o.MaxWindow)
	}
}

func TestRandomReads(t *testing.T) {
	f := newFixture(t)
	pool := NewPool(f.st, smallOpts())
	data := randBytes(7, 5*mib+12345)
	etag := f.put(t, "rand", data)
	r := pool.Open("rand", etag, int64(len(data)))
	defer r.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	before := f.gets()
	const reads = 120
	for i := range reads {
		n := 1 + rng.IntN(300<<10)
		off := rng.Int64N(int64(len(data)) + 1000)
		if i%10 == 0 {
			off = int64(len(data)) - int64(rng.IntN(n)) // straddle EOF
		}
		if err := checkRead(context.Background(), r, data, make([]byte, n), off); err != nil {
			t.Fatalf("read %d at %d: %v", n, off, err)
		}
	}
	// Random reads fetch what they need: roughly one GET each, not a window.
	if gets := f.gets() - before; gets > 2*reads {
		t.Fatalf("%d GETs for %d random reads", gets, reads)
	}
	// A forward seek inside the window reuses what is buffered: no GET
	// covers the bytes it reads, and the window stays open.
	ls := &loggingStore{Store: f.st}
	r2 := NewPool(ls, smallOpts()).Open("rand", etag, int64(len(data)))
	defer r2.Close()
	buf := make([]byte, 128<<10)
	for off := int64(0); off < 2*mib; off += int64(len(buf)) {
		if err := checkRead(context.Background(), r2, data, buf, off); err != nil {
			t.Fatal(err)
		}
	}
	r2.mu.Lock()
	seek := r2.next - int64(len(buf)) - 1000
	parts := append([]*part(nil), r2.parts...)
	r2.mu.Unlock()
	for _, pt := range parts {
		<-pt.done // so every GET sent before the seek is in the log
	}
	ls.mu.Lock()
	logged := len(ls.log)
	ls.mu.Unlock()
	for _, off := range []int64{seek - int64(len(buf)), seek} {
		if err := checkRead(context.Background(), r2, data, buf, off); err != nil {
			t.Fatal(err)
		}
	}
	ls.mu.Lock()
	for _, g := range ls.log[logged:] {
		if g[0] < seek+int64(len(buf)) && seek-int64(len(buf)) < g[0]+g[1] {
			t.Errorf("GET %d+%d after a seek inside the window to %d", g[0], g[1], seek)
		}
	}
	ls.mu.Unlock()
	r2.mu.Lock()
	window := r2.window
	r2.mu.Unlock()
	if window == 0 {
		t.Fatal("a seek inside the window reset it")
	}
}

func TestConcurrentOneReader(t *testing.T) {
	f := newFixture(t)
	pool := NewPool(f.st, smallOpts())
	data := randBytes(11, 12*mib+3)
	etag := f.put(t, "one", data)
	r := pool.Open("one", etag, int64(len(data)))
	defer r.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			buf := make([]byte, 128<<10)
			if g%2 == 0 {
				// Stripes read sequentially by several goroutines at once.
				stripe := int64(len(data)) / 8
				for off := int64(g/2) * stripe; off < int64(g/2+1)*stripe; off += int64(len(buf)) {
					if err := checkRead(context.Background(), r, data, buf, off); err != nil {
						errs <- fmt.Errorf("goroutine %d at %d: %w", g, off, err)
						return
					}
				}
				return
			}
			rng := rand.New(rand.NewPCG(uint64(g), 3))
			for range 30 {
				off := rng.Int64N(int64(len(data)))
				if err := checkRead(context.Background(), r, data, buf[:1+rng.IntN(len(buf))], off); err != nil {
					errs <- fmt.Errorf("goroutine %d at %d: %w", g, off, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Many readers stream at once under a small budget: the budget holds, all
// bytes are right, and everything is returned at Close.
func TestConcurrentReadersBudget(t *testing.T) {
	f := newFixture(t)
	o := smallOpts()
	o.MemoryTarget = 6 * mib
	o.MaxWindow = 3 * mib
	pool := NewPool(f.st, o)
	data := randBytes(13, 6*mib+777)
	etag := f.put(t, "many", data)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			r := pool.Open("many", etag, int64(len(data)))
			defer r.Close()
			buf := make([]byte, 128<<10)
			for off := int64(0); off < int64(len(data)); off += int64(len(buf)) {
				if err := checkRead(context.Background(), r, data, buf, off); err != nil {
					errs <- fmt.Errorf("reader %d at %d: %w", g, off, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if pk := pool.peak.Load(); pk > o.MemoryTarget+o.PartSize {
		t.Fatalf("peak MemoryInUse %d over target %d + one part", pk, o.MemoryTarget)
	}
	if pk := pool.peak.Load(); pk < o.MemoryTarget/2 {
		t.Fatalf("peak MemoryInUse %d: 16 streams did not use the budget", pk)
	}
	if m := pool.MemoryInUse(); m != 0 {
		t.Fatalf("MemoryInUse after Close = %d", m)
	}
	if a := pool.active.Load(); a != 0 {
		t.Fatalf("%d readers still counted active", a)
	}
}

// 100 open files that each started streaming hold no more than the budget.
func TestManyOpenReaders(t *testing.T) {
	f := newFixture(t)
	o := smallOpts()
	o.MemoryTarget = 16 * mib
	pool := NewPool(f.st, o)
	data := randBytes(17, 4*mib)
	etag := f.put(t, "open100", data)
	var rs []*Reader
	buf := make([]byte, 128<<10)
	for i := range 100 {
		r := pool.Open("open100", etag, int64(len(data)))
		rs = append(rs, r)
		for off := int64(0); off < 1*mib; off += int64(len(buf)) {
			if err := checkRead(context.Background(), r, data, buf, off+int64(i)); err != nil {
				t.Fatalf("reader %d: %v", i, err)
			}
		}
	}
	if pk := pool.peak.Load(); pk > o.MemoryTarget {
		t.Fatalf("peak MemoryInUse %d over target %d", pk, o.MemoryTarget)
	}
	for _, r := range rs {
		r.Close()
	}
	if m := pool.MemoryInUse(); m != 0 {
		t.Fatalf("MemoryInUse after Close = %d", m)
	}
}

// Readers that stopped reading but stay open give their buffers to a reader
// that streams, so it still gets part-sized GETs.
func TestIdleReadersYield(t *testing.T) {
	old := idleAfter
	idleAfter = 50 * time.Millisecond
	t.Cleanup(func() { idleAfter = old })
	f := newFixture(t)
	o := smallOpts()
	o.MemoryTarget = 8 * mib
	pool := NewPool(f.st, o)
	data := randBytes(19, 8*mib)
	etag := f.put(t, "idle", data)
	buf := make([]byte, 128<<10)
	for range 10 {
		r := pool.Open("idle", etag, int64(len(data)))
		defer r.Close()
		for off := int64(0); off < 1*mib; off += int64(len(buf)) {
			if err := checkRead(context.Background(), r, data, buf, off); err != nil {
				t.Fatal(err)
			}
		}
	}
	if m := pool.MemoryInUse(); m < o.MemoryTarget/2 {
		t.Fatalf("idle readers hold only %d bytes: the test needs a full budget", m)
	}
	time.Sleep(2 * idleAfter) // only makes them idle; nothing is timed
	before := f.gets()
	r := pool.Open("idle", etag, int64(len(data)))
	defer r.Close()
	sameBytes(t, "streaming reader", readSeq(t, r, 128<<10), data)
	// Without the idle readers' memory every 128 KiB read would be its own GET (64).
	if gets := f.gets() - before; gets > 8+8 {
		t.Fatalf("%d GETs for 8 MiB next to idle readers", gets)
	}
}

func TestStaleObject(t *testing.T) {
	f := newFixture(t)
	o := smallOpts()
	o.MaxWindow = 2 * mib
	pool := NewPool(f.st, o)
	v1 := randBytes(21, 8*mib)
	v2 := randBytes(22, 8*mib)
	etag := f.put(t, "stale", v1)
	r := pool.Open("stale", etag, int64(len(v1)))
	defer r.Close()
	buf := make([]byte, 128<<10)
	if err := checkRead(context.Background(), r, v1, buf, 0); err != nil {
		t.Fatal(err)
	}
	f.srv.Put(t, f.b, "stale", v2)
	var staleAt int64 = -1
	for off := int64(len(buf)); off < int64(len(v1)); off += int64(len(buf)) {
		err := checkRead(context.Background(), r, v1, buf, off)
		if errors.Is(err, ErrStale) {
			staleAt = off
			break
		}
		if err != nil {
			t.Fatalf("at %d: %v (want old bytes or ErrStale)", off, err)
		}
	}
	if staleAt < 0 {
		t.Fatal("read the whole object after it was replaced without ErrStale")
	}
	// Sticky: every later read, anywhere, is stale.
	for _, off := range []int64{0, staleAt, int64(len(v1)) - 10} {
		if _, err := r.ReadAt(context.Background(), buf, off); !errors.Is(err, ErrStale) {
			t.Fatalf("read at %d after stale: %v", off, err)
		}
	}
	// A fresh reader of the new version reads it.
	info, err := f.st.Head(context.Background(), "stale")
	if err != nil {
		t.Fatal(err)
	}
	r2 := pool.Open("stale", info.ETag, info.Size)
	defer r2.Close()
	sameBytes(t, "new version", readSeq(t, r2, 1*mib), v2)
}

// Reads that arrive slightly out of order (FUSE async reads) keep the
// window: they cost no more GETs than reading in order.
func TestReorderKeepsWindow(t *testing.T) {
	f := newFixture(t)
	pool := NewPool(f.st, smallOpts())
	data := randBytes(31, 16*mib)
	etag := f.put(t, "reorder", data)
	const chunk = 128 << 10
	offsets := func(reorder bool) []int64 {
		var offs []int64
		for off := int64(0); off < int64(len(data)); off += chunk {
			offs = append(offs, off)
		}
		if reorder {
			for i := 0; i+3 < len(offs); i += 5 {
				offs[i], offs[i+1], offs[i+3] = offs[i+3], offs[i], offs[i+1]
			}
		}
		return offs
	}
	count := func(reorder bool) int64 {
		before := f.gets()
		r := pool.Open("reorder", etag, int64(len(data)))
		defer r.Close()
		buf := make([]byte, chunk)
		for _, off := range offsets(reorder) {
			if err := checkRead(context.Background(), r, data, buf, off); err != nil {
				t.Fatalf("at %d: %v", off, err)
			}
		}
		return f.gets() - before
	}
	inOrder, reordered := count(false), count(true)
	t.Logf("GETs: in order %d, reordered %d", inOrder, reordered)
	if reordered > inOrder+2 {
		t.Fatalf("reordering cost %d GETs, in order %d: the window was reset", reordered, inOrder)
	}
	if inOrder > 16+8 {
		t.Fatalf("%d GETs for 16 parts", inOrder)
	}
	// Kernel-style concurrency: 4 readers take the next offset in turn.
	before := f.gets()
	r := pool.Open("reorder", etag, int64(len(data)))
	defer r.Close()
	var next int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			buf := make([]byte, chunk)
			for {
				mu.Lock()
				off := next
				next += chunk
				mu.Unlock()
				if off >= int64(len(data)) {
					return
				}
				if err := checkRead(context.Background(), r, data, buf, off); err != nil {
					t.Errorf("at %d: %v", off, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if gets := f.gets() - before; gets > inOrder+4 {
		t.Fatalf("async-style reads: %d GETs, in order %d", gets, inOrder)
	}
}

// A prefetch that failed (after the store's retries) does not fail reads.
func TestFailedPrefetchRecovers(t *testing.T) {
	f := newFixture(t)
	o := smallOpts()
	data := randBytes(41, 6*mib)
	etag := f.put(t, "fail", data)
	// Every part (> 128 KiB) fails once; the retries of 128 KiB reads pass.
	fs := &failingStore{Store: f.st, fail: map[int64]int{}, failOver: 128 << 10, seen: map[[2]int64]bool{}}
	pool := NewPool(fs, o)
	r := pool.Open("fail", etag, int64(len(data)))
	defer r.Close()
	sameBytes(t, "with failures", readSeq(t, r, 128<<10), data)
	if fs.injected < 5 {
		t.Fatalf("only %d failures injected", fs.injected)
	}
	// A later read at a failed part's offset works too.
	if err := checkRead(context.Background(), r, data, make([]byte, 1000), 0); err != nil {
		t.Fatal(err)
	}
	// Failing twice in a row is an error, not wrong bytes; the next read works.
	r2 := pool.Open("fail", etag, int64(len(data)))
	defer r2.Close()
	fs.mu.Lock()
	fs.failOver = 0
	fs.fail[3*mib] = 2
	fs.mu.Unlock()
	if err := checkRead(context.Background(), r2, data, make([]byte, 1000), 3*mib); err == nil {
		t.Fatal("read succeeded though its GET and the retry failed")
	}
	if err := checkRead(context.Background(), r2, data, make([]byte, 1000), 3*mib); err != nil {
		t.Fatalf("read after a failure: %v", err)
	}
}

func TestCancelAndClose(t *testing.T) {
	f := newFixture(t)
	pool := NewPool(f.st, smallOpts())
	data := randBytes(51, 4*mib)
	etag := f.put(t, "cancel", data)
	r := pool.Open("cancel", etag, int64(len(data)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.ReadAt(ctx, make([]byte, 1000), 2*mib); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v", err)
	}
	// A cancelled read does not poison the next one.
	buf := make([]byte, 128<<10)
	if err := checkRead(context.Background(), r, data, buf, 2*mib); err != nil {
		t.Fatal(err)
	}
	if err := checkRead(context.Background(), r, data, buf, 2*mib+int64(len(buf))); err != nil {
		t.Fatal(err)
	}
	r.Close()
	r.Close()
	if m := pool.MemoryInUse(); m != 0 {
		t.Fatalf("MemoryInUse after Close = %d", m)
	}
	if _, err := r.ReadAt(context.Background(), buf, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
	// Close while reads are in flight: they end, memory returns.
	r3 := pool.Open("cancel", etag, int64(len(data)))
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			b := make([]byte, 1*mib)
			for off := int64(i) * mib; ; off = (off + mib) % int64(len(data)) {
				if _, err := r3.ReadAt(context.Background(), b, off); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("read during Close: %v", err)
					}
					return
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	r3.Close()
	wg.Wait()
	if m := pool.MemoryInUse(); m != 0 {
		t.Fatalf("MemoryInUse after Close during reads = %d", m)
	}
}

func TestThroughputLimit(t *testing.T) {
	// 0.04 Gbps = 5 MB/s; 3 MB beyond the 1 MB burst takes at least 0.6 s.
	// Only a lower bound: a slow machine can only make it longer.
	b := newTokenBucket(0.04e9/8, 1e6)
	start := time.Now()
	for range 4 {
		if err := b.wait(context.Background(), 1e6); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 550*time.Millisecond {
		t.Fatalf("4 MB at 5 MB/s with 1 MB burst took %v", d)
	}
}

func TestPrioSem(t *testing.T) {
	s := newPrioSem(1)
	if err := s.acquire(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 2)
	var wg sync.WaitGroup
	wg.Go(func() {
		s.acquire(context.Background(), false)
		order <- "lo"
		s.release()
	})
	for { // wait until the low-priority waiter queued
		s.mu.Lock()
		n := len(s.lo)
		s.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	wg.Go(func() {
		s.acquire(context.Background(), true)
		order <- "hi"
		s.release()
	})
	for {
		s.mu.Lock()
		n := len(s.hi)
		s.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.acquire(ctx, true); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled acquire: %v", err)
	}
	s.release()
	wg.Wait()
	if a, b := <-order, <-order; a != "hi" || b != "lo" {
		t.Fatalf("order %s, %s", a, b)
	}
	if s.free != 1 {
		t.Fatalf("free = %d after all released", s.free)
	}
}

func TestMountDevice(t *testing.T) {
	if got := unescapeMountinfo(`/tmp/a\040b\134c`); got != `/tmp/a b\c` {
		t.Fatalf("unescape: %q", got)
	}
	dev, err := mountDevice("/")
	if err != nil || !strings.Contains(dev, ":") {
		t.Fatalf("mountDevice(/) = %q, %v", dev, err)
	}
	if _, err := mountDevice(t.TempDir()); err == nil {
		t.Fatal("a plain directory has a mount device")
	}
}
