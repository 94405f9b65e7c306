package readahead

import (
	"context"
	"sync"
	"time"
)

// prioSem is a counting semaphore with two queues: GETs a reader is blocked
// on now go before speculative prefetch, so a random read is not stuck behind
// other files' read-ahead.
type prioSem struct {
	mu     sync.Mutex
	free   int
	hi, lo []chan struct{}
}

func newPrioSem(n int) *prioSem { return &prioSem{free: n} }

func (s *prioSem) acquire(ctx context.Context, urgent bool) error {
	s.mu.Lock()
	if s.free > 0 && len(s.hi) == 0 && (urgent || len(s.lo) == 0) {
		s.free--
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	if urgent {
		s.hi = append(s.hi, ch)
	} else {
		s.lo = append(s.lo, ch)
	}
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		if removeWaiter(&s.hi, ch) || removeWaiter(&s.lo, ch) {
			s.mu.Unlock()
			return ctx.Err()
		}
		s.mu.Unlock()
		// Granted while we gave up: pass the slot on.
		s.release()
		return ctx.Err()
	}
}

func removeWaiter(q *[]chan struct{}, ch chan struct{}) bool {
	for i, c := range *q {
		if c == ch {
			*q = append((*q)[:i], (*q)[i+1:]...)
			return true
		}
	}
	return false
}

// release hands the slot to the first waiter, urgent ones first.
func (s *prioSem) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range []*[]chan struct{}{&s.hi, &s.lo} {
		if len(*q) > 0 {
			ch := (*q)[0]
			*q = (*q)[1:]
			close(ch)
			return
		}
	}
	s.free++
}

// tokenBucket limits bytes per second over all GETs (GCRA: a virtual
// arrival time that each request pushes forward by its size / rate).
type tokenBucket struct {
	mu    sync.Mutex
	rate  float64       // bytes per second
	burst time.Duration // how far ahead of real time requests may run
	tat   time.Time     // theoretical arrival time of the next byte
}

func newTokenBucket(bytesPerSec float64, burstBytes int64) *tokenBucket {
	return &tokenBucket{
		rate:  bytesPerSec,
		burst: time.Duration(float64(burstBytes) / bytesPerSec * float64(time.Second)),
	}
}

// wait blocks until n more bytes may be requested.
func (b *tokenBucket) wait(ctx context.Context, n int64) error {
	b.mu.Lock()
	now := time.Now()
	if b.tat.Before(now) {
		b.tat = now
	}
	b.tat = b.tat.Add(time.Duration(float64(n) / b.rate * float64(time.Second)))
	delay := b.tat.Sub(now) - b.burst
	b.mu.Unlock()
	if delay <= 0 {
		return nil
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
