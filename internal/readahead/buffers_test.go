package readahead

import (
	"testing"
	"time"
)

func TestBuffersReuseAndIdleDrop(t *testing.T) {
	for _, c := range []int{1 << 20, hugeClass} { // from the heap; mapped
		var b buffers
		b.init(3*int64(c), time.Hour)
		x := b.get(int64(c/2), c, 1<<40)
		if len(x) != c/2 || cap(x) != c {
			t.Fatalf("get: len %d cap %d", len(x), cap(x))
		}
		x[0], x[c/2-1] = 1, 2 // writable
		b.put(x)
		if y := b.get(int64(c), c, 1<<40); &y[0] != &x[:1][0] {
			t.Errorf("class %d: a released buffer of the same class was not reused", c)
		} else {
			b.put(y)
		}
		// Beyond maxFree they are let go.
		for range 5 {
			b.put(newBuf(c))
		}
		if got := b.bytes(); got != 3*int64(c) {
			t.Errorf("class %d: free list holds %d bytes, want the %d bound", c, got, 3*c)
		}
		// A new buffer of another class leaves no more free bytes than room.
		z := b.get(1, c/2, int64(c))
		if got := b.bytes(); got != int64(c) {
			t.Errorf("class %d: free list holds %d bytes with room for %d", c, got, c)
		}
		b.put(z)
		// Idle: dropped once a timer fires without a get in between (an
		// hour above, so the puts could not race it; now shortened).
		b.mu.Lock()
		b.idle = 20 * time.Millisecond
		b.timer.Reset(b.idle)
		b.mu.Unlock()
		deadline := time.Now().Add(30 * time.Second)
		for b.bytes() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("class %d: free list still holds %d bytes while idle", c, b.bytes())
			}
			time.Sleep(10 * time.Millisecond)
		}
		// And it keeps working afterwards.
		b.put(b.get(int64(c), c, 1<<40))
		if b.bytes() != int64(c) {
			t.Errorf("class %d: after the drop: free list %d bytes, want %d", c, b.bytes(), c)
		}
	}
}
