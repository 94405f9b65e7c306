package publish

import (
	"testing"
	"time"
)

func TestLogDue(t *testing.T) {
	tm := Timing{Interval: 30 * time.Second, CloseDelay: time.Second}
	now := time.Unix(1000, 0)
	dirty := now.Add(-10 * time.Second)
	cases := []struct {
		name string
		s    LogState
		want time.Time
	}{
		{"open log: first unpublished write + interval", LogState{DirtySince: dirty, Size: 100}, dirty.Add(30 * time.Second)},
		{"nothing unpublished yet: now + interval", LogState{Size: 100}, now.Add(30 * time.Second)},
		{"closed: close delay after the last close", LogState{DirtySince: dirty, Closed: true, LastClose: now}, now.Add(time.Second)},
		{"closed long ago: the interval comes first", LogState{DirtySince: dirty, Closed: true, LastClose: now.Add(time.Hour)}, dirty.Add(30 * time.Second)},
		{"8 GiB log: 8 intervals", LogState{DirtySince: dirty, Size: 8 << 30}, dirty.Add(240 * time.Second)},
		{"1 GiB log: one interval", LogState{DirtySince: dirty, Size: 1 << 30}, dirty.Add(30 * time.Second)},
		{"first publication: early by its phase of the interval", LogState{DirtySince: dirty, Size: 100, Phase: 0.25}, dirty.Add(22500 * time.Millisecond)},
		{"published before: a whole interval", LogState{DirtySince: dirty, Size: 100, Phase: 0.25, Published: true}, dirty.Add(30 * time.Second)},
		{"closed, first publication: the close delay if sooner", LogState{DirtySince: dirty, Closed: true, LastClose: now, Phase: 0.25}, now.Add(time.Second)},
	}
	for _, c := range cases {
		if got := tm.LogDue(c.s, now); !got.Equal(c.want) {
			t.Errorf("%s: due %v, want %v", c.name, got.Sub(now), c.want.Sub(now))
		}
	}
}

// Over a long interval the first publication comes at most firstSpread
// early.
func TestLogDueSpreadIsBounded(t *testing.T) {
	tm := Timing{Interval: time.Hour}
	dirty := time.Unix(1000, 0)
	got := tm.LogDue(LogState{DirtySince: dirty, Phase: 0.5}, dirty)
	if want := dirty.Add(time.Hour - 30*time.Second); !got.Equal(want) {
		t.Errorf("due %v after the first write, want %v", got.Sub(dirty), want.Sub(dirty))
	}
}

// Jobs made one after another (logs opened together) get phases spread
// over [0, 1): each tenth of it holds a tenth of 1,000 of them, give or
// take a few.
func TestPhasesOfConsecutiveJobsAreSpread(t *testing.T) {
	var tenths [10]int
	for id := uint64(1); id <= 1000; id++ {
		p := phase(id)
		if p < 0 || p >= 1 {
			t.Fatalf("phase(%d) = %v, want [0, 1)", id, p)
		}
		tenths[int(p*10)]++
	}
	for i, n := range tenths {
		if n < 95 || n > 105 {
			t.Errorf("%d of 1,000 phases in [%.1f, %.1f), want about 100 (%v)", n, float64(i)/10, float64(i+1)/10, tenths)
		}
	}
}

func TestRetryAfterBacksOff(t *testing.T) {
	tm := Timing{Interval: 30 * time.Second}
	want := []time.Duration{500 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for failures, w := range want {
		if got := tm.RetryAfter(failures); got != w {
			t.Errorf("after %d failures: %v, want %v", failures, got, w)
		}
	}
	short := Timing{Interval: 200 * time.Millisecond}
	if got := short.RetryAfter(10); got != 200*time.Millisecond {
		t.Errorf("a 200 ms interval retries after %v, want the interval", got)
	}
}

// A renamed file's old key that cannot be deleted (a bucket refusing
// deletes) is tried again backing off to 5 minutes, whatever the interval.
func TestLeftRetryAfterBacksOffFurther(t *testing.T) {
	tm := Timing{Interval: 200 * time.Millisecond}
	want := map[int]time.Duration{1: 500 * time.Millisecond, 2: time.Second, 5: 8 * time.Second, 10: 256 * time.Second, 11: 5 * time.Minute, 40: 5 * time.Minute}
	for failures, w := range want {
		if got := tm.LeftRetryAfter(failures); got != w {
			t.Errorf("after %d failures: %v, want %v", failures, got, w)
		}
	}
}
