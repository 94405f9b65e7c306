package readahead

import (
	"context"
	"io"
	"sync"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
)

// settle waits until every GET r has in flight is over.
func settle(r *Reader) {
	r.mu.Lock()
	var done []chan struct{}
	for _, pt := range r.parts {
		done = append(done, pt.done)
	}
	r.mu.Unlock()
	for _, d := range done {
		<-d
	}
}

// ahead is how far past the furthest read the reader has scheduled GETs.
func ahead(r *Reader) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next - r.hi
}

// A reader slower than S3 (every GET is over before its next read) has at
// most maxReady parts fetched ahead of it, plus the part it tops up with:
// not the whole window, whose bytes would sit in memory going cold.
func TestSlowReaderPrefetchesLittle(t *testing.T) {
	f := newFixture(t)
	o := smallOpts()
	pool := NewPool(f.st, o)
	data := randBytes(41, 24*mib)
	etag := f.put(t, "slow", data)
	r := pool.Open("slow", etag, int64(len(data)))
	defer r.Close()
	buf := make([]byte, 128<<10)
	var most int64
	for off := int64(0); off < int64(len(data)); off += int64(len(buf)) {
		if err := checkRead(context.Background(), r, data, buf, off); err != nil {
			t.Fatalf("at %d: %v", off, err)
		}
		settle(r)
		most = max(most, ahead(r))
	}
	if lim := (maxReady+1)*o.PartSize + int64(len(buf)); most > lim {
		t.Fatalf("scheduled %d bytes ahead of a slow reader, want ≤ %d (window %d)", most, lim, o.MaxWindow)
	}
	if most < maxReady*o.PartSize {
		t.Fatalf("scheduled at most %d bytes ahead, want ≥ %d: the reader waits on every GET", most, maxReady*o.PartSize)
	}
}

// gatedStore holds back the bodies of GETs from gateAt on until open is
// closed: S3 slower than the reader.
type gatedStore struct {
	s3store.Store
	gateAt int64
	open   chan struct{}
}

func (g *gatedStore) Get(ctx context.Context, key string, off, n int64, ifMatch string) (io.ReadCloser, error) {
	if off >= g.gateAt {
		select {
		case <-g.open:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Store.Get(ctx, key, off, n, ifMatch)
}

// A reader faster than S3 (nothing it asked for ahead has arrived) still
// has its whole window in flight.
func TestFastReaderKeepsWindow(t *testing.T) {
	f := newFixture(t)
	o := smallOpts()
	data := randBytes(43, 24*mib)
	etag := f.put(t, "fast", data)
	g := &gatedStore{Store: f.st, gateAt: 4 * mib, open: make(chan struct{})}
	var once sync.Once
	defer once.Do(func() { close(g.open) })
	pool := NewPool(g, o)
	r := pool.Open("fast", etag, int64(len(data)))
	defer r.Close()
	buf := make([]byte, 128<<10)
	off := int64(0)
	for ; off < g.gateAt; off += int64(len(buf)) {
		if err := checkRead(context.Background(), r, data, buf, off); err != nil {
			t.Fatalf("at %d: %v", off, err)
		}
	}
	// Reads of the last piece again top the stream up without moving it:
	// what has arrived ahead is at most the tail of a part begun below the
	// gate.
	for range 8 {
		if err := checkRead(context.Background(), r, data, buf, off-int64(len(buf))); err != nil {
			t.Fatalf("at %d: %v", off, err)
		}
	}
	if a := ahead(r); a < o.MaxWindow-o.PartSize {
		t.Fatalf("scheduled %d bytes ahead while S3 lags, want the window (%d)", a, o.MaxWindow)
	}
	once.Do(func() { close(g.open) })
	for ; off < int64(len(data)); off += int64(len(buf)) {
		if err := checkRead(context.Background(), r, data, buf, off); err != nil {
			t.Fatalf("at %d: %v", off, err)
		}
	}
}
