package vfs

import (
	"fmt"
	"testing"
	"time"
)

// A long-lived log publishes without end: the ETags a reader may follow stay
// bounded, the newest kept.
func TestOwnETagsStayBounded(t *testing.T) {
	var o ownETags
	for i := 0; i < 10*ownETagsKept; i++ {
		o.add(fmt.Sprintf(`"e%d"`, i))
	}
	if len(o.set) != ownETagsKept || len(o.order) != ownETagsKept {
		t.Fatalf("%d ETags kept (%d in order), want %d", len(o.set), len(o.order), ownETagsKept)
	}
	last := fmt.Sprintf(`"e%d"`, 10*ownETagsKept-1)
	if !o.has(last) || o.has(`"e0"`) {
		t.Fatalf("kept the wrong ETags: newest %v, oldest %v", o.has(last), o.has(`"e0"`))
	}
}

// Lookups of many missing names and many removals leave bounded tables:
// expired entries are swept as the tables grow.
func TestNegativeAndGoneTablesStayBounded(t *testing.T) {
	fs := &FS{negative: map[string]time.Time{}, gone: map[string]time.Time{}}
	fs.opt.NegativeTTL = time.Millisecond
	start := time.Now()
	for i := 0; i < 100000; i++ {
		now := start.Add(time.Duration(i) * time.Millisecond)
		fs.setNegativeLocked(fmt.Sprintf("n%d", i), now)
		fs.markGoneLocked(fmt.Sprintf("g%d", i), start.Add(time.Duration(i)*time.Second))
	}
	if n := len(fs.negative); n > 4096 {
		t.Fatalf("%d negative entries kept for names that expired long ago", n)
	}
	if n := len(fs.gone); n > 4096 {
		t.Fatalf("%d removed names kept for longer than any listing takes", n)
	}
}
