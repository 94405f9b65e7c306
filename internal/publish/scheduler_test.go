package publish

import (
	"sync/atomic"
	"testing"
	"time"
)

// Requests that arrive while a job runs set its next deadline; they must
// not make it run again at once (a busy log would then be published back
// to back instead of once per interval).
func TestSchedulerDoesNotRerunAtOnce(t *testing.T) {
	s := NewScheduler(2)
	defer s.Stop()
	var runs atomic.Int32
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	var fn func()
	fn = func() {
		runs.Add(1)
		started <- struct{}{}
		<-release
	}
	s.At(1, time.Now(), fn)
	<-started
	// While running: a later deadline (the next interval).
	s.At(1, time.Now().Add(time.Hour), fn)
	close(release)
	time.Sleep(300 * time.Millisecond)
	if n := runs.Load(); n != 1 {
		t.Fatalf("job ran %d times; the request during the run asked for an hour later", n)
	}
	if at, ok := s.Pending(1); !ok || time.Until(at) < 59*time.Minute {
		t.Fatalf("next run at %v (pending %v), want in an hour", at, ok)
	}
}

// An earlier request moves a waiting job forward; Reschedule can postpone.
func TestSchedulerEarlierWinsRescheduleMoves(t *testing.T) {
	s := NewScheduler(1)
	defer s.Stop()
	done := make(chan struct{}, 1)
	fn := func() { done <- struct{}{} }
	s.At(7, time.Now().Add(time.Hour), fn)
	s.At(7, time.Now().Add(2*time.Hour), fn)
	if at, _ := s.Pending(7); time.Until(at) > 61*time.Minute {
		t.Fatal("a later At moved the deadline")
	}
	s.Reschedule(7, time.Now().Add(3*time.Hour), fn)
	if at, _ := s.Pending(7); time.Until(at) < 2*time.Hour {
		t.Fatal("Reschedule did not postpone")
	}
	s.At(7, time.Now(), fn)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("an earlier At did not run the job")
	}
}
