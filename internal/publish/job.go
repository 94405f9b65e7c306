package publish

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/s3mount/s3mount/internal/spool"
)

// Queue runs the publication jobs of a mount: a Publisher does each
// publication's S3 calls, Timing says when, a Scheduler fires jobs (at most
// Publishers at once).
type Queue struct {
	pub    *Publisher
	timing Timing
	sched  *Scheduler
	report func(Result, error)
}

// NewQueue makes a queue; report hears every publication's result (the
// mount's statistics).
func NewQueue(pub *Publisher, timing Timing, workers int, report func(Result, error)) *Queue {
	if report == nil {
		report = func(Result, error) {}
	}
	return &Queue{pub: pub, timing: timing, sched: NewScheduler(workers), report: report}
}

// Timing is the queue's timing.
func (q *Queue) Timing() Timing { return q.timing }

// Stop cancels waiting jobs and waits for running ones.
func (q *Queue) Stop() { q.sched.Stop() }

// Delays is how late scheduled publications started past their due time.
func (q *Queue) Delays() DelaySnapshot { return q.sched.Delays() }

// Subject is a file as its publication job sees it: what vfs answers.
type Subject interface {
	File
	// Next is what a publication of the file would do now.
	Next() Work
	// MarkGap writes the marker of drops that no later write carried and
	// reports whether drops are still unmarked (no room even for the
	// marker: a publication frees it).
	MarkGap() (unmarked bool)
	// Clean lets go of the local bytes of a published file nobody has
	// open.
	Clean()
	// SelfCopy: a copy of the object onto itself (NeedAttrs) runs until
	// done is called. A listing S3 gives meanwhile may leave the object
	// out (MinIO's does).
	SelfCopy() (done func())
}

// Need is what a file needs from S3.
type Need uint8

const (
	NeedNothing Need = iota
	NeedData         // local bytes S3 does not have
	NeedAttrs        // only attributes changed (a self-copy)
)

// Work is a file's state as its job needs it.
type Work struct {
	Need  Need
	Spool *spool.File // the file's spool file (nil: none)
	// Key, ETag and Size: the object an attribute-only change copies.
	Key, ETag string
	Size      int64
	Unmarked  bool     // drops not yet marked keep the file scheduled
	Idle      bool     // no open handle
	Log       LogState // when a log's next publication is due
}

// Job is one file's publication job. Its token admits one publication,
// rename, unlink or truncate of the file at a time; it keeps the outcome
// close, fsync and status report; a failed publication is retried with
// backoff whoever asked for it (close, fsync, the schedule, recovery), and
// a partial one (whole lines of an open log) is followed by the next.
type Job struct {
	q  *Queue
	id uint64
	s  Subject

	token sync.Mutex

	mu       sync.Mutex
	err      error     // the last publication's outcome
	failures int       // failed publications in a row
	last     time.Time // last successful publication
	// leftFailures: publications in a row that could not delete the old
	// key of the file's rename, or abort the uploads its journal keeps.
	leftFailures int
}

// NewJob makes the job of file id (stable while the file exists; it moves
// with the file on rename).
func (q *Queue) NewJob(id uint64, s Subject) *Job {
	return &Job{q: q, id: id, s: s}
}

// Hold takes the job's token: nothing of this file is published until
// release.
func (j *Job) Hold() (release func()) {
	j.token.Lock()
	return j.token.Unlock
}

// HoldBoth takes the tokens of a and b (b may be nil or a) in id order, so
// that two renames never deadlock.
func HoldBoth(a, b *Job) (release func()) {
	if b == nil || b == a {
		return a.Hold()
	}
	if b.id < a.id {
		a, b = b, a
	}
	ra, rb := a.Hold(), b.Hold()
	return func() { rb(); ra() }
}

// Publish makes S3 hold the file's local bytes. final publishes
// everything; otherwise File.End chooses when it takes the end: an open
// log's publication stops at the last newline so readers elsewhere never
// see half a line, a closed file's takes everything. A gap left by
// dropped writes is marked first if MarkGap finds it due (no writer).
func (j *Job) Publish(ctx context.Context, final bool) error {
	// An interrupted close or fsync must not abandon a publication S3 may
	// already have applied: the journal would miss it and the next write
	// conflict with ourselves.
	ctx = context.WithoutCancel(ctx)
	defer j.Hold()()
	unmarked := j.s.MarkGap()
	err := j.publishHeld(ctx, final)
	if err == nil && unmarked && !j.s.MarkGap() {
		// The drop marker needed the room this publication freed.
		err = j.publishHeld(ctx, final)
	}
	if err == nil && j.s.Next().Need == NeedAttrs {
		// Attributes the publication did not carry (an append to a
		// directory bucket's object keeps its metadata): stored now, or
		// a clean unmount would leave them to the journal (which keeps
		// no mtime) and a timer's publication would leave them waiting.
		err = j.publishHeld(ctx, final)
	}
	return err
}

