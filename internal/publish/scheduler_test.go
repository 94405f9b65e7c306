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

// A job due while every worker is busy starts late, and the delay
// histogram says by how much (the publication lag of issue 13).
func TestSchedulerRecordsDelayPastDue(t *testing.T) {
	s := NewScheduler(1)
	defer s.Stop()
	release := make(chan struct{})
	busy := make(chan struct{})
	s.At(1, time.Now(), func() { close(busy); <-release })
	<-busy
	done := make(chan struct{})
	s.At(2, time.Now(), func() { close(done) })
	// Job 2 fired and waits for the only worker: its deadline is cleared.
	deadline := time.Now().Add(time.Minute)
	for at, ok := s.Pending(2); !ok || !at.IsZero(); at, ok = s.Pending(2) {
		if time.Now().After(deadline) {
			t.Fatal("job 2 never fired")
		}
		time.Sleep(time.Millisecond)
	}
	const held = 120 * time.Millisecond
	time.Sleep(held) // how long job 2 waits at least: the bound asserted
	close(release)
	<-done
	d := s.Delays()
	if d.Count != 2 {
		t.Fatalf("%d delays recorded, want 2", d.Count)
	}
	if d.Sum < held {
		t.Fatalf("delays sum to %v, want at least the %v job 2 waited", d.Sum, held)
	}
	if d.Buckets[0.1] == d.Count {
		t.Fatalf("every delay at or below 100 ms (%v), want job 2's above it", d.Buckets)
	}
}

func TestDelaysBuckets(t *testing.T) {
	var h Delays
	for _, d := range []time.Duration{0, -time.Second, time.Millisecond, 3 * time.Second, time.Hour} {
		h.Observe(d)
	}
	s := h.Snapshot()
	want := map[float64]uint64{0.001: 3, 0.005: 3, 2: 3, 5: 4, 300: 4}
	for le, n := range want {
		if s.Buckets[le] != n {
			t.Errorf("bucket le=%v holds %d, want %d (%v)", le, s.Buckets[le], n, s.Buckets)
		}
	}
	if s.Count != 5 || s.Sum != time.Millisecond+3*time.Second+time.Hour {
		t.Errorf("count %d sum %v", s.Count, s.Sum)
	}
}
