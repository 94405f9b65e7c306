package readahead

import (
	"testing"
	"time"
)

func TestBuffersReuseAndIdleDrop(t *testing.T) {
	var b buffers
	// Idle for an hour: not before the bound is checked, however loaded
	// the machine (a 50 ms idle fired between the puts under load).
	b.init(3<<20, time.Hour)
	const c = 1 << 20
	x := b.get(c/2, c)
	if len(x) != c/2 || cap(x) != c {
		t.Fatalf("get: len %d cap %d", len(x), cap(x))
	}
	b.put(x)
	if y := b.get(c, c); &y[0] != &x[:1][0] {
		t.Error("a released buffer of the same class was not reused")
	} else {
		b.put(y)
	}
	// Beyond maxFree the GC gets them.
	for range 5 {
		b.put(make([]byte, 0, c))
	}
	if got := b.bytes(); got != 3<<20 {
		t.Errorf("free list holds %d bytes, want the 3 MiB bound", got)
	}
	// Idle: dropped (the timer fires after freeIdle without a get).
	b.mu.Lock()
	b.idle = 50 * time.Millisecond
	b.timer.Reset(b.idle)
	b.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for b.bytes() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("free list still holds %d bytes while idle", b.bytes())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And it keeps working afterwards.
	b.put(b.get(c, c))
	if b.bytes() != c {
		t.Errorf("after the drop: free list %d bytes, want %d", b.bytes(), c)
	}
}
