package vfs

// Crash points: the core is stopped, as SIGKILL would stop it, at every
// store call of a publication (before the call, and after it with the
// answer lost), then a new instance mounts a copy of the spool as it was at
// that instant, publishes what it finds, and unmounts. S3 must then hold
// every acknowledged byte exactly once: logs all their lines, whole files
// their content at the crash (§1.8: the spool holds every unpublished byte
// and the next mount publishes it); nothing unlinked or renamed away may be
// back, and no multipart upload may be left.
//
// Spool writes (data, journal, rename, fsync, remove) are crash points of
// TestSpoolCrashPoints (crash_spool_test.go), through spool.Options.Hook.

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/compress"
)

// crashScenario is a sequence whose phase is crashed at each store call.
type crashScenario struct {
	name  string
	opt   coreOptions
	setup []op // runs whole
	phase []op // crashed at each of its store calls
	big   bool // moves objects of 5 MiB and more
}

// scenario builds op sequences with unique IDs.
type scenario struct{ id int }

func (s *scenario) op(o op) op { s.id++; o.ID = s.id; return o }
func (s *scenario) open(slot int, name string, flags int) op {
	return s.op(op{Kind: opOpen, Slot: slot, Name: name, Flags: flags})
}
func (s *scenario) lines(slot, n int) op { return s.op(op{Kind: opWrite, Slot: slot, Len: n - 1}) }
func (s *scenario) half(slot int) op     { return s.op(op{Kind: opWrite, Slot: slot, Partial: true}) }
func (s *scenario) bytes(slot, n int) op {
	return s.op(op{Kind: opWrite, Slot: slot, Len: n, Where: atEnd})
}
func (s *scenario) inside(slot, n int) op {
	return s.op(op{Kind: opWrite, Slot: slot, Len: n, Where: atInside, Frac: 4})
}
func (s *scenario) close(slot int) op { return s.op(op{Kind: opClose, Slot: slot}) }
func (s *scenario) fsync(slot int) op { return s.op(op{Kind: opFsync, Slot: slot}) }
func (s *scenario) tick() op          { return s.op(op{Kind: opTick}) }
func (s *scenario) rename(a, b string) op {
	return s.op(op{Kind: opRename, Name: a, To: b})
}
func (s *scenario) unlink(a string) op { return s.op(op{Kind: opUnlink, Name: a}) }
func (s *scenario) put(name string, big bool) op {
	return s.op(op{Kind: opRemotePut, Name: name, Big: big, Len: 2})
}

const (
	wrAppend = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	wrCreate = os.O_WRONLY | os.O_CREATE
)

