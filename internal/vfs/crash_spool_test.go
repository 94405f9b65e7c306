package vfs

// Crash points inside the spool: the core is stopped, as SIGKILL would stop
// it, right after each disk operation of the spool during a phase (data
// write, truncate, punch, journal temp file, journal rename, fsyncs,
// removes; spool.Hook names them). The spool directory is copied as it is
// at that instant, inside the operation's hook, and the store is fenced so
// that the old instance changes S3 no more. A new instance recovers from
// the copy and unmounts; S3 must then hold every acknowledged byte exactly
// once, as TestCrashPoints checks after crashes at store calls.
//
// The old instance's step goes on after the kill (its store calls fail):
// the model counts it as acknowledged, though at the instant of the copy it
// was not. A write or truncate interrupted that way may therefore show in
// S3 or not; either is right (resolveSpoolStep).

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/spool"
)

func spoolCrashScenarios() []crashScenario {
	all := coreOptions{AllowDelete: true, AllowOverwrite: true}
	var out []crashScenario
	add := func(name string, build func(s *scenario) (setup, phase []op)) {
		s := &scenario{}
		setup, phase := build(s)
		big := false
		for _, o := range setup {
			big = big || o.Big
		}
		out = append(out, crashScenario{name: name, opt: all, setup: setup, phase: phase, big: big})
	}
	add("log append, scheduled publications", func(s *scenario) ([]op, []op) {
		return []op{s.open(0, "log", wrAppend), s.lines(0, 2), s.tick(), s.lines(0, 3), s.half(0)},
			[]op{s.tick(), s.lines(0, 1), s.close(0), s.tick()}
	})
	// Publications onto an object of 5 MiB and more punch the published
	// bytes out of the data file.
	add("append to a 5 MiB log", func(s *scenario) ([]op, []op) {
		return []op{s.put("log", true), s.open(0, "log", wrAppend), s.lines(0, 3), s.half(0)},
			[]op{s.tick()}
	})
	add("rename of an idle published file", func(s *scenario) ([]op, []op) {
		return []op{s.put("a", false)}, []op{s.rename("a", "b")}
	})
	add("whole file written and closed", func(s *scenario) ([]op, []op) {
		return []op{s.open(0, "f", wrCreate), s.bytes(0, 300)},
			[]op{s.inside(0, 50), s.bytes(0, 100), s.close(0)}
	})
	// A shrink: recovery once read a data file shorter than its journal
	// as an ftruncate upwards and published zeros (spool.File.Truncate
	// now journals a shrink before it cuts).
	add("shrinking truncate of a published file", func(s *scenario) ([]op, []op) {
		return []op{s.put("f", false), s.open(0, "f", os.O_RDWR)},
			[]op{s.op(op{Kind: opTruncate, Slot: 0, Frac: 8}), s.close(0)}
	})
	add("extending truncate of a published file", func(s *scenario) ([]op, []op) {
		return []op{s.put("f", false), s.open(0, "f", os.O_RDWR), s.inside(0, 20)},
			[]op{s.op(op{Kind: opTruncate, Slot: 0, Frac: 16, Len: 40}), s.bytes(0, 30), s.close(0)}
	})
	// ftruncate(0) of a file whose published 5 MiB were punched out of
	// the data file (copytruncate of a big log): a crash between making
	// the journal whole and cutting the data once published the punched
	// zeros over the object.
	add("ftruncate to 0 of a punched 5 MiB file", func(s *scenario) ([]op, []op) {
		return []op{s.put("f", true), s.open(0, "f", os.O_RDWR), s.open(1, "f", os.O_RDWR), s.inside(0, 20), s.close(0)},
			[]op{s.op(op{Kind: opTruncate, Slot: 1}), s.bytes(1, 10), s.close(1)}
	})
	add("rename of a dirty log", func(s *scenario) ([]op, []op) {
		return []op{s.open(0, "a", wrAppend), s.lines(0, 2), s.tick(), s.lines(0, 2)},
			[]op{s.rename("a", "b"), s.tick(), s.close(0), s.tick()}
	})
	add("unlink of an open dirty log", func(s *scenario) ([]op, []op) {
		return []op{s.open(0, "a", wrAppend), s.lines(0, 2), s.tick(), s.lines(0, 2),
				s.open(2, "z", wrAppend), s.lines(2, 2)},
			[]op{s.unlink("a"), s.lines(0, 1), s.close(2), s.tick()}
	})
	return out
}

func TestSpoolCrashPoints(t *testing.T) {
	for _, sc := range spoolCrashScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			if testing.Short() && sc.big {
				t.Skip("-short: scenarios of 5 MiB and more take seconds a crash point under -race")
			}
			start := time.Now()
			n, kinds, err := countSpoolOps(t, sc)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Fatalf("the phase made no spool operation: nothing was crashed")
			}
			failed := 0
			for k := int64(1); k <= n; k++ {
				f, killed := runSpoolCrashPoint(t, sc, k)
				if killed == "" && f == nil {
					f = fail("harness", "the phase made fewer than %d spool operations this time", k)
				}
				if f == nil {
					continue
				}
				if failed++; failed <= 3 {
					t.Errorf("killed %s: [%s] %s", killed, f.kind, f.msg)
				}
			}
			if failed > 0 {
				t.Errorf("%d of %d crash points failed; the scenario:\nsetup:\n%sphase (crashed after each spool operation):\n%s",
					failed, n, formatOps(sc.setup), formatOps(sc.phase))
			}
			t.Logf("%d crash points %v in %v", n, kinds, time.Since(start).Round(time.Millisecond))
		})
	}
}

