package vfs

// The runner applies a sequence of operations to the core and to the model
// side by side and compares them after every step.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
)

// failure is what broke, at which step (0: the checks after the last step).
type failure struct {
	step int
	kind string // what invariant: same kind = same failure when minimising
	msg  string
}

func (f *failure) Error() string { return fmt.Sprintf("step %d: [%s] %s", f.step, f.kind, f.msg) }

func fail(kind, format string, args ...any) *failure {
	return &failure{kind: kind, msg: fmt.Sprintf(format, args...)}
}

type runner struct {
	t   testing.TB
	opt coreOptions
	mem *memstore.Store
	c   *core
	m   *model
	vh  map[int]*Handle // slot -> the core's handle

	stepTimeout time.Duration
	steps       int // steps that did something

	injected atomic.Int64 // store faults injected during the current step

	raceMu sync.Mutex
	raced  []racedAppend // another host's appends a race hook made

	objCache map[string]cachedObject
	hooked   bool     // a fault or race hook is installed on the store
	zerr     *failure // a compressed object that does not decompress (model_compress_test.go)
	// midStep, when set, runs once between a step's reads of S3 and its
	// call (tests that need a publication to land just there); under, when
	// set, is a hook below every step's faults, in place between steps too.
	midStep func()
	under   memstore.Hook

	// cov: what the sequence exercised (coverage of the model test);
	// covMu: fault hooks count from the store's callers (with real
	// timers, the scheduler's goroutines) while a step counts too.
	covMu sync.Mutex
	cov   map[string]int

	// drops: what each log lost to drops not marked yet; diskFullStep:
	// the step runs on a full spool disk (model_buffer_test.go).
	drops        map[*mfile]dropTally
	markersSeen  map[string]bool // drop marker lines taken in (absorbEnd)
	diskFullStep bool
	maybeUnkept  map[*mfile]bool

	// attrs: the attributes model, in sequences with chmod steps
	// (model_attrs_test.go).
	attrs *attrModel
	// dirModes: the directories' modes, in sequences with directory
	// chmods (model_dirattrs_test.go).
	dirModes dirModes
	// dirRenamed: the step moved a directory's tree (renameDir).
	dirRenamed bool
}

// coverage sums what the model test's sequences exercised, so that a run
// shows it is not vacuous.
var coverage = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

func (r *runner) count(what string) {
	r.covMu.Lock()
	r.cov[what]++
	r.covMu.Unlock()
}

var debugCalls = os.Getenv("MODEL_DEBUG_CALLS") != ""

type racedAppend struct {
	name string
	data []byte
}

// runOps runs ops on a fresh core. It returns the first failure (nil when
// all held) and the steps done.
func runOps(t testing.TB, opt coreOptions, ops []op, stepTimeout time.Duration) (*failure, int, string) {
	r, err := newRunner(t, opt, stepTimeout)
	if err != nil {
		return fail("setup", "%v", err), 0, ""
	}
	defer r.c.cleanup()
	if hasChmod(ops) {
		r.attrs = &attrModel{files: map[*mfile]*attrState{}, mt: map[*mfile]*mtState{}}
	}
	if hasDirChmod(ops) {
		r.dirModes = dirModes{}
	}
	defer func() {
		coverage.Lock()
		r.covMu.Lock()
		for k, v := range r.cov {
			coverage.n[k] += v
		}
		r.covMu.Unlock()
		coverage.Unlock()
	}()
	for i, o := range ops {
		start := time.Now()
		var dirsBefore dirStepStart
		if r.dirModes != nil {
			dirsBefore = r.dirsBefore()
		}
		f := r.guarded(func() *failure { return r.step(o) })
		if f == nil {
			f = r.guarded(r.check)
		}
		if f == nil && r.attrs != nil {
			f = r.guarded(func() *failure { return r.attrs.afterStep(r, o) })
		}
		if f == nil && r.attrs != nil {
			f = r.guarded(func() *failure { return r.attrs.afterMtime(r, o, start) })
		}
		if f == nil && r.dirModes != nil {
			f = r.guarded(func() *failure { return r.dirModes.afterDirStep(r, o, dirsBefore) })
		}
		if f != nil {
			f.step = i + 1
			return f, r.steps, r.c.log.Tail()
		}
	}
	r.c.diskFull.Store(false)
	if f := r.guarded(r.finish); f != nil {
		return f, r.steps, r.c.log.Tail()
	}
	return nil, r.steps, ""
}

// newRunner starts a core over a new store and an empty model.
func newRunner(t testing.TB, opt coreOptions, stepTimeout time.Duration) (*runner, error) {
	mem := memstore.New("memstore-bucket")
	if opt.Express {
		mem = memstore.NewExpress("memstore-bucket--use1-az4--x-s3")
	}
	mem.SetContentETags(opt.ContentETags)
	r := &runner{t: t, opt: opt, mem: mem, m: newModel(), vh: map[int]*Handle{}, stepTimeout: stepTimeout, objCache: map[string]cachedObject{}, cov: map[string]int{}, drops: map[*mfile]dropTally{}, markersSeen: map[string]bool{}, maybeUnkept: map[*mfile]bool{}}
	c, err := newCore(mem, opt)
	if err != nil {
		return nil, err
	}
	r.c = c
	return r, nil
}

// guarded runs fn under the watchdog: not ending in time is a hang.
func (r *runner) guarded(fn func() *failure) *failure {
	var f *failure
	if watch(r.stepTimeout, func() { f = fn() }) {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		return fail("hang", "the step did not end within %v; goroutines:\n%s", r.stepTimeout, interesting(buf[:n]))
	}
	return f
}

// interesting keeps the goroutines that are inside the core.
func interesting(stacks []byte) string {
	var keep []string
	for _, g := range strings.Split(string(stacks), "\n\n") {
		if strings.Contains(g, "/internal/vfs.") || strings.Contains(g, "/internal/publish.") || strings.Contains(g, "/internal/spool.") {
			keep = append(keep, g)
		}
	}
	return strings.Join(keep, "\n\n")
}

func (r *runner) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), r.stepTimeout)
}

