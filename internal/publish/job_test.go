package publish

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
	"github.com/s3mount/s3mount/internal/zstore"
)

// fakeSubject is a file as its job sees it: one spool file, dirty until a
// publication took all of it; drops unmarked until MarkGap finds room.
type fakeSubject struct {
	fakeFile
	f *spool.File

	mu       sync.Mutex
	gapRoom  []bool // MarkGap's answers in turn (true: room for the marker)
	unmarked bool
	writers  bool
	cleaned  int
	inEnd    atomic.Int32
	overlap  atomic.Bool
}

func (s *fakeSubject) End(f *spool.File, final bool) (int64, error) {
	if s.inEnd.Add(1) > 1 {
		s.overlap.Store(true)
	}
	defer s.inEnd.Add(-1)
	time.Sleep(time.Millisecond) // widen the window two publications would overlap in
	s.mu.Lock()
	writers := s.writers
	s.mu.Unlock()
	if !final && writers {
		// An open log: whole lines only.
		j := f.Journal()
		b := make([]byte, j.Size)
		if _, err := f.ReadAt(b, 0); err != nil {
			return -1, err
		}
		to := int64(bytes.LastIndexByte(b, '\n') + 1)
		if to <= j.BaseSize {
			return -1, nil
		}
		return to, f.Update(func(jj *spool.Journal) {
			jj.Pending = to
			jj.PubSeq++
			jj.PendingTag = f.ID() + ":" + string(rune('0'+jj.PubSeq))
		})
	}
	return s.fakeFile.End(f, final)
}

func (s *fakeSubject) SelfCopy() func() { return func() {} }

func (s *fakeSubject) Next() Work {
	j := s.f.Journal()
	s.mu.Lock()
	defer s.mu.Unlock()
	w := Work{Spool: s.f, Unmarked: s.unmarked, Idle: !s.writers}
	if j.Kind == spool.KindWhole && j.Dirty || j.Kind == spool.KindAppend && j.Size > j.BaseSize {
		w.Need = NeedData
	}
	return w
}

func (s *fakeSubject) MarkGap() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unmarked && len(s.gapRoom) > 0 {
		room := s.gapRoom[0]
		s.gapRoom = s.gapRoom[1:]
		if room {
			s.unmarked = false
		}
	}
	return s.unmarked
}

func (s *fakeSubject) Clean() {
	s.mu.Lock()
	s.cleaned++
	s.mu.Unlock()
}

func newJob(t *testing.T, mem *memstore.Store, data string) (*Job, *fakeSubject) {
	t.Helper()
	sp, f := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend, Size: 0}, data)
	q := NewQueue(NewPublisher(mem, nil, sp, Config{PartSize: 5 << 20}, nil), Timing{Interval: time.Hour, CloseDelay: time.Hour}, 2, nil)
	t.Cleanup(q.Stop)
	s := &fakeSubject{f: f}
	return q.NewJob(1, s), s
}

// waitFor polls cond for up to a minute (a loaded machine is slow; the
// retry itself is due within a second).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after a minute", what)
		}
	}
}

// A failed publication is retried in the background with no one asking
// again: its outcome shows the error until the retry lands.
func TestJobRetriesAFailedPublication(t *testing.T) {
	mem := memstore.New("b")
	var failed atomic.Bool
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "PutObject" && failed.CompareAndSwap(false, true) {
			return memstore.Fail
		}
		return memstore.Pass
	})
	j, _ := newJob(t, mem, "a1\n")
	if err := j.Publish(context.Background(), true); err == nil {
		t.Fatal("a publication whose PutObject failed succeeded")
	}
	if err, _ := j.Outcome(); err == nil {
		t.Fatal("the outcome does not show the failure")
	}
	if !j.Waiting() {
		t.Fatal("no retry scheduled after a failed publication")
	}
	waitFor(t, "the retry to publish", func() bool {
		data, _, ok := mem.Object("app.log")
		return ok && string(data) == "a1\n"
	})
	waitFor(t, "the outcome to clear", func() bool { err, last := j.Outcome(); return err == nil && !last.IsZero() })
}