// countSpoolOps runs the scenario without a crash and counts the spool
// operations of its phase, in all and by kind.
func countSpoolOps(t *testing.T, sc crashScenario) (int64, map[string]int, error) {
	r, err := newRunner(t, sc.opt, modelStepTimeout)
	if err != nil {
		return 0, nil, err
	}
	defer r.c.cleanup()
	for i, o := range sc.setup {
		if f := r.guarded(func() *failure { return r.step(o) }); f != nil {
			return 0, nil, fmt.Errorf("setup step %d (%v): %v", i+1, o, f)
		}
	}
	var mu sync.Mutex
	kinds := map[string]int{}
	n := int64(0)
	hook := spool.Hook(func(op, _ string) {
		mu.Lock()
		n++
		kinds[op]++
		mu.Unlock()
	})
	r.c.spoolHook.Store(&hook)
	for i, o := range sc.phase {
		if f := r.guarded(func() *failure { return r.step(o) }); f != nil {
			return 0, nil, fmt.Errorf("phase step %d (%v): %v", i+1, o, f)
		}
	}
	r.c.spoolHook.Store(nil)
	mu.Lock()
	defer mu.Unlock()
	return n, kinds, nil
}

// runSpoolCrashPoint runs the scenario, kills the core right after the
// k-th spool operation of the phase, recovers and checks. killed names the
// operation ("" when the phase made fewer than k).
func runSpoolCrashPoint(t *testing.T, sc crashScenario, k int64) (f *failure, killed string) {
	r, err := newRunner(t, sc.opt, modelStepTimeout)
	if err != nil {
		return fail("setup", "%v", err), ""
	}
	defer r.c.cleanup()
	for i, o := range sc.setup {
		if f := r.guarded(func() *failure { return r.step(o) }); f != nil {
			return fail("setup", "setup step %d (%v): %v", i+1, o, f), ""
		}
	}
	c := r.c
	fc := c.fence
	dst := c.newDir()
	var gate sync.Mutex // held by the driver during a step
	var driver atomic.Int64
	var seen atomic.Int64
	var killedAt atomic.Pointer[string]
	hook := spool.Hook(func(op, path string) {
		if seen.Add(1) != k {
			return
		}
		// An operation of a background goroutine: wait for the driver to
		// be between steps, as TestCrashPoints does, so that the model's
		// steps are whole.
		if me, parent := goid(); me != driver.Load() && parent != driver.Load() {
			for i := 0; i < 2000; i++ {
				if gate.TryLock() {
					defer gate.Unlock()
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		what := fmt.Sprintf("after %s %s (spool operation %d of the phase)", op, filepath.Base(path), k)
		// Fence first: nothing of this instance reaches S3 after the copy.
		// A store call already in flight still lands, as a request on the
		// wire at a SIGKILL does; its answer is lost.
		fc.mu.Lock()
		fc.dead, fc.killedOp = true, what
		fc.mu.Unlock()
		c.snapshot(dst)
		killedAt.Store(&what)
	})
	c.spoolHook.Store(&hook)
	var interrupted *op
	var before *mfileState
	for i, o := range sc.phase {
		gate.Lock()
		if fc.Dead() {
			gate.Unlock()
			break
		}
		state := saveSlot(r, o)
		ff := r.guarded(func() *failure { me, _ := goid(); driver.Store(me); return r.step(o) })
		gate.Unlock()
		if fc.Dead() {
			interrupted, before = &sc.phase[i], state
			break
		}
		if ff != nil {
			return fail("phase", "phase step %d (%v) without a crash: %v", i+1, o, ff), ""
		}
	}
	c.spoolHook.Store(nil)
	if !fc.Dead() {
		return nil, ""
	}
	// The goroutine that hit the crash point takes the snapshot after it
	// marks the instance dead; a background one that could not get the
	// gate may still be copying: the next instance must not start on a
	// half-made copy (it once found a journal gone from under it).
	deadline := time.Now().Add(modelStepTimeout)
	for killedAt.Load() == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	p := killedAt.Load()
	if p == nil {
		return fail("harness", "the spool snapshot of the kill did not finish within %v", modelStepTimeout), ""
	}
	killed = *p
	// The calls in flight at the kill end before the next instance starts.
	fc.mu.Lock()
	for fc.inflight > 0 {
		fc.idle.Wait()
	}
	fc.mu.Unlock()
	return r.recoverAndCheck(dst, interrupted, func() { r.resolveSpoolStep(before) }), killed
}

// mfileState is a file of the model before a write or truncate.
type mfileState struct {
	f    *mfile
	data []byte
	hist [][]byte
}

// saveSlot keeps the model's file that step o writes or truncates.
func saveSlot(r *runner, o op) *mfileState {
	if o.Kind != opWrite && o.Kind != opTruncate {
		return nil
	}
	mh := r.m.h[o.Slot]
	if mh == nil || mh.f.lm != nil {
		return nil
	}
	return &mfileState{f: mh.f, data: append([]byte(nil), mh.f.data...), hist: append([][]byte(nil), mh.f.hist...)}
}

// resolveSpoolStep: a write or truncate the kill interrupted was not
// acknowledged at the instant of the copy. If S3 shows the file as it was
// before it, the model forgets the step.
func (r *runner) resolveSpoolStep(st *mfileState) {
	if st == nil || st.f.name == "" {
		return
	}
	s, ok := r.object(st.f.name)
	if ok && bytes.Equal(s, st.data) && !bytes.Equal(s, st.f.data) {
		st.f.data, st.f.hist = st.data, st.hist
	}
}
