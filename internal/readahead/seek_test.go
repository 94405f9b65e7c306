package readahead

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
)

// One 256 KiB random pread reaches us as the kernel splits it at its
// default read-ahead: 128 KiB, then two 128 KiB reads at once (the second
// half and the kernel's own read-ahead). They must cost GETs of those bytes
// only, never a speculative window.
func TestRandomSplitReads(t *testing.T) {
	f := newFixture(t)
	data := randBytes(71, 32*mib)
	etag := f.put(t, "split", data)
	ls := &loggingStore{Store: f.st}
	o := smallOpts()
	o.PartSize = 8 * mib
	r := NewPool(ls, o).Open("split", etag, int64(len(data)))
	defer r.Close()
	const piece = 128 << 10
	offs := rand.New(rand.NewPCG(3, 4)).Perm(len(data)/(4*piece) - 1)[:30]
	for _, o := range offs {
		off := int64(o) * 4 * piece
		if err := checkRead(context.Background(), r, data, make([]byte, piece), off); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for k := int64(1); k <= 2; k++ {
			wg.Go(func() {
				if err := checkRead(context.Background(), r, data, make([]byte, piece), off+k*piece); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	r.Close() // every GET sent is in the log
	var bytes int64
	for _, g := range ls.log {
		bytes += g[1]
		in := false
		for _, o := range offs {
			off := int64(o) * 4 * piece
			in = in || g[0] >= off && g[0]+g[1] <= off+3*piece
		}
		if !in {
			t.Errorf("GET %d+%d is outside every read", g[0], g[1])
		}
	}
	if n := len(ls.log); n > 3*len(offs) {
		t.Errorf("%d GETs for %d preads", n, len(offs))
	}
	if want := int64(len(offs)) * 3 * piece; bytes != want {
		t.Errorf("fetched %d bytes, the reads wanted %d", bytes, want)
	}
}

// A read far behind the stream (a late kernel read) is served without
// resetting the stream; a backward seek followed by sequential reads moves
// the stream there and streams again.
func TestLateReadAndBackwardSeek(t *testing.T) {
	f := newFixture(t)
	data := randBytes(73, 24*mib)
	etag := f.put(t, "back", data)
	r := NewPool(f.st, smallOpts()).Open("back", etag, int64(len(data)))
	defer r.Close()
	buf := make([]byte, 128<<10)
	for off := int64(0); off < 8*mib; off += int64(len(buf)) {
		if err := checkRead(context.Background(), r, data, buf, off); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	window, next := r.window, r.next
	r.mu.Unlock()
	if err := checkRead(context.Background(), r, data, buf, 2*mib+100); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	if r.window != window || r.next != next {
		t.Errorf("a late read moved the stream: window %d -> %d, next %d -> %d", window, r.window, next, r.next)
	}
	r.mu.Unlock()
	before := f.gets()
	for off := int64(mib); off < 13*mib; off += int64(len(buf)) {
		if err := checkRead(context.Background(), r, data, buf, off); err != nil {
			t.Fatal(err)
		}
	}
	// 12 MiB re-read from 1 MiB: a few small GETs until the run proves
	// sequential, then 1 MiB parts and the ramp's smaller ones; 96 reads
	// of their own would be 96 GETs.
	if gets := f.gets() - before; gets > 12+12 {
		t.Fatalf("%d GETs re-reading 12 MiB after a backward seek", gets)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start != mib || r.window == 0 {
		t.Fatalf("after the backward seek: stream start %d, window %d", r.start, r.window)
	}
}

// Random small reads fetch what they ask and nothing more (the kernel, at
// the read-ahead s3mount sets, passes a random pread on as one read of its
// size): no 128 KiB minimum, no window.
func TestRandomReadsFetchWhatTheyAsk(t *testing.T) {
	f := newFixture(t)
	data := randBytes(73, 32*mib)
	etag := f.put(t, "exact", data)
	ls := &loggingStore{Store: f.st}
	pool := NewPool(ls, smallOpts())
	r := pool.Open("exact", etag, int64(len(data)))
	defer r.Close()
	const piece = 4096
	offs := rand.New(rand.NewPCG(5, 6)).Perm(len(data)/(2*mib) - 1)[:12]
	var want int64
	for i, o := range offs {
		off := int64(o+1)*2*mib + int64(i)*piece
		n := piece * (1 + i%3)
		if err := checkRead(context.Background(), r, data, make([]byte, n), off); err != nil {
			t.Fatal(err)
		}
		want += int64(n)
	}
	r.Close()
	var got int64
	for _, g := range ls.log {
		got += g[1]
	}
	if got != want || len(ls.log) != len(offs) {
		t.Fatalf("%d GETs of %d bytes for %d random reads of %d bytes", len(ls.log), got, len(offs), want)
	}
	if pk := pool.peak.Load(); pk != 0 {
		t.Fatalf("random reads held %d bytes of read-ahead budget", pk)
	}
}
