package vfs

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The model test: seeded random sequences of file operations, publication
// ticks, another host's writes, crashes with remounts and store faults, run
// against the core over the in-memory store and compared with the model
// (model_state_test.go says what it forbids) after every step.
//
//	go test -race -run TestModel ./internal/vfs/                      # >= 10,000 steps
//	go test -race -run TestModel ./internal/vfs/ -model.steps=200000  # longer
//	go test -race -run TestModel ./internal/vfs/ -model.seed=N        # one sequence again
//	go test -race -run TestModel ./internal/vfs/ -model.random        # new seeds, real timers
//
// By default (make test, CI) the seeds are fixed and the scheduler's timers
// are driven by the steps, so a run is the same every time: CI is green
// every run, not most runs. -model.random (or S3MOUNT_MODEL_RANDOM=1)
// explores: seeds from the clock, and one sequence in five with the
// scheduler's own short timers racing the steps.
//
// S3MOUNT_MODEL_STEPS sets the step count too (for make test). While a
// reported defect is being fixed, -model.avoid and -model.known look past
// it; the default is strict.
var (
	modelSteps  = flag.Int("model.steps", 0, "model test: steps to run (default 10000, or $S3MOUNT_MODEL_STEPS)")
	modelSeed   = flag.Int64("model.seed", 0, "model test: run the sequence of this seed only")
	modelOps    = flag.Int("model.ops", 0, "model test: operations per sequence (default: 150-450 by seed)")
	modelAvoid  = flag.String("model.avoid", "", "model test: skip steps showing reported defects: unlink-open (unlink or rename over an open file), fsync-rdonly, express (no directory-bucket sequences)")
	modelRandom = flag.Bool("model.random", false, "model test: seeds from the clock and real-timer sequences (explore; not reproducible run to run)")
	modelKnown  = flag.String("model.known", "", "model test: regexps (;-separated) of reported defects; a sequence failing with one ends early instead of failing the test (to look past them)")
)

// exploring: -model.random or S3MOUNT_MODEL_RANDOM=1.
func exploring() bool { return *modelRandom || os.Getenv("S3MOUNT_MODEL_RANDOM") == "1" }

// avoiding reports whether -model.avoid names the behaviour: the runner
// skips steps that would show a reported defect, to look past it.
func avoiding(what string) bool {
	for _, a := range strings.Split(*modelAvoid, ",") {
		if a == what {
			return true
		}
	}
	return false
}

// known reports whether f is a reported defect named by -model.known.
func known(f *failure) bool {
	if *modelKnown == "" {
		return false
	}
	for _, k := range strings.Split(*modelKnown, ";") {
		if k != "" && regexp.MustCompile(k).MatchString(f.Error()) {
			return true
		}
	}
	return false
}

const modelStepTimeout = 30 * time.Second

// modelRun is one sequence: its options and operations, all from the seed.
func modelRun(seed int64) (coreOptions, []op) {
	rng := rand.New(rand.NewSource(seed))
	opt, faults := modelOptions(rng, seed)
	bufferOptions(seed, &opt)
	n := 150 + rng.Intn(300)
	if *modelOps > 0 {
		n = *modelOps
	}
	ops := genOps(rng, n, faults)
	diskFullWindows(seed, faults, ops)
	return opt, ops
}

// modelOptions are a sequence's mount options, from its generator and
// seed, and whether it has store faults.
func modelOptions(rng *rand.Rand, seed int64) (opt coreOptions, faults bool) {
	if rng.Intn(10) < 7 {
		opt.AllowDelete, opt.AllowOverwrite = true, true
	} else {
		opt.AllowDelete, opt.AllowOverwrite = rng.Intn(2) == 0, rng.Intn(2) == 0
	}
	opt.Express = rng.Intn(4) == 0 && !avoiding("express")
	// Some sequences let the scheduler's own timers publish (short
	// intervals, racing the steps): they find races, but do not replay
	// exactly.
	opt.RealTimers = rng.Intn(5) == 0 && exploring()
	// Half the sequences see AWS's ETags: the same bytes (a rewrite,
	// a copy) have the same ETag. Taken from the seed, not the
	// generator, so that each seed's operations stay as they were.
	opt.ContentETags = seed%2 == 0 && !opt.Express
	// Half the sequences read local files directly (FUSE passthrough
	// of spool files and wholly cached objects).
	opt.Passthrough = (seed>>1)&1 == 0
	faults = rng.Intn(2) == 0
	return opt, faults
}

