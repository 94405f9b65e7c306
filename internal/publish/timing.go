package publish

import "time"

// Timing is when files are published. Log files (written with O_APPEND)
// are published at most once per Interval while they have unpublished
// data (first unpublished write + interval), and CloseDelay after their
// last close, postponed by every later close: a loop of open-append-close
// costs one publication, not one per iteration. Other writers publish in
// close and fsync and do not wait for a deadline. A full buffer or spool
// disk publishes every dirty file at once.
type Timing struct {
	Interval   time.Duration // --upload-interval
	CloseDelay time.Duration // --close-delay
}

// IntervalFor is the interval for a log of size bytes: copying a multi-GiB
// object on every interval would cost more than it is worth, so past 1 GiB
// the interval grows with the object (1 GiB: 1x, 8 GiB: 8x).
func (t Timing) IntervalFor(size int64) time.Duration {
	iv := t.Interval
	if f := size >> 30; f > 1 {
		iv *= time.Duration(f)
	}
	return iv
}

// LogState is what the schedule of a log file depends on.
type LogState struct {
	DirtySince time.Time // first unpublished write (zero: now)
	Size       int64
	Closed     bool // no writer has it open
	LastClose  time.Time
	// Published: the log was published since the mount began. Phase, in
	// [0, 1), is the log's own share of the spread its first publication
	// comes early by (firstSpread).
	Published bool
	Phase     float64
}

// firstSpread bounds how early a log's first publication comes. Logs
// opened together (a node starting its containers, a remount) would all
// fall due in the same instant, and again an interval after each wave's
// end: 1,000 publications in one second, writes waiting for a core
// meanwhile. The first publication of each comes early by its Phase of
// min(interval, firstSpread) instead, so they are spread over it, and the
// ones after keep that spacing. The interval between two publications is
// unchanged; at most one request more per log per mount.
const firstSpread = time.Minute

// LogDue is when a log's next publication is due.
func (t Timing) LogDue(s LogState, now time.Time) time.Time {
	since := s.DirtySince
	if since.IsZero() {
		since = now
	}
	iv := t.IntervalFor(s.Size)
	at := since.Add(iv)
	if !s.Published {
		at = at.Add(-time.Duration(s.Phase * float64(min(iv, firstSpread))))
	}
	if s.Closed {
		if c := s.LastClose.Add(t.CloseDelay); c.Before(at) {
			at = c
		}
	}
	return at
}

// maxRetryWait bounds the wait between failed attempts: S3 coming back
// is noticed within it.
const maxRetryWait = 5 * time.Second

// RetryAfter is the wait before the next attempt after failures failed
// attempts in a row: 500 ms doubling, up to min(Interval, 5 s), so that a
// throttled or unreachable S3 is not hammered and a short outage costs
// little delay.
func (t Timing) RetryAfter(failures int) time.Duration {
	return backoff(failures, min(t.Interval, maxRetryWait))
}

// maxLeftRetryWait bounds the wait between attempts to delete the old key
// of a renamed file: a bucket may refuse deletes for good (a policy), and
// the file's publications do not wait for it.
const maxLeftRetryWait = 5 * time.Minute

// LeftRetryAfter is the wait before the next attempt to delete a renamed
// file's old key after failures failed ones in a row.
func (t Timing) LeftRetryAfter(failures int) time.Duration {
	return backoff(failures, maxLeftRetryWait)
}

// backoff is 500 ms doubling per failure after the first, up to limit.
func backoff(failures int, limit time.Duration) time.Duration {
	d := 500 * time.Millisecond
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	return max(min(d, limit), time.Millisecond)
}
