package publish

import (
	"sync"
	"time"
)

// Scheduler runs one publication job per file at a deadline. Asking again
// for an earlier deadline moves the job forward; a later one is ignored
// unless Reschedule is used. At most Workers jobs run at once, and a
// file's job never runs twice at the same time.
//
// When: log files are published at most once per --upload-interval while
// they have unpublished data (deadline = first unpublished write +
// interval), and --close-delay after their last close. Other writers
// publish in close() itself and do not use the scheduler.
type Scheduler struct {
	mu      sync.Mutex
	jobs    map[uint64]*job
	sem     chan struct{}
	stopped bool
	wg      sync.WaitGroup
	delays  Delays // how late jobs started past their deadline
}

type job struct {
	at      time.Time
	timer   *time.Timer
	fn      func()
	running bool
	again   bool // asked for while running: run once more after
}

// NewScheduler makes a scheduler running at most workers jobs at once.
func NewScheduler(workers int) *Scheduler {
	return &Scheduler{jobs: map[uint64]*job{}, sem: make(chan struct{}, max(workers, 1))}
}

// At schedules fn for id at t, or earlier if already scheduled earlier.
func (s *Scheduler) At(id uint64, t time.Time, fn func()) {
	s.schedule(id, t, fn, false)
}

// Reschedule sets id's deadline to t even if that is later.
func (s *Scheduler) Reschedule(id uint64, t time.Time, fn func()) {
	s.schedule(id, t, fn, true)
}

func (s *Scheduler) schedule(id uint64, t time.Time, fn func(), force bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	j := s.jobs[id]
	if j == nil {
		j = &job{}
		s.jobs[id] = j
	}
	j.fn = fn
	if j.running {
		if !j.again || t.Before(j.at) || force {
			j.at = t
		}
		j.again = true
		return
	}
	if j.timer != nil && !force && !t.Before(j.at) {
		return
	}
	if j.timer != nil {
		j.timer.Stop()
	}
	j.at = t
	j.timer = time.AfterFunc(time.Until(t), func() { s.fire(id, j) })
}

// Pending reports whether id has a job waiting.
func (s *Scheduler) Pending(id uint64) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil {
		return time.Time{}, false
	}
	return j.at, true
}

// Due reports whether id's job runs now or its deadline has passed.
func (s *Scheduler) Due(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	return j != nil && (j.running || !j.at.After(time.Now()))
}

// Cancel drops id's waiting job (a running one finishes).
func (s *Scheduler) Cancel(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[id]; j != nil {
		if j.timer != nil {
			j.timer.Stop()
			j.timer = nil
		}
		j.again = false
		if !j.running {
			delete(s.jobs, id)
		}
	}
}

func (s *Scheduler) fire(id uint64, j *job) {
	s.mu.Lock()
	if s.stopped || s.jobs[id] != j || j.running || j.timer == nil {
		s.mu.Unlock()
		return
	}
	j.running = true
	j.timer = nil
	due := j.at
	j.at = time.Time{} // requests during the run set the next deadline
	fn := j.fn
	s.wg.Add(1)
	s.mu.Unlock()

	s.sem <- struct{}{}
	s.delays.Observe(time.Since(due))
	fn()
	<-s.sem

	s.mu.Lock()
	j.running = false
	if j.again && !s.stopped {
		j.again = false
		j.timer = time.AfterFunc(time.Until(j.at), func() { s.fire(id, j) })
	} else {
		delete(s.jobs, id)
	}
	s.mu.Unlock()
	s.wg.Done()
}

// Delays is how late jobs started past their deadlines.
func (s *Scheduler) Delays() DelaySnapshot { return s.delays.Snapshot() }

// Stop cancels waiting jobs and waits for running ones.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	s.stopped = true
	for id, j := range s.jobs {
		if j.timer != nil {
			j.timer.Stop()
		}
		if !j.running {
			delete(s.jobs, id)
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}