// modelBudget is how many steps a model test runs: a fifth of def with
// -short, else -model.steps, else $S3MOUNT_MODEL_STEPS divided by share
// (the tests beside TestModel take a share of it), else def.
func modelBudget(def, share int) int {
	switch {
	case testing.Short():
		return def / 5
	case *modelSteps > 0:
		return *modelSteps
	}
	if v, err := strconv.Atoi(os.Getenv("S3MOUNT_MODEL_STEPS")); err == nil && v > 0 {
		return v / share
	}
	return def
}

func TestModel(t *testing.T) {
	runModelSeeds(t, "model test", "-model.seed=N", modelBudget(10000, 1), modelRun)
	coverage.Lock()
	var cov []string
	for k, v := range coverage.n {
		cov = append(cov, fmt.Sprintf("%s: %d", k, v))
	}
	coverage.Unlock()
	sort.Strings(cov)
	t.Logf("exercised: %s", strings.Join(cov, ", "))
}

// runModelSeeds runs gen's sequences seed after seed until want steps ran:
// from seed 1, from a random seed with -model.random, or -model.seed's
// sequence alone. The first failure that is no known defect is shrunk and
// fails the test. name and rerun say, in the log, what ran and how to run
// one sequence again.
func runModelSeeds(t *testing.T, name, rerun string, want int, gen func(seed int64) (coreOptions, []op)) {
	t.Helper()
	base := int64(1)
	if exploring() {
		base = time.Now().UnixNano() % 1_000_000_000
	}
	if *modelSeed != 0 {
		base, want = *modelSeed, 1
	}
	t.Logf("%s: first seed %d (run one again with %s)", name, base, rerun)
	start := time.Now()
	steps, runs := 0, 0
	for seed := base; steps < want; seed++ {
		opt, ops := gen(seed)
		t0 := time.Now()
		f, n, logTail := runOps(t, opt, ops, modelStepTimeout)
		if testing.Verbose() {
			t.Logf("seed %d (%v): %d steps in %v", seed, opt, n, time.Since(t0).Round(time.Millisecond))
		}
		steps += n
		runs++
		if f != nil && known(f) {
			t.Logf("seed %d: known defect at step %d: %v", seed, f.step, f)
			continue
		}
		if f != nil {
			reportModelFailure(t, seed, opt, ops, f, logTail)
			return
		}
	}
	t.Logf("%s: %d steps in %d sequences in %v", name, steps, runs, time.Since(start).Round(time.Millisecond))
}

func reportModelFailure(t *testing.T, seed int64, opt coreOptions, ops []op, f *failure, logTail string) {
	t.Logf("seed %d (%v) failed at step %d of %d: %v", seed, opt, f.step, len(ops), f)
	min, mf, mlog := shrink(t, opt, ops, f)
	t.Fatalf(`model test failed: seed %d, options %v
invariant broken: [%s] %s
shortest failing sequence found (%d of %d steps; -model.seed=%d runs the whole sequence):
%s
as Go, for runOps(t, %#v, ops, modelStepTimeout):
%s
the core's log, last lines:
%s
(the full sequence failed at its step %d: %s; its log ended with:
%s)`, seed, opt, mf.kind, mf.msg, len(min), len(ops), seed, formatOps(min), opt, goOps(min), mlog, f.step, f.msg, logTail)
}

// shrink cuts a failing sequence down (delta debugging, bounded in time):
// first to the failing step, then chunks of steps away while the same kind
// of failure remains.
func shrink(t *testing.T, opt coreOptions, ops []op, f *failure) ([]op, *failure, string) {
	deadline := time.Now().Add(90 * time.Second)
	timeout := modelStepTimeout / 3
	if f.kind == "hang" {
		timeout = 10 * time.Second
	}
	best, bestF, bestLog := ops, f, ""
	if f.step > 0 && f.step < len(ops) {
		best = ops[:f.step]
	}
	try := func(cand []op) bool {
		if time.Now().After(deadline) {
			return false
		}
		ff, _, lg := runOps(t, opt, cand, timeout)
		if ff == nil || ff.kind != f.kind {
			return false
		}
		best, bestF, bestLog = cand, ff, lg
		if ff.step > 0 && ff.step < len(cand) {
			best = cand[:ff.step]
		}
		return true
	}
	if !try(best) {
		// Does not fail again the same way (timing): report the original.
		return ops, f, "(the failure did not repeat; log of the first run above)"
	}
	for chunk := len(best) / 2; chunk >= 1 && time.Now().Before(deadline); {
		removed := false
		for i := 0; i+chunk <= len(best) && time.Now().Before(deadline); {
			cand := append(append([]op(nil), best[:i]...), best[i+chunk:]...)
			if try(cand) {
				removed = true
				continue
			}
			i += chunk
		}
		if !removed {
			chunk /= 2
		}
	}
	return best, bestF, bestLog
}