// object is S3's bytes for name, as another host would read them. Large
// objects are copied only when their ETag changed (copies are slow under
// the race detector).
func (r *runner) object(name string) ([]byte, bool) {
	if r.opt.Compress != "" {
		return r.zobject(name)
	}
	if r.hooked {
		// Head would meet the step's faults.
		b, _, ok := r.mem.Object(name)
		return b, ok
	}
	info, err := r.mem.Head(context.Background(), name)
	if err != nil {
		return nil, false
	}
	if c, ok := r.objCache[name]; ok && c.etag == info.ETag {
		return c.data, true
	}
	b, etag, ok := r.mem.Object(name)
	if ok {
		r.objCache[name] = cachedObject{etag, b}
	}
	return b, ok
}

type cachedObject struct {
	etag string
	data []byte
}

// vfsLocal reports whether the core holds a spool file for name.
func (r *runner) vfsLocal(name string) bool {
	fs := r.c.fs
	fs.mu.Lock()
	n := fs.byPath.get(name)
	fs.mu.Unlock()
	if n == nil {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.file != nil
}

// quiet: nobody has the file open and S3 holds it; the core keeps nothing
// local, so another host may change it and this host must see the change.
func (r *runner) quiet(f *mfile) bool {
	if f == nil || f.handles > 0 || f.lm != nil || f.name == "" {
		return false
	}
	s, ok := r.object(f.name)
	return ok && bytes.Equal(s, f.data) && !r.vfsLocal(f.name)
}

// idle: the core keeps nothing local for the file (whatever handles are
// open): S3 holds it, and changing it means replacing the object.
func (r *runner) idle(f *mfile) bool {
	if f == nil || f.lm != nil || f.name == "" {
		return false
	}
	s, ok := r.object(f.name)
	return ok && bytes.Equal(s, f.data) && !r.vfsLocal(f.name)
}

// pubPrefix is how many of the file's bytes S3 has published.
func (r *runner) pubPrefix(f *mfile) int {
	if f.name == "" {
		return 0
	}
	s, ok := r.object(f.name)
	if ok && bytes.HasPrefix(f.data, s) {
		return len(s)
	}
	return 0
}

// expectation of an operation's outcome.
type expect int

const (
	wantOK     expect = iota
	wantEPERM         // the mount options forbid it
	wantEither        // EPERM or success, both are right
)

// publishedDuring: a publication of the file may land while a call runs
// (the call waits for one in flight) — with real timers, or the one a
// rename whose old key's delete failed runs at once (seed 263024025) —
// so S3 may hold more of the file after the call than the expectation
// taken before it saw. An EPERM that the expectation after the call
// foresees is right (seed 294104990: a log's publication landed during a
// truncate below it; 406232368: a new file's first publication during
// its unlink, without --allow-delete). Publications only add to what S3
// has, so a success the expectation before allowed stays allowed.
func (r *runner) publishedDuring(want expect, err error, expected func() expect) expect {
	if want != wantOK || Errno(err) != syscall.EPERM {
		return want
	}
	if after := expected(); after != wantOK {
		r.count("EPERM after a publication during the call")
		return after
	}
	return want
}

// outcome checks err against the expectation; faulted steps may also fail
// with EIO (a store fault the publication could not get past).
func (r *runner) outcome(what string, err error, want expect, also ...syscall.Errno) *failure {
	e := Errno(err)
	switch {
	case e == 0 && want != wantEPERM:
		return nil
	case e == syscall.EPERM && want != wantOK:
		r.count("EPERM (mount options)")
		return nil
	case e == syscall.EIO && r.injected.Load() > 0:
		r.count("EIO after a store fault")
		return nil
	case e == syscall.ENOSPC && r.diskFullStep:
		r.count("ENOSPC on a full spool disk")
		return nil
	}
	for _, a := range also {
		if e == a {
			return nil
		}
	}
	if e == 0 {
		return fail("errno", "%s succeeded; the mount options (%v) forbid it: want EPERM", what, r.opt)
	}
	w := "success"
	if want == wantEPERM {
		w = "EPERM"
	} else if want == wantEither {
		w = "success or EPERM"
	}
	return fail("errno", "%s: %v (errno %v), want %s", what, err, e, w)
}

// writeOps are the calls that change the bucket: faults 4 and 5 hit the
// first of them.
var writeOps = map[string]bool{"PutObject": true, "CreateMultipartUpload": true, "UploadPart": true, "UploadPartCopy": true,
	"CompleteMultipartUpload": true, "CopyObject": true, "DeleteObject": true, "RenameObject": true}

// faults installs the step's store faults (and a race hook).
func (r *runner) faults(o op, race func(c memstore.Call)) func() {
	if fn := r.midStep; fn != nil {
		r.midStep = nil
		fn()
	}
	r.injected.Store(0)
	refuse := o.Refuse || o.Faults == faultRefuseDeletes
	if o.Faults == 0 && race == nil && !refuse {
		return func() {}
	}
	var mu sync.Mutex
	calls := 0
	rng := rand.New(rand.NewSource(int64(o.ID)*7919 + 17))
	r.hooked = true
	r.mem.SetHook(func(c memstore.Call) memstore.Fault {
		if race != nil {
			race(c)
		}
		if r.under != nil {
			if f := r.under(c); f != memstore.Pass {
				return f
			}
		}
		if refuse && c.Op == "DeleteObject" {
			r.injected.Add(1)
			r.count("deletes refused")
			return memstore.Fail
		}
		if o.Faults == 0 || o.Faults == faultRefuseDeletes {
			return memstore.Pass
		}
		mu.Lock()
		x := rng.Intn(100)
		first := calls == 0 && writeOps[c.Op]
		second := calls == 1 && writeOps[c.Op]
		if writeOps[c.Op] {
			calls++
		}
		mu.Unlock()
		f := memstore.Pass
		switch {
		case o.Faults == faultFailFirst && first, o.Faults == faultFailSecond && second:
			f = memstore.Fail
		case o.Faults == faultLoseFirst && first, o.Faults == faultLoseAll:
			f = memstore.LoseAnswer
		case o.Faults == 1 && x < 25, o.Faults == 3 && x < 15:
			f = memstore.Fail
		case o.Faults == 2 && x < 25, o.Faults == 3 && x < 30:
			f = memstore.LoseAnswer
			if x%2 == 1 && writeOps[c.Op] && c.Op != "CreateMultipartUpload" {
				// The SDK retried the request and its own first
				// attempt made S3 refuse the retry (412, NoSuchKey).
				// (Not CreateMultipartUpload: s3store has the SDK
				// never retry it, so that a lost answer's upload is
				// found and aborted.)
				f = memstore.Retried
			}
		}
		if f != memstore.Pass {
			r.injected.Add(1)
			r.count("store faults injected")
		}
		if debugCalls {
			fmt.Printf("call %d %s %q -> %v\n", c.Seq, c.Op, c.Key, f)
		}
		return f
	})
	return func() { r.mem.SetHook(r.under); r.hooked = false }
}

func (r *runner) step(o op) *failure {
	r.startStep(o)
	switch o.Kind {
	case opOpen:
		return r.open(o)
	case opClose:
		return r.close(o)
	case opWrite:
		return r.write(o)
	case opFsync:
		return r.fsync(o)
	case opTruncate:
		return r.truncate(o)
	case opRename:
		return r.rename(o)
	case opUnlink:
		return r.unlink(o)
	case opTick:
		return r.tick(o)
	case opRaceTick:
		return r.raceTick(o)
	case opRemotePut, opRemoteAppend, opRemoteDelete:
		return r.remote(o)
	case opCrash:
		return r.crash()
	case opRestart:
		return r.restart()
	case opMkdir:
		return r.mkdir(o)
	case opRmdir:
		return r.rmdir(o)
	case opChmod:
		return r.chmod(o)
	case opUtimes:
		return r.utimes(o)
	case opDirChmod:
		return r.dirChmod(o)
	}
	return fail("harness", "unknown op %v", o.Kind)
}

func (r *runner) addHandle(slot int, f *mfile, flags int, h *Handle, wrote bool) {
	acc := flags & syscall.O_ACCMODE
	mh := &mhandle{f: f, flags: flags, write: acc != os.O_RDONLY || flags&os.O_TRUNC != 0, append: flags&os.O_APPEND != 0, wrote: wrote}
	r.m.h[slot], r.vh[slot] = mh, h
	f.handles++
	if mh.write {
		f.writers++
		if mh.append {
			f.appenders++
			f.log = true
		}
	}
	r.steps++
}

func (r *runner) dropHandle(slot int) {
	mh := r.m.h[slot]
	delete(r.m.h, slot)
	delete(r.vh, slot)
	f := mh.f
	f.handles--
	if mh.write {
		f.writers--
		if mh.append {
			f.appenders--
		}
	}
}

func (r *runner) open(o op) *failure {
	if _, busy := r.m.h[o.Slot]; busy {
		return nil
	}
	ctx, cancel := r.ctx()
	defer cancel()
	fs := r.c.fs
	dir, base, ok, ff := r.fileWalk(ctx, o.Name)
	if !ok {
		return ff
	}
	f := r.m.files[o.Name]
	n, err := fs.Lookup(ctx, dir, base)
	switch {
	case f != nil && err != nil:
		return fail("lookup", "lookup %q: %v; the file exists", o.Name, err)
	case f == nil && err == nil:
		return fail("lookup", "lookup %q found a file; it was never made, or was unlinked, renamed away or deleted", o.Name)
	}
	acc := o.Flags & syscall.O_ACCMODE
	trunc := o.Flags&os.O_TRUNC != 0
	write := acc != os.O_RDONLY || trunc
	app := o.Flags&os.O_APPEND != 0
	if f == nil {
		if o.Flags&os.O_CREATE == 0 {
			return nil // ENOENT, as the kernel answers
		}
		_, h, err := fs.Create(ctx, dir, base, o.Flags, 0o644)
		if ff := r.outcome(fmt.Sprintf("create %q", o.Name), err, wantOK); ff != nil || err != nil {
			return ff // (ENOSPC on a full spool disk: no file)
		}
		old, lingers := r.m.lingering[o.Name]
		nf := r.m.newFile(o.Name, []byte{})
		if lingers {
			// A renamed file's old object still under the name (its
			// delete refused or failed): the new file replaces it at
			// its first publication, until then S3 may show it.
			nf.replaced = [][]byte{old}
			r.count("files created over an old key still to delete")
		}
		r.addHandle(o.Slot, nf, o.Flags, h, !app)
		return nil
	}
	if o.Flags&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL {
		return nil // EEXIST, as the kernel answers
	}
	if f.lm != nil && (trunc || write && !app) {
		return nil // line mode follows appends only
	}
	expected := func() expect {
		if r.opt.AllowOverwrite || !write {
			return wantOK
		}
		_, present := r.object(o.Name)
		switch {
		case trunc && r.pubPrefix(f) > 0:
			return wantEPERM
		case trunc && present:
			return wantEither
		case !trunc && !app && r.idle(f):
			return wantEPERM // editing an idle object in place
		case !trunc && !app && present:
			return wantEither
		}
		return wantOK
	}
	want := expected()
	h, err := fs.Open(ctx, n, o.Flags&^(os.O_CREATE|os.O_EXCL))
	want = r.publishedDuring(want, err, expected)
	if ff := r.outcome(fmt.Sprintf("open %q %s", o.Name, flagString(o.Flags)), err, want); ff != nil || err != nil {
		return ff
	}
	if trunc {
		f.truncate(0)
	}
	r.addHandle(o.Slot, f, o.Flags, h, trunc)
	r.m.h[o.Slot].truncOnly = trunc
	return nil
}

func (r *runner) close(o op) *failure {
	mh := r.m.h[o.Slot]
	if mh == nil {
		return nil
	}
	defer r.faults(o, nil)()
	ctx, cancel := r.ctx()
	defer cancel()
	h := r.vh[o.Slot]
	f := mh.f
	ack := mh.write && !mh.append && mh.wrote
	err := h.Flush(ctx)
	h.Release()
	r.dropHandle(o.Slot)
	r.steps++
	if r.waitsForReaders(err) {
		return nil
	}
	if ff := r.outcome(fmt.Sprintf("close of %q", f.name), err, wantOK); ff != nil || err != nil {
		return ff
	}
	if ack {
		why := ""
		if mh.truncOnly {
			why += ", changed by truncation only"
		}
		if mh.fsyncFailed {
			why += ", after a failed fsync"
		}
		return r.acked(f, fmt.Sprintf("close (h%d %s%s)", o.Slot, flagString(mh.flags), why))
	}
	return nil
}

// waitsForReaders: err says a publication must move bytes of a data file
// the kernel reads directly for open handles (a rebase after another
// host's append: spool.ErrPinned). It waits until they close; a close or
// fsync that needs it now fails with EIO meanwhile, the bytes kept.
func (r *runner) waitsForReaders(err error) bool {
	if Errno(err) != syscall.EIO || !errors.Is(err, spool.ErrPinned) {
		return false
	}
	r.count("EIO: a publication waits for direct readers (passthrough)")
	return true
}

// acked: the application was told the file is published (close, fsync).
func (r *runner) acked(f *mfile, what string) *failure {
	if f.name == "" {
		return nil
	}
	s, ok := r.ownObject(f.name)
	if f.lm != nil {
		f.lm.mustOur = len(f.lm.ours)
		if !ok {
			return fail("ack", "%s of %q returned, S3 has no object", what, f.name)
		}
		if msg := f.lm.checkS3(s); msg != "" {
			return fail("ack", "%s of %q returned: %s", what, f.name, msg)
		}
		return nil
	}
	if !ok || !bytes.Equal(s, f.data) {
		return fail("ack", "%s of %q returned success but S3 does not hold the file (S3: %d bytes, file: %d): %s", what, f.name, len(s), len(f.data), describeDiff(s, [][]byte{f.data}))
	}
	f.acked()
	f.prevS3 = s
	r.count("acknowledged publications (close, fsync)")
	return nil
}

func (r *runner) write(o op) *failure {
	mh := r.m.h[o.Slot]
	if mh == nil || !mh.write {
		return nil
	}
	f := mh.f
	var data []byte
	var off int
	if mh.append {
		data = lines('L', o.ID, o.Len%3+1)
		if o.Partial && f.lm == nil {
			last := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
			data = data[:last+(len(data)-last)/2]
		}
		off = len(f.data)
	} else {
		if f.lm != nil {
			return nil
		}
		data = filler(o.ID, o.Len, true)
		size := len(f.data)
		switch o.Where {
		case atEnd:
			off = size
		case atInside:
			off = size * o.Frac / 16
		default:
			off = size + size*o.Frac/16 + 1
		}
	}
	expected := func() expect {
		switch {
		case mh.append || r.opt.AllowOverwrite:
			return wantOK
		case f.name == "":
			return wantEither
		case off < r.pubPrefix(f):
			return wantEPERM // rewriting published bytes
		}
		return wantOK
	}
	want := expected()
	ctx, cancel := r.ctx()
	defer cancel()
	h := r.vh[o.Slot]
	droppable := r.droppable(mh)
	var watch dropWatch
	if droppable {
		watch = r.watchDrops(h)
	}
	m, err := r.doWrite(ctx, mh, h, data, int64(off))
	r.steps++
	if Errno(err) == syscall.ENOSPC {
		return fail("errno", "write to %q at %d: %v; on a full spool disk a write waits or is dropped, as on a full buffer", f.name, off, err)
	}
	want = r.publishedDuring(want, err, expected)
	if Errno(err) == syscall.EIO && !mh.append && r.unkept(f) {
		// An edit needs the published bytes the unlink could not keep.
		return nil
	}
	if ff := r.outcome(fmt.Sprintf("write to %q at %d", f.name, off), err, want); ff != nil || err != nil {
		return ff
	}
	if m != len(data) {
		return fail("write", "write to %q wrote %d of %d bytes", f.name, m, len(data))
	}
	mh.wrote, mh.truncOnly = true, false
	switch {
	case droppable:
		return r.wroteDroppable(watch, h, mh, data)
	case f.lm != nil:
		f.lm.ours = append(f.lm.ours, splitLines(data)...)
	case mh.append:
		f.appendData(data)
	default:
		f.writeAt(data, off)
	}
	return nil
}

func (r *runner) fsync(o op) *failure {
	mh := r.m.h[o.Slot]
	if mh == nil || !mh.write && avoiding("fsync-rdonly") {
		return nil
	}
	defer r.faults(o, nil)()
	ctx, cancel := r.ctx()
	defer cancel()
	err := r.vh[o.Slot].Fsync(ctx)
	r.steps++
	if r.waitsForReaders(err) {
		mh.fsyncFailed = true
		return nil
	}
	if ff := r.outcome(fmt.Sprintf("fsync of %q", mh.f.name), err, wantOK); ff != nil || err != nil {
		// A failed fsync leaves the changes unpublished: close must still
		// publish them or fail.
		mh.fsyncFailed = err != nil
		return ff
	}
	if mh.write {
		mh.wrote, mh.truncOnly, mh.fsyncFailed = false, false, false
	}
	return r.acked(mh.f, fmt.Sprintf("fsync (h%d %s)", o.Slot, flagString(mh.flags)))
}

func (r *runner) truncate(o op) *failure {
	ctx, cancel := r.ctx()
	defer cancel()
	fs := r.c.fs
	var f *mfile
	var n *Node
	var h *Handle
	var mh *mhandle
	if o.ByName {
		f = r.m.files[o.Name]
		dir, base, ok, ff := r.fileWalk(ctx, o.Name)
		if !ok {
			return ff
		}
		var err error
		n, err = fs.Lookup(ctx, dir, base)
		if f == nil {
			if err == nil {
				return fail("lookup", "lookup %q found a file; it was never made, or was unlinked, renamed away or deleted", o.Name)
			}
			return nil
		}
		if err != nil {
			return fail("lookup", "lookup %q: %v; the file exists", o.Name, err)
		}
	} else {
		mh = r.m.h[o.Slot]
		if mh == nil || !mh.write {
			return nil
		}
		f, h = mh.f, r.vh[o.Slot]
		n = h.Node()
	}
	if f.lm != nil {
		return nil
	}
	size := len(f.data)*o.Frac/16 + o.Len
	expected := func() expect {
		switch {
		case r.opt.AllowOverwrite:
			return wantOK
		case f.name == "":
			return wantEither
		case size < r.pubPrefix(f):
			return wantEPERM
		case r.idle(f) && size != len(f.data):
			return wantEPERM
		}
		return wantOK
	}
	want := expected()
	err := fs.Setattr(ctx, n, h, SetAttr{Size: ptr(int64(size))})
	r.steps++
	want = r.publishedDuring(want, err, expected)
	what := fmt.Sprintf("ftruncate(%q, %d)", f.name, size)
	if o.ByName {
		what = fmt.Sprintf("truncate(%q, %d)", f.name, size)
	}
	if ff := r.outcome(what, err, want); ff != nil || err != nil {
		return ff
	}
	if size != len(f.data) || !r.idle(f) {
		f.truncate(size)
	}
	if mh != nil && !mh.wrote {
		mh.wrote, mh.truncOnly = true, true
	}
	if o.ByName && f.writers == 0 {
		return r.acked(f, "truncate by name (no writer open)")
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func (r *runner) rename(o op) *failure {
	odir, obase, ndir, nbase, ff, done := r.renamePaths(o)
	if done {
		return ff
	}
	f, g := r.m.files[o.Name], r.m.files[o.To]
	if f != nil && f.lm != nil || g != nil && g.lm != nil {
		return nil
	}
	if g != nil && g != f && g.handles > 0 && avoiding("unlink-open") {
		return nil
	}
	srcObj, srcPresent := r.object(o.Name)
	dstOld, dstPresent := r.object(o.To)
	expected := func() expect {
		_, srcPresent := r.object(o.Name)
		_, dstPresent := r.object(o.To)
		if !r.opt.AllowDelete && f != nil && o.Name != o.To && (srcPresent || dstPresent) {
			return wantEPERM
		}
		return wantOK
	}
	want := expected()
	ctx, cancel := r.ctx()
	defer cancel()
	fs := r.c.fs
	stop := r.faults(o, nil)
	err := fs.Rename(ctx, odir, obase, ndir, nbase, 0)
	stop()
	r.steps++
	want = r.publishedDuring(want, err, expected)
	what := fmt.Sprintf("rename(%q, %q)", o.Name, o.To)
	if f == nil {
		if e := Errno(err); e != syscall.ENOENT && (e != syscall.EIO || r.injected.Load() == 0) {
			return fail("errno", "%s: %v, want ENOENT", what, err)
		}
		return nil
	}
	if ff := r.outcome(what, err, want); ff != nil || o.Name == o.To {
		return ff
	}
	if err != nil {
		// A store fault failed it: the mount says whether it happened
		// (what S3 holds must then agree, as after any step).
		if gone, ff := r.nameGone(o.Name); ff != nil || !gone {
			return ff
		}
		r.count("renames that happened though a store fault failed them")
	}
	// S3 under the old name may be an object the file replaced, not the
	// file: then it is as unpublished as a new file.
	srcOwn := srcPresent && !f.replacedWith(srcObj)
	if g != nil {
		r.m.unlink(g)
	}
	r.m.unlink(f)
	r.m.keepParents(o.Name)
	delete(r.m.lingering, o.To)
	if srcPresent && r.injected.Load() > 0 {
		// The old key's delete may have failed: the file's next
		// publication deletes it (the next tick without faults). (Also
		// when S3's bytes there equal an object the file replaced: an
		// empty file published over an empty leftover looks the same.)
		r.m.lingering[o.Name] = srcObj
	}
	r.lingersInFlight(f, o.Name, srcObj, srcPresent)
	f.name = o.To
	r.m.files[o.To] = f
	delete(r.m.gone, o.To)
	r.count("renames")
	if f.handles > 0 {
		r.count("renames of open files")
	}
	var replaced [][]byte
	if !srcOwn && dstPresent {
		replaced = append(replaced, dstOld)
	}
	if !srcOwn && r.opt.RealTimers && g != nil && g != f {
		// The replaced file's publication in flight (its timers) may
		// have landed during the rename: S3 shows that version until
		// the file's first publication (seed 238612957: a log's close
		// published after the model read the object it replaced).
		if now, ok := r.object(o.To); ok && !(dstPresent && bytes.Equal(now, dstOld)) {
			replaced = append(replaced, now)
			r.count("replaced files published during the rename (real timers)")
		}
	}
	if replaced != nil {
		f.replaced = replaced
	}
	return nil
}

func (r *runner) unlink(o op) *failure {
	f := r.m.files[o.Name]
	if f != nil && (f.lm != nil || f.handles > 0 && avoiding("unlink-open")) {
		return nil
	}
	expected := func() expect {
		if _, present := r.object(o.Name); !r.opt.AllowDelete && present {
			return wantEPERM
		}
		return wantOK
	}
	want := expected()
	ctx, cancel := r.ctx()
	defer cancel()
	fs := r.c.fs
	dir, base, ok, ff := r.fileWalk(ctx, o.Name)
	if !ok {
		return ff
	}
	stop := r.faults(o, nil)
	err := fs.Unlink(ctx, dir, base)
	stop()
	r.steps++
	want = r.publishedDuring(want, err, expected)
	what := fmt.Sprintf("unlink(%q)", o.Name)
	if f == nil {
		if e := Errno(err); e != syscall.ENOENT && (e != syscall.EIO || r.injected.Load() == 0) {
			return fail("errno", "%s: %v, want ENOENT", what, err)
		}
		return nil
	}
	if ff := r.outcome(what, err, want); ff != nil {
		return ff
	}
	if err != nil {
		if gone, ff := r.nameGone(o.Name); ff != nil || !gone {
			return ff
		}
		r.count("unlinks that happened though a store fault failed them")
	}
	r.count("unlinks")
	if f.handles > 0 {
		r.count("unlinks of open files")
	}
	r.m.unlink(f)
	r.m.keepParents(o.Name)
	return nil
}

// nameGone asks the mount whether name is gone, after a rename or unlink
// of it that a store fault failed: either outcome is right, as long as
// S3 and reads agree with it.
func (r *runner) nameGone(name string) (bool, *failure) {
	r.count("renames and unlinks failed by a store fault")
	ctx, cancel := r.ctx()
	defer cancel()
	_, err := r.lookupPath(ctx, name)
	switch e := Errno(err); {
	case err == nil:
		return false, nil
	case e == syscall.ENOENT:
		return true, nil
	default:
		return false, fail("lookup", "lookup %q after a failed rename or unlink: %v", name, err)
	}
}

// tick runs the due publications and checks that a log with writers open
// is published up to a line end only.
func (r *runner) tick(o op) *failure {
	defer r.faults(o, nil)()
	ff := r.tickChecked()
	if r.injected.Load() == 0 {
		clear(r.m.lingering) // the publications ran: old keys are gone
	}
	return ff
}

func (r *runner) tickChecked() *failure {
	before := map[string][]byte{}
	for name, f := range r.m.files {
		if f.appenders > 0 {
			s, _ := r.object(name)
			before[name] = s
		}
	}
	calls := r.c.fence.Calls()
	r.c.tick()
	r.steps++
	if r.c.fence.Calls() > calls {
		r.count("ticks that published")
	}
	for name, b := range before {
		s, _ := r.object(name)
		if !bytes.Equal(s, b) && len(s) > 0 && s[len(s)-1] != '\n' {
			return fail("torn", "a publication of %q with O_APPEND writers open ends inside a line: ...%q", name, clip(s[max(0, len(s)-60):]))
		}
	}
	return nil
}

// lineModeOK: another host may append to f while it is written here (the
// case the contract merges at line granularity).
func (r *runner) lineModeOK(f *mfile) bool {
	if f == nil || f.name == "" {
		return false
	}
	if f.lm != nil {
		return true
	}
	if r.drops[f].writes > 0 {
		return false // a marker is due at its end
	}
	if r.otherFormLeft(f.name) {
		return false // another host would append to the replaced object (remote)
	}
	s, _ := r.object(f.name)
	return f.log && r.appendOnly(f.name) && (len(f.data) == 0 || f.data[len(f.data)-1] == '\n') && linePrefix(s, f.data)
}

// appendOnly: the core publishes the file as appends to what S3 has (the
// contract's "file that only grows", which rebases after another host's
// append); other files meet such an append as a conflict.
func (r *runner) appendOnly(name string) bool {
	fs := r.c.fs
	fs.mu.Lock()
	n := fs.byPath.get(name)
	fs.mu.Unlock()
	if n == nil {
		return false
	}
	n.mu.Lock()
	f := n.file
	n.mu.Unlock()
	return f != nil && f.Journal().Kind == spool.KindAppend
}

// enterLineMode starts merging another host's lines into f.
func (r *runner) enterLineMode(f *mfile, base []byte) {
	if f.lm == nil {
		r.count("logs merged with another host's lines")
		f.lm = &lineMode{base: base, ours: splitLines(f.data[len(base):])}
	}
}

// raceTick: another host appends to the name between two store calls of
// the publications the tick runs.
func (r *runner) raceTick(o op) *failure {
	f := r.m.files[o.Name]
	if !r.lineModeOK(f) {
		defer r.faults(o, nil)()
		return r.tickChecked()
	}
	base, _ := r.object(o.Name)
	chunk := lines('R', o.ID, 1+o.ID%2)
	var calls atomic.Int32
	var once sync.Once
	stop := r.faults(o, func(c memstore.Call) {
		if !r.callOn(c, o.Name) {
			return
		}
		if int(calls.Add(1)) == o.Nth {
			once.Do(func() {
				r.appendRemote(o.Name, chunk)
				r.raceMu.Lock()
				r.raced = append(r.raced, racedAppend{o.Name, chunk})
				r.raceMu.Unlock()
			})
		}
	})
	r.raceMu.Lock()
	r.raced = nil
	r.raceMu.Unlock()
	ff := r.tickChecked()
	stop()
	r.raceMu.Lock()
	raced := r.raced
	r.raced = nil
	r.raceMu.Unlock()
	if len(raced) > 0 {
		r.count("another host's appends inside a publication")
		r.enterLineMode(f, base)
		f.lm.theirs = append(f.lm.theirs, splitLines(chunk)...)
	}
	if ff != nil && ff.kind == "torn" && len(raced) > 0 {
		// S3 may now end with the other host's whole lines: the merge
		// check judges it.
		return nil
	}
	return ff
}

var (
	bigMu    sync.Mutex
	bigBlobs = map[int][]byte{}
)

// bigBlob is an object past the compose threshold (5 MiB) of text lines;
// callers must not change it.
func bigBlob(id int) []byte {
	bigMu.Lock()
	defer bigMu.Unlock()
	if b, ok := bigBlobs[id]; ok {
		return b
	}
	b := makeBigBlob(id)
	bigBlobs[id] = b
	return b
}

func makeBigBlob(id int) []byte {
	var b []byte
	for k := 0; len(b) < 5<<20+512; k++ {
		b = append(b, fmt.Appendf(nil, "B%d.%d ", id, k)...)
		b = append(b, filler(id+k, 90, false)...)
		b = append(b, '\n')
	}
	return b
}

func (r *runner) remote(o op) *failure {
	if !r.remotePathOK(o.Name) {
		return nil
	}
	f := r.m.files[o.Name]
	if f != nil && o.Kind != opRemoteDelete && r.otherFormLeft(o.Name) {
		// Another host would write to the object the file replaced
		// (README: it stays, both forms, with a warning); the model
		// has one file per name.
		r.count("another host's writes skipped: the name's other form still to delete")
		return nil
	}
	switch o.Kind {
	case opRemotePut:
		if f != nil && !r.quiet(f) {
			return nil
		}
		data := lines('R', o.ID, o.Len%4+1)
		if o.Big {
			data = append(append([]byte(nil), bigBlob(o.ID%4)...), data...)
			r.count("objects past the compose threshold")
		}
		r.putRemote(o.Name, data)
		delete(r.m.lingering, o.Name) // replaced: the late delete leaves it alone
		if f == nil {
			f = r.m.newFile(o.Name, data)
		} else {
			f.set(data)
		}
		f.acked()
	case opRemoteAppend:
		data := lines('R', o.ID, o.Len%3+1)
		switch {
		case f == nil:
			old, ok := r.object(o.Name)
			if ok && !r.lingers(o.Name, old) {
				return fail("harness", "S3 holds %q, the model has no file", o.Name)
			}
			// A renamed file's old object still under the name (its
			// delete due) takes the other host's lines after the
			// rotated ones (README: they are then in S3 twice); it is
			// that host's file now, which the late delete leaves alone.
			if ok {
				delete(r.m.lingering, o.Name)
				r.count("another host's appends to an old key still to delete")
			}
			r.appendRemote(o.Name, data)
			f = r.m.newFile(o.Name, append(append([]byte(nil), old...), data...))
			f.acked()
		case r.quiet(f):
			r.appendRemote(o.Name, data)
			f.appendData(data)
			f.acked()
		case r.lineModeOK(f):
			base, _ := r.object(o.Name)
			r.enterLineMode(f, base)
			r.appendRemote(o.Name, data)
			f.lm.theirs = append(f.lm.theirs, splitLines(data)...)
		default:
			return nil
		}
	case opRemoteDelete:
		if !r.quiet(f) {
			return nil
		}
		r.deleteRemote(o.Name)
		r.m.unlink(f)
	}
	r.steps++
	return nil
}

// crash: SIGKILL, then a new instance on a copy of the spool.
func (r *runner) crash() *failure {
	if err := r.c.crash(); err != nil {
		return fail("recovery", "remount after the crash: %v", err)
	}
	for _, slot := range r.m.slots() {
		r.dropHandle(slot)
	}
	r.m.dropLocalDirs()
	r.dropsLost()
	r.steps++
	r.count("crashes")
	if err := r.c.settle(r.stepTimeout / 2); err != nil {
		return fail("recovery", "%v", err)
	}
	clear(r.m.lingerMarkers) // the new mount deleted them
	return nil
}

// closeAll closes every open handle, as exiting processes do.
func (r *runner) closeAll() *failure {
	for _, slot := range r.m.slots() {
		if f := r.close(op{Kind: opClose, Slot: slot}); f != nil {
			return f
		}
	}
	return nil
}

// unmount: processes exit, the core shuts down; then S3 must hold exactly
// the model.
func (r *runner) unmount() *failure {
	if f := r.closeAll(); f != nil {
		return f
	}
	ctx, cancel := r.ctx()
	defer cancel()
	if err := r.c.fs.Shutdown(ctx); err != nil {
		return fail("unmount", "shutdown: %v", err)
	}
	r.c.fence.kill(0, "")
	return r.checkExact("after a clean unmount")
}

func (r *runner) restart() *failure {
	if f := r.unmount(); f != nil {
		return f
	}
	if err := r.c.start(r.c.dir); err != nil {
		return fail("recovery", "remount: %v", err)
	}
	r.m.dropLocalDirs()
	r.steps++
	r.count("clean remounts")
	if err := r.c.settle(r.stepTimeout / 2); err != nil {
		return fail("recovery", "%v", err)
	}
	clear(r.m.lingerMarkers) // the new mount deleted them
	return nil
}

// checkExact: S3 holds exactly the model, and no multipart upload is left.
func (r *runner) checkExact(when string) *failure {
	keys, ff := r.keys()
	if ff != nil {
		return ff
	}
	have := map[string]bool{}
	for _, k := range keys {
		have[k] = true
		if strings.HasSuffix(k, "/") {
			if ff := r.checkMarker(k, when+" "); ff != nil {
				return ff
			}
			continue
		}
		s, _ := r.object(k)
		if r.zerr != nil {
			return r.zerr
		}
		f := r.m.files[k]
		if ff := r.absorbS3(f, s); ff != nil {
			return ff
		}
		switch {
		case r.m.gone[k]:
			return fail("resurrected", "%s S3 holds %q, which was unlinked, renamed away or deleted (%d bytes)", when, k, len(s))
		case f == nil:
			return fail("unknown-key", "%s S3 holds %q, which the model never had", when, k)
		case f.lm != nil:
			if msg := f.lm.checkS3(s); msg != "" {
				return fail("exact", "%s %q: %s", when, k, msg)
			}
			if !f.lm.done(s) {
				return fail("exact", "%s S3 does not hold all of %q's lines (ours %d, theirs %d)", when, k, len(f.lm.ours), len(f.lm.theirs))
			}
			f.lm = nil
			f.data = s
		case !bytes.Equal(s, f.data):
			return fail("exact", "%s S3 does not hold %q as written: %s", when, k, describeDiff(s, [][]byte{f.data}))
		}
		f.acked()
		f.prevS3 = s
	}
	for _, name := range r.m.names() {
		if !have[name] {
			return fail("exact", "%s %q is not in S3", when, name)
		}
	}
	if ff := r.checkMarkersPresent(have, when+" "); ff != nil {
		return ff
	}
	if up := r.mem.Uploads(); len(up) > 0 {
		return fail("uploads", "%s %d multipart uploads are left, the first for %q", when, len(up), up[0].Key)
	}
	return nil
}

// finish: unmount, check S3, then mount and unmount once more: nothing
// may come back or be published twice from what the spool kept.
func (r *runner) finish() *failure {
	if f := r.unmount(); f != nil {
		return f
	}
	if err := r.c.start(r.c.dir); err != nil {
		return fail("recovery", "remount: %v", err)
	}
	if err := r.c.settle(r.stepTimeout / 2); err != nil {
		return fail("recovery", "%v", err)
	}
	ctx, cancel := r.ctx()
	defer cancel()
	if err := r.c.fs.Shutdown(ctx); err != nil {
		return fail("unmount", "second shutdown: %v", err)
	}
	r.c.fence.kill(0, "")
	return r.checkExact("after a clean unmount and one more mount of the same spool,")
}

// check compares the core with the model after a step.
func (r *runner) check() *failure {
	if ff := r.checkAccounting(); ff != nil {
		return ff
	}
	if ff := r.absorbMarkers(); ff != nil {
		return ff
	}
	keys, ff := r.keys()
	if ff != nil {
		return ff
	}
	have := map[string]bool{}
	for _, k := range keys {
		r.m.published(k)
	}
	for _, k := range keys {
		have[k] = true
		if strings.HasSuffix(k, "/") {
			if ff := r.checkMarker(k, ""); ff != nil {
				return ff
			}
			continue
		}
		if r.opt.Compress != "" && r.formsDue(k) {
			// In both forms until the file's job finishes the look or
			// the give-up a store failure cut (keys): neither object
			// alone is the file; the next checks judge the one left.
			continue
		}
		s, ok := r.object(k)
		if r.zerr != nil {
			return r.zerr
		}
		f := r.m.files[k]
		switch {
		case !ok && r.m.gone[k]:
			continue // deleted since the listing (a renamed file's old key)
		case r.m.gone[k] && r.lingers(k, s):
			continue // a renamed file's old key, until its next publication
		case r.m.gone[k]:
			return fail("resurrected", "S3 holds %q, which was unlinked, renamed away or deleted (%d bytes)", k, len(s))
		case f == nil:
			return fail("unknown-key", "S3 holds %q, which the model never had (%d bytes)", k, len(s))
		}
		if msg := f.checkS3(s, true); msg != "" {
			return fail("s3", "%q: %s", k, msg)
		}
	}
	for _, name := range r.m.names() {
		if f := r.m.files[name]; !have[name] {
			if msg := f.checkS3(nil, false); msg != "" {
				return fail("s3", "%q: %s", name, msg)
			}
		}
	}
	if ff := r.checkMarkersPresent(have, ""); ff != nil {
		return ff
	}
	if ff := r.checkListing(); ff != nil {
		return ff
	}
	if ff := r.settleUnsure(keys); ff != nil {
		return ff
	}
	for _, name := range r.m.names() {
		if ff := r.checkRead(name); ff != nil {
			return ff
		}
	}
	for _, slot := range r.m.slots() {
		if ff := r.checkHandle(slot); ff != nil {
			return ff
		}
	}
	for _, name := range r.m.names() {
		f := r.m.files[name]
		if f.lm == nil || f.handles > 0 || r.vfsLocal(name) || (r.opt.Compress != "" && r.formsDue(name)) {
			continue
		}
		if s, ok := r.object(name); ok && f.lm.done(s) {
			f.lm = nil
			f.data = s
			f.acked()
			f.prevS3 = s
		}
	}
	return nil
}

// lingers: S3's s under name is a renamed file's old object still to
// delete (an empty one too).
func (r *runner) lingers(name string, s []byte) bool {
	old, ok := r.m.lingering[name]
	return ok && bytes.Equal(old, s)
}

// checkListing lists the mount's directories (checkListings): each of
// the model's files once, nothing else (an old key still to delete, or a
// name S3 holds in both forms, is no second entry).
func (r *runner) checkListing() *failure { return r.checkListings() }

// checkRead opens name afresh and reads it.
func (r *runner) checkRead(name string) *failure {
	ctx, cancel := r.ctx()
	defer cancel()
	fs := r.c.fs
	f := r.m.files[name]
	n, err := r.lookupPath(ctx, name)
	if err != nil {
		return fail("read", "lookup %q: %v; the file exists", name, err)
	}
	h, err := fs.Open(ctx, n, os.O_RDONLY)
	if err != nil {
		return fail("read", "open %q for reading: %v", name, err)
	}
	defer h.Release()
	return r.compare(ctx, h, f, fmt.Sprintf("a new reader of %q", name))
}

// checkHandle reads through an open handle.
func (r *runner) checkHandle(slot int) *failure {
	ctx, cancel := r.ctx()
	defer cancel()
	mh := r.m.h[slot]
	return r.compare(ctx, r.vh[slot], mh.f, fmt.Sprintf("handle h%d of %q", slot, mh.f.name))
}

// compare reads the file through h (all of it when small; head and tail
// when large) and compares with the model.
func (r *runner) compare(ctx context.Context, h *Handle, f *mfile, who string) *failure {
	size := h.Node().Attr().Size
	if _, ok := h.LocalFd(); ok && h.IOMode() == IOLocal {
		if h.cacheFile {
			r.count("reads of a data cache file (passthrough)")
		} else {
			r.count("reads of a spool file (passthrough)")
		}
	}
	if lm := f.lm; lm != nil {
		// The base's head and tail, then everything after it.
		b := int64(len(lm.base))
		head, err := readRange(ctx, h, 0, min(b, 4<<10))
		var tail []byte
		if err == nil {
			// To the end as it is now, not as Attr said: a rebase in
			// the background (real timers) may have moved our lines.
			tail, err = readRange(ctx, h, max(0, b-4<<10), -1)
		}
		if Errno(err) == syscall.ESTALE {
			return nil // S3 changed under the remote part: allowed for a pinned read
		}
		if err != nil {
			return fail("read", "%s: %v", who, err)
		}
		if !bytes.HasPrefix(lm.base, head) || !bytes.HasPrefix(tail, lm.base[max(0, b-4<<10):]) {
			return fail("read", "%s: the %d bytes from before the other host's appends changed", who, b)
		}
		if msg := lm.checkLocal(tail[min(b, 4<<10):]); msg != "" {
			return fail("read", "%s: %s", who, msg)
		}
		return nil
	}
	if size != int64(len(f.data)) {
		return fail("read", "%s: size %d, the file has %d bytes", who, size, len(f.data))
	}
	ranges := [][2]int64{{0, size}}
	if size > 1<<20 {
		ranges = [][2]int64{{0, 64 << 10}, {size - 64<<10, size}}
	}
	for _, rg := range ranges {
		got, err := readRange(ctx, h, rg[0], rg[1])
		if err != nil && r.unkept(f) {
			return nil // (model_buffer_test.go)
		}
		if err != nil {
			return fail("read", "%s: read [%d, %d): %v", who, rg[0], rg[1], err)
		}
		if want := f.data[rg[0]:rg[1]]; !bytes.Equal(got, want) {
			return fail("read", "%s: read-your-writes broken: %s", who, describeDiff(got, [][]byte{want}))
		}
	}
	return nil
}

// readRange reads [from, to), or to the end when to < 0.
func readRange(ctx context.Context, h *Handle, from, to int64) ([]byte, error) {
	if to < 0 {
		to = 1 << 40
	}
	out := make([]byte, 0, min(to-from, 1<<20))
	buf := make([]byte, min(128<<10, max(to-from, 1)))
	read := h.Read
	if fd, ok := h.LocalFd(); ok && h.IOMode() == IOLocal {
		// The kernel reads such an open from its backing file.
		read = func(_ context.Context, p []byte, off int64) (int, error) {
			return syscall.Pread(fd, p, off)
		}
	}
	for off := from; off < to; {
		m, err := read(ctx, buf[:min(int64(len(buf)), to-off)], off)
		out = append(out, buf[:m]...)
		off += int64(m)
		if err != nil {
			return out, err
		}
		if m == 0 {
			break
		}
	}
	return out, nil
}