// publishHeld is one publication with the token held.
func (j *Job) publishHeld(ctx context.Context, final bool) error {
	w := j.s.Next()
	var res Result
	var err error
	switch w.Need {
	case NeedNothing:
		return nil
	case NeedAttrs:
		done := j.s.SelfCopy()
		res, err = j.q.pub.SetAttrs(ctx, w.Spool, w.Key, w.ETag, w.Size, j.s)
		done()
	default:
		res, err = j.q.pub.Publish(ctx, w.Spool, j.s, final)
	}
	j.q.report(res, err)
	failures := j.record(err)
	if n := j.recordLeft(err == nil && (res.OldKeyDue || res.AbortsDue)); n > 0 {
		// The delete (the abort) is retried on its own backoff, not at
		// the next interval's publication (there may be none: nothing
		// written).
		j.At(time.Now().Add(j.q.timing.LeftRetryAfter(n)))
	}
	switch {
	case errors.Is(err, ErrHeld):
		// A wait, not a failure: tried again at the interval (the
		// other file's going wakes it sooner: vfs releaseHeld).
		j.After(j.q.timing.Interval)
	case err != nil && !isGaveUp(err):
		j.At(time.Now().Add(j.q.timing.RetryAfter(failures)))
	}
	return err
}

// record keeps a publication's outcome and returns the failures in a row
// (a wait for the object key, ErrHeld, is none and ends the row).
func (j *Job) record(err error) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.err = err
	switch {
	case errors.Is(err, ErrHeld):
		j.failures = 0
	case err != nil:
		j.failures++
	default:
		j.failures = 0
		j.last = time.Now()
	}
	return j.failures
}

// recordLeft counts successful publications in a row that left the old
// key of the file's rename or uploads to abort (due) and returns the
// count (0: not due).
func (j *Job) recordLeft(due bool) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	if due {
		j.leftFailures++
	} else {
		j.leftFailures = 0
	}
	return j.leftFailures
}

// Outcome is the last publication's error (nil: it succeeded; ErrHeld:
// it waits) and when the file was last published.
func (j *Job) Outcome() (err error, last time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err, j.last
}

// At asks for a publication at t (or earlier if already asked).
func (j *Job) At(t time.Time) { j.q.sched.At(j.id, t, j.fire) }

// After asks for a publication d from now.
func (j *Job) After(d time.Duration) { j.At(time.Now().Add(d)) }

// Now asks for a publication at once: the buffer or the spool disk is
// full.
func (j *Job) Now() { j.At(time.Now()) }

// Wrote: a log got its first unpublished write. Closed: a log's last
// writer closed. Both set its next publication (Timing.LogDue), later or
// earlier than a deadline already set.
func (j *Job) Wrote()  { j.logDue() }
func (j *Job) Closed() { j.logDue() }

func (j *Job) logDue() {
	s := j.s.Next().Log
	j.mu.Lock()
	s.Published = !j.last.IsZero()
	j.mu.Unlock()
	s.Phase = phase(j.id)
	j.q.sched.Reschedule(j.id, j.q.timing.LogDue(s, time.Now()), j.fire)
}

// phase is id's place in [0, 1) (LogState.Phase): ids are handed out in
// sequence, and multiples of the golden ratio's fraction spread any run of
// them evenly.
func phase(id uint64) float64 {
	return float64((id*0x9E3779B97F4A7C15)>>11) / (1 << 53)
}

// Cancel drops a waiting publication (the file was unlinked).
func (j *Job) Cancel() { j.q.sched.Cancel(j.id) }

// fire is a publication the scheduler fired: a log's (up to its last
// whole line while open), a full buffer's (an open file written whole is
// published as far as it is, to free room), or a retry (publishHeld
// scheduled it). Not final: whether writers have the file open is
// decided when the end is taken (File.End), not here — an appender that
// opens it and writes half a line in between would have that half line
// published as if the file were closed.
func (j *Job) fire() {
	if err := j.Publish(context.Background(), false); err != nil {
		return
	}
	w := j.s.Next()
	switch {
	case w.Need == NeedData || w.Unmarked:
		// Only whole lines were published; the rest waits for its
		// newline or the last close. Drops not yet marked keep the file
		// scheduled: the marker is written once a publication freed room.
		j.After(j.q.timing.Interval)
	case w.Idle:
		j.s.Clean()
	}
}

func isGaveUp(err error) bool { return errors.Is(err, ErrGaveUp) }

// Busy reports whether the job's token is taken (a publication, rename,
// unlink or truncate of the file runs).
func (j *Job) Busy() bool {
	if !j.token.TryLock() {
		return true
	}
	j.token.Unlock()
	return false
}

// Waiting reports whether a publication is scheduled.
func (j *Job) Waiting() bool {
	_, ok := j.q.sched.Pending(j.id)
	return ok
}

// Due reports whether a publication runs now or is past its deadline
// (about to run).
func (j *Job) Due() bool { return j.q.sched.Due(j.id) }

// RunWaiting runs a scheduled publication now, as if its deadline had
// come, and reports whether one was waiting.
func (j *Job) RunWaiting() bool {
	if !j.Waiting() {
		return false
	}
	j.Cancel()
	j.fire()
	return true
}