func crashScenarios() []crashScenario {
	all := coreOptions{AllowDelete: true, AllowOverwrite: true}
	express := all
	express.Express = true
	gz, zst := all, express // --compress (model_compress_test.go)
	gz.Compress, zst.Compress = compress.Gzip, compress.Zstd
	var out []crashScenario
	add := func(name string, opt coreOptions, build func(s *scenario) (setup, phase []op)) {
		s := &scenario{}
		setup, phase := build(s)
		big := false
		for _, o := range append(append([]op(nil), setup...), phase...) {
			big = big || o.Big || o.Len >= 1<<20
		}
		out = append(out, crashScenario{name: name, opt: opt, setup: setup, phase: phase, big: big})
	}
	logAppend := func(s *scenario) ([]op, []op) {
		return []op{s.open(0, "log", wrAppend), s.lines(0, 2), s.tick(), s.lines(0, 3), s.half(0)},
			[]op{s.tick(), s.lines(0, 1), s.close(0), s.tick()}
	}
	add("log append, scheduled publications", all, logAppend)
	add("log append, scheduled publications (express)", express, logAppend)
	add("log append, scheduled publications (gzip)", gz, logAppend)
	add("log append, scheduled publications (express, zstd)", zst, logAppend)
	add("compose append of a 5 MiB object", all, func(s *scenario) ([]op, []op) {
		return []op{s.put("log", true), s.open(0, "log", wrAppend), s.lines(0, 3), s.half(0)},
			[]op{s.tick(), s.fsync(0)}
	})
	add("small re-put", all, func(s *scenario) ([]op, []op) {
		return []op{s.put("log", false), s.open(0, "log", wrAppend), s.lines(0, 2)},
			[]op{s.fsync(0)}
	})
	add("whole-file put", all, func(s *scenario) ([]op, []op) {
		return []op{s.open(0, "f", wrCreate), s.bytes(0, 300), s.inside(0, 50)},
			[]op{s.close(0)}
	})
	add("overwrite of a published file", all, func(s *scenario) ([]op, []op) {
		return []op{s.put("f", false), s.open(0, "f", os.O_RDWR), s.inside(0, 20), s.bytes(0, 100)},
			[]op{s.close(0)}
	})
	add("multipart whole file", all, func(s *scenario) ([]op, []op) {
		setup := []op{s.open(0, "f", wrCreate)}
		for i := 0; i < 6; i++ {
			setup = append(setup, s.bytes(0, 1<<20))
		}
		return setup, []op{s.close(0)}
	})
	add("streaming multipart whole file", all, func(s *scenario) ([]op, []op) {
		setup := []op{s.open(0, "f", wrCreate)}
		var phase []op
		for i := 0; i < 11; i++ {
			phase = append(phase, s.bytes(0, 1<<20))
		}
		return setup, append(phase, s.close(0))
	})
	renameDirty := func(s *scenario) ([]op, []op) {
		return []op{s.open(0, "a", wrAppend), s.lines(0, 2), s.tick(), s.lines(0, 2)},
			[]op{s.rename("a", "b"), s.tick(), s.close(0), s.tick()}
	}
	add("rename of a dirty log", all, renameDirty)
	add("rename of a dirty log (express)", express, renameDirty)
	add("rename of a dirty log (gzip)", gz, renameDirty)
	add("rename of a dirty log (express, zstd)", zst, renameDirty)
	add("rename of a never published file", all, func(s *scenario) ([]op, []op) {
		return []op{s.open(0, "a", wrCreate), s.bytes(0, 200)},
			[]op{s.rename("a", "b"), s.close(0)}
	})
	renameIdle := func(s *scenario) ([]op, []op) {
		return []op{s.put("a", false)}, []op{s.rename("a", "b")}
	}
	add("rename of an idle published file", all, renameIdle)
	add("rename of an idle published file (express)", express, renameIdle)
	add("rename of an idle published file (express, zstd)", zst, renameIdle)
	remoteAppended := func(s *scenario) ([]op, []op) {
		return []op{s.put("log", false), s.open(0, "log", wrAppend), s.lines(0, 2)},
			[]op{s.fsync(0), s.lines(0, 1), s.close(0), s.tick()}
	}
	add("append to another host's object (gzip)", gz, remoteAppended)
	add("append to another host's object (express, zstd)", zst, remoteAppended)
	add("unlink of an open file", all, func(s *scenario) ([]op, []op) {
		return []op{s.open(0, "a", wrCreate), s.bytes(0, 200), s.close(0), s.open(1, "a", os.O_RDONLY),
				s.open(2, "z", wrAppend), s.lines(2, 2)},
			[]op{s.unlink("a"), s.tick(), s.close(2), s.tick()}
	})
	add("unlink of an open dirty log", all, func(s *scenario) ([]op, []op) {
		return []op{s.open(0, "a", wrAppend), s.lines(0, 2), s.tick(), s.lines(0, 2),
				s.open(2, "z", wrAppend), s.lines(2, 2)},
			[]op{s.unlink("a"), s.lines(0, 1), s.close(2), s.tick()}
	})
	return append(out, dirCrashScenarios()...)
}

func TestCrashPoints(t *testing.T) {
	for _, sc := range crashScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			if testing.Short() && sc.big {
				t.Skip("-short: scenarios of 5 MiB and more take seconds a crash point under -race")
			}
			start := time.Now()
			n, failed := 0, 0
			for k := int64(1); ; k++ {
				killedAny := false
				for _, after := range []bool{false, true} {
					f, killed := runCrashPoint(t, sc, k, after)
					if killed != "" {
						killedAny = true
						n++
					}
					if f == nil {
						continue
					}
					if failed++; failed <= 3 {
						t.Errorf("killed %s (store call %d of the phase): [%s] %s", killed, k, f.kind, f.msg)
					}
				}
				if !killedAny {
					break // the phase makes fewer than k calls
				}
			}
			if failed > 0 {
				t.Errorf("%d of %d crash points failed; the scenario:\nsetup:\n%sphase (crashed at each store call):\n%s",
					failed, n, formatOps(sc.setup), formatOps(sc.phase))
			}
			t.Logf("%d crash points in %v", n, time.Since(start).Round(time.Millisecond))
			if n == 0 {
				t.Fatalf("the phase made no store call: nothing was crashed")
			}
		})
	}
}

