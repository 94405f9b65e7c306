package publish

import (
	"sync/atomic"
	"time"
)

// DelayBuckets are the upper bounds, in seconds, of the publication delay
// histogram: from a timer's jitter to publishers minutes behind.
var DelayBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300}

// Delays is a histogram of how long scheduled publications waited past
// their due time for a free publisher: near zero while the publishers keep
// up; a log whose publications start late reaches S3 later than
// --upload-interval promises.
type Delays struct {
	counts [17]atomic.Uint64 // per bucket of DelayBuckets, then +Inf
	sum    atomic.Int64      // nanoseconds
}

// Observe records one publication that started d after it was due.
func (h *Delays) Observe(d time.Duration) {
	d = max(d, 0)
	s := d.Seconds()
	i := 0
	for i < len(DelayBuckets) && s > DelayBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// DelaySnapshot is the histogram in Prometheus' form: Buckets maps each
// upper bound to the count of observations at or below it.
type DelaySnapshot struct {
	Count   uint64
	Sum     time.Duration
	Buckets map[float64]uint64
}

// Snapshot copies the histogram.
func (h *Delays) Snapshot() DelaySnapshot {
	s := DelaySnapshot{Buckets: make(map[float64]uint64, len(DelayBuckets)), Sum: time.Duration(h.sum.Load())}
	for i, le := range DelayBuckets {
		s.Count += h.counts[i].Load()
		s.Buckets[le] = s.Count
	}
	s.Count += h.counts[len(DelayBuckets)].Load()
	return s
}