// A final publication marks the gap left by dropped writes; when the
// marker had no room it is written once the publication freed some, and
// published in a second publication of the same call.
func TestJobMarksTheGapOnceRoomIsFreed(t *testing.T) {
	mem := memstore.New("b")
	j, s := newJob(t, mem, "a1\n")
	s.unmarked = true
	s.gapRoom = []bool{false, true}
	if err := j.Publish(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if s.unmarked || len(s.gapRoom) != 0 {
		t.Fatalf("the gap is still unmarked after a final publication (answers left %v)", s.gapRoom)
	}
}

// Concurrent publications of one file (close, fsync, the schedule) run
// one at a time.
func TestJobPublishesOneAtATime(t *testing.T) {
	mem := memstore.New("b")
	j, s := newJob(t, mem, "a1\n")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.f.Update(func(jj *spool.Journal) {}); err != nil {
				t.Error(err)
			}
			if err := j.Publish(context.Background(), true); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if s.overlap.Load() {
		t.Fatal("two publications of one file ran at once")
	}
}

// A scheduled publication of an open log that left bytes (no newline yet)
// schedules the next one; once the writer closed, the final publication
// takes the rest and a published file nobody has open is let go.
func TestJobFollowsAPartialPublication(t *testing.T) {
	mem := memstore.New("b")
	j, s := newJob(t, mem, "a1\nhal")
	s.writers = true
	j.fire()
	if data, _, _ := mem.Object("app.log"); string(data) != "a1\n" {
		t.Fatalf("an open log's publication put %q, want its whole lines", data)
	}
	if !j.Waiting() {
		t.Fatal("bytes left after a scheduled publication, and nothing scheduled")
	}
	s.mu.Lock()
	s.writers = false
	s.mu.Unlock()
	j.fire()
	if data, _, _ := mem.Object("app.log"); string(data) != "a1\nhal" {
		t.Fatalf("the final publication put %q", data)
	}
	if s.cleaned != 1 {
		t.Fatalf("a published idle file was let go %d times, want 1", s.cleaned)
	}
}

// A publication waiting for its object key (ErrHeld: the plain d1.gz
// beside the compressed d1) is no failure: its retries stay at the
// interval (the other file's going wakes it sooner) and do not grow the
// backoff of a real failure after them.
func TestJobHeldPublicationWaitsAtTheInterval(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	gz := compress.Gzip.AppendMember(nil, []byte("compressed d1\n"))
	if _, err := mem.Put(ctx, "d1.gz", bytes.NewReader(gz), int64(len(gz)), s3store.Cond{Encoding: &s3store.Encoding{Name: "gzip", Size: 14}}); err != nil {
		t.Fatal(err)
	}
	z := zstore.New(mem, compress.Gzip, []string{"*.log"})
	sp, f := newSpoolFile(t, spool.Journal{Key: "d1.gz", Kind: spool.KindWhole, Dirty: true}, "plain d1.gz\n")
	q := NewQueue(NewPublisher(z, nil, sp, Config{PartSize: 5 << 20}, nil), Timing{Interval: time.Hour, CloseDelay: time.Hour}, 2, nil)
	t.Cleanup(q.Stop)
	j := q.NewJob(1, &fakeSubject{f: f})
	for i := 0; i < 5; i++ {
		before := time.Now()
		if err := j.Publish(ctx, true); !errors.Is(err, ErrHeld) {
			t.Fatalf("publication %d: %v, want ErrHeld", i, err)
		}
		if at, ok := q.sched.Pending(1); !ok || at.Before(before.Add(30*time.Minute)) {
			t.Fatalf("after wait %d the next try is due at %v (%v from the publication), want about the interval (1h), not a backoff", i, at, at.Sub(before))
		}
	}
	j.mu.Lock()
	failures := j.failures
	j.mu.Unlock()
	if failures != 0 {
		t.Fatalf("5 waits counted as %d failures: a failure after them backs off %v, not %v", failures, q.timing.RetryAfter(failures+1), q.timing.RetryAfter(1))
	}
	if err, last := j.Outcome(); !errors.Is(err, ErrHeld) || !last.IsZero() {
		t.Fatalf("outcome %v, last publication %v: want the wait, never published", err, last)
	}
}

// A log's first publication comes early by its phase of the interval (up
// to firstSpread); once it was published, the next one is a whole
// interval after the write that makes it dirty again.
func TestJobFirstPublicationIsSpread(t *testing.T) {
	j, _ := newJob(t, memstore.New("b"), "a1\n")
	early := time.Duration(phase(j.id) * float64(firstSpread))
	if early < time.Second {
		t.Fatalf("job %d's phase %v makes no visible spread: pick another id", j.id, phase(j.id))
	}
	before := time.Now()
	j.Wrote()
	at, ok := j.q.sched.Pending(j.id)
	if !ok || at.Before(before.Add(time.Hour-early)) || at.After(time.Now().Add(time.Hour-early)) {
		t.Fatalf("first publication due %v after the write, want %v (an hour less %v)", at.Sub(before), time.Hour-early, early)
	}
	if err := j.Publish(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	before = time.Now()
	j.Wrote()
	if at, ok := j.q.sched.Pending(j.id); !ok || at.Before(before.Add(time.Hour)) {
		t.Fatalf("after a publication the next is due %v after the write, want the whole interval (1h)", at.Sub(before))
	}
}