// runCrashPoint runs the scenario, kills the core at the k-th store call
// of the phase, recovers and checks. killed says which call ("" when the
// phase made fewer than k calls; then nothing was checked).
func runCrashPoint(t *testing.T, sc crashScenario, k int64, after bool) (f *failure, killed string) {
	r, err := newRunner(t, sc.opt, modelStepTimeout)
	if err != nil {
		return fail("setup", "%v", err), ""
	}
	defer r.c.cleanup()
	for i, o := range sc.setup {
		if f := r.guarded(func() *failure { return r.step(o) }); f != nil {
			f.step = i + 1
			return fail("setup", "setup step %d (%v): %v", i+1, o, f), ""
		}
	}
	c := r.c
	fc := c.fence
	dst := c.newDir()
	var gate sync.Mutex // held by the driver during a step
	var driver atomic.Int64
	fc.mu.Lock()
	fc.killAt, fc.killAfter = fc.calls+k, after
	fc.onKill = func() {
		// A call of a background goroutine (a streaming part upload the
		// writer started earlier): wait for the driver to be between
		// steps, so that the copy sees no write half done. The driver
		// itself, or a goroutine its step started and waits for, is
		// frozen already.
		if me, parent := goid(); me != driver.Load() && parent != driver.Load() {
			for i := 0; i < 2000; i++ {
				if gate.TryLock() {
					defer gate.Unlock() // the driver sees the kill and stops
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		c.snapshot(dst)
	}
	fc.mu.Unlock()
	var interrupted *op
	for i, o := range sc.phase {
		gate.Lock()
		if fc.Dead() {
			gate.Unlock()
			break
		}
		ff := r.guarded(func() *failure { me, _ := goid(); driver.Store(me); return r.step(o) })
		gate.Unlock()
		if fc.Dead() {
			interrupted = &sc.phase[i]
			break
		}
		if ff != nil {
			return fail("phase", "phase step %d (%v) without a crash: %v", i+1, o, ff), ""
		}
	}
	if !fc.Dead() {
		return nil, ""
	}
	fc.waitKilled()
	fc.mu.Lock()
	killed = fc.killedOp
	fc.mu.Unlock()
	return r.recoverAndCheck(dst, interrupted, nil), killed
}

// recoverAndCheck starts the next instance on dst, the killed one's spool
// copy: it recovers and unmounts; the step the kill interrupted is
// resolved as S3 shows it ended (then afterResolve, if set), S3 must hold
// exactly the model, and once more after another mount of that spool.
func (r *runner) recoverAndCheck(dst string, interrupted *op, afterResolve func()) *failure {
	c := r.c
	if c.snapErr != nil {
		return fail("harness", "%v", c.snapErr)
	}
	// The dead instance's handles are gone; what it published, and the
	// spool as it was, are what the next mount finds.
	for _, slot := range r.m.slots() {
		r.dropHandle(slot)
	}
	if err := c.start(dst); err != nil {
		return fail("recovery", "remount: %v", err)
	}
	if err := c.settle(modelStepTimeout / 2); err != nil {
		return fail("recovery", "%v", err)
	}
	ctx, cancel := r.ctx()
	defer cancel()
	if err := c.fs.Shutdown(ctx); err != nil {
		return fail("unmount", "shutdown after recovery: %v", err)
	}
	c.fence.kill(0, "")
	if interrupted != nil {
		if f := r.resolve(*interrupted); f != nil {
			return f
		}
		if afterResolve != nil {
			afterResolve()
		}
	}
	if f := r.checkExact("after the crash, a remount and an unmount,"); f != nil {
		return f
	}
	// Once more: a remount of that spool changes nothing.
	return r.finishAgain()
}

// resolve applies an operation the crash interrupted as S3 shows it ended:
// either way is right, as long as the file is under one name only.
func (r *runner) resolve(o op) *failure {
	switch o.Kind {
	case opRename:
		if r.m.isDir(o.Name) || r.m.isDir(o.To) {
			return r.resolveDirRename(o)
		}
		_, old := r.object(o.Name)
		_, now := r.object(o.To)
		switch {
		case old && now:
			return fail("twice", "an interrupted rename(%q, %q) left the file under both names", o.Name, o.To)
		case now:
			if f := r.m.files[o.Name]; f != nil {
				r.m.unlink(f)
				f.name = o.To
				r.m.files[o.To] = f
				delete(r.m.gone, o.To)
			}
		}
	case opUnlink:
		if _, ok := r.object(o.Name); !ok {
			if f := r.m.files[o.Name]; f != nil {
				r.m.unlink(f)
			}
		}
	}
	return nil
}

// finishAgain mounts the same spool once more and unmounts: S3 must not
// change (nothing resurrected, nothing published twice).
func (r *runner) finishAgain() *failure {
	if err := r.c.start(r.c.dir); err != nil {
		return fail("recovery", "remount: %v", err)
	}
	if err := r.c.settle(modelStepTimeout / 2); err != nil {
		return fail("recovery", "%v", err)
	}
	ctx, cancel := r.ctx()
	defer cancel()
	if err := r.c.fs.Shutdown(ctx); err != nil {
		return fail("unmount", "second shutdown: %v", err)
	}
	r.c.fence.kill(0, "")
	return r.checkExact("after one more mount of the same spool,")
}

// goid is the calling goroutine's id and the id of the goroutine that
// started it.
func goid() (me, parent int64) {
	var b [4096]byte
	n := runtime.Stack(b[:], false)
	f := bytes.Fields(b[:n])
	if len(f) >= 2 {
		me, _ = strconv.ParseInt(string(f[1]), 10, 64)
	}
	if i := bytes.LastIndex(b[:n], []byte("in goroutine ")); i >= 0 {
		rest := bytes.Fields(b[i+len("in goroutine ") : n])
		if len(rest) > 0 {
			parent, _ = strconv.ParseInt(string(rest[0]), 10, 64)
		}
	}
	return me, parent
}
