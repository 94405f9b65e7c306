package readahead

import (
	"bytes"
	"context"
	"testing"
)

// ReadSlices hands out the pool's buffers: they hold the right bytes, stay
// valid (not reused) until release even when the reader streams on, is
// closed, and other readers need memory; and memory returns after release.
func TestReadSlicesKeepBuffersUntilRelease(t *testing.T) {
	f := newFixture(t)
	o := smallOpts()
	pool := NewPool(f.st, o)
	data := randBytes(31, 4*mib)
	etag := f.put(t, "slices", data)
	r := pool.Open("slices", etag, int64(len(data)))
	ctx := context.Background()
	type held struct {
		off     int64
		bufs    [][]byte
		release func()
	}
	var hold []held
	const chunk = 256 << 10
	for off := int64(0); off < int64(len(data)); off += chunk {
		bufs, n, release, err := r.ReadSlices(ctx, make([]byte, chunk), off)
		if err != nil {
			t.Fatalf("at %d: %v", off, err)
		}
		if n != chunk {
			t.Fatalf("at %d: %d bytes", off, n)
		}
		hold = append(hold, held{off, bufs, release})
	}
	// A second reader churns through the pool's memory meanwhile.
	r2 := pool.Open("slices", etag, int64(len(data)))
	readSeq(t, r2, 128<<10)
	r2.Close()
	r.Close()
	for _, h := range hold {
		got := bytes.Join(h.bufs, nil)
		if !bytes.Equal(got, data[h.off:h.off+chunk]) {
			t.Fatalf("slices of the read at %d changed before release", h.off)
		}
		h.release()
		h.release() // idempotent
	}
	if m := pool.MemoryInUse(); m != 0 {
		t.Fatalf("%d bytes still charged after every release", m)
	}
}
