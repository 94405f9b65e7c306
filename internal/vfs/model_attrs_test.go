package vfs

// The attributes model: chmod and chown (fchmod, fchown through an open
// handle) between TestModel's operations, with --posix-metadata. What it
// states, besides everything TestModel states:
//   - stat shows the mode and owner last set here, at once and after every
//     later step (writes, publications, renames: they carry them; faults,
//     a full spool disk), until another host writes the object;
//   - a file created here shows the mode it was created with;
//   - a failed chmod changes nothing;
//   - after a clean unmount S3 holds them with the object (x-amz-meta-mode,
//     -uid), so the next mount shows them;
//   - after a crash the file shows one of the values it had since the last
//     clean unmount (a change not published or journaled yet may be lost
//     with the process), and S3 later holds what the mount showed last.
// Another host's write to the object (a put, an append) replaces them with
// that host's: the model does not follow them until the next chmod here,
// which then sticks (Publisher.SetAttrs applies it to the other host's
// version, whether the mount had seen it or not).

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"testing"

	"github.com/s3mount/s3mount/internal/compress"
)

// opChmod's choices: Len picks the mode, Frac what is set (0: mode, 1:
// owner, 2: both); ByName: chmod(2) by name, else fchmod(2) through the
// handle in Slot (nothing when that slot is not open).
var (
	attrModes = []uint32{0o600, 0o640, 0o644, 0o660, 0o755, 0o444}
	attrUIDs  = []uint32{1000, 1001, 33}
)

// attrState is what the model knows of one file's attributes.
type attrState struct {
	mode, uid     uint32
	modeOK, uidOK bool // known: set here (or created here) since another host last wrote
	// since: the values the file showed since the last clean unmount; a
	// crash may bring any of them back (crashed).
	since   []attrPair
	crashed bool
	// sinceUnknown: since the last clean unmount the file also had
	// attributes the model does not know (another host's, before a
	// chmod here): a crash may bring them back.
	sinceUnknown bool
	// remote: another host wrote the object since the last clean
	// unmount and since the last chmod here (which ends it): nothing is
	// known then. A change made here is applied to the version S3 holds
	// when it is stored, also one the mount had not seen (Publisher.SetAttrs
	// rebases); only a delete drops it.
	remote bool
}

type attrPair struct{ mode, uid uint32 }

// attrModel follows the attributes of the model's files (by inode).
type attrModel struct {
	files map[*mfile]*attrState
	mt    map[*mfile]*mtState // mtimes (model_mtime_test.go)
}

func (a *attrModel) state(f *mfile) *attrState {
	st := a.files[f]
	if st == nil {
		st = &attrState{}
		a.files[f] = st
	}
	return st
}

func (st *attrState) remember() {
	p := attrPair{st.mode, st.uid}
	for _, q := range st.since {
		if q == p {
			return
		}
	}
	st.since = append(st.since, p)
}

func hasChmod(ops []op) bool {
	for _, o := range ops {
		if o.Kind == opChmod || o.Kind == opUtimes {
			return true
		}
	}
	return false
}

// chmod runs a chmod / chown step.
func (r *runner) chmod(o op) *failure {
	var a SetAttr
	mode := attrModes[o.Len%len(attrModes)]
	uid := attrUIDs[o.Len%len(attrUIDs)]
	if o.Frac%3 != 1 {
		m := os.FileMode(mode)
		a.Mode = &m
	}
	if o.Frac%3 != 0 {
		a.UID = &uid
	}
	f, ff := r.attrStep(o, "chmod/chown", a)
	if f == nil {
		return ff // a failed chmod changes nothing
	}
	r.count("chmod/chown")
	st := r.attrs.state(f)
	if a.Mode != nil && !st.modeOK || a.UID != nil && !st.uidOK {
		st.sinceUnknown = true
	}
	if a.Mode != nil {
		st.mode, st.modeOK = mode, true
	}
	if a.UID != nil {
		st.uid, st.uidOK = uid, true
	}
	st.remote = false // it sticks, another host's earlier write or not
	st.remember()
	return nil
}

// attrStep applies a (a chmod or utimes step) to the file of step o:
// f is that file when it succeeded, else nil (ff: a failure).
func (r *runner) attrStep(o op, what string, a SetAttr) (f *mfile, ff *failure) {
	if r.attrs == nil {
		return nil, fail("harness", "a %s step without the attributes model", what)
	}
	defer r.faults(o, nil)()
	ctx, cancel := r.ctx()
	defer cancel()
	n, h, f, ff := r.attrTarget(ctx, o)
	if f == nil {
		return nil, ff
	}
	err := r.c.fs.Setattr(ctx, n, h, a)
	r.steps++
	if ff := r.outcome(fmt.Sprintf("%s of %q", what, f.name), err, wantOK); ff != nil || err != nil {
		return nil, ff
	}
	return f, nil
}

// attrTarget finds the file of a chmod or utimes step: by name, or through
// the handle in Slot. f nil: nothing to do (no such file, a directory, the
// slot not open, a lookup that failed as it may), or ff a failure.
func (r *runner) attrTarget(ctx context.Context, o op) (n *Node, h *Handle, f *mfile, ff *failure) {
	if o.ByName {
		if r.m.isDir(o.Name) || r.m.maybeDir(o.Name) {
			return nil, nil, nil, nil
		}
		f = r.m.files[o.Name]
		var err error
		n, err = r.lookupPath(ctx, o.Name)
		switch {
		case f == nil && err == nil:
			return nil, nil, nil, fail("lookup", "lookup %q found a file; it was never made, or was unlinked, renamed away or deleted", o.Name)
		case f == nil:
			return nil, nil, nil, nil // ENOENT
		case err != nil:
			if ff := r.outcome(fmt.Sprintf("lookup %q for chmod", o.Name), err, wantOK); ff != nil {
				return nil, nil, nil, ff
			}
			return nil, nil, nil, nil
		}
	} else {
		mh := r.m.h[o.Slot]
		if mh == nil {
			return nil, nil, nil, nil
		}
		f, h = mh.f, r.vh[o.Slot]
		n = h.Node()
	}
	return n, h, f, nil
}

// afterStep follows what step o did to the files' attributes and checks
// what stat shows.
func (a *attrModel) afterStep(r *runner, o op) *failure {
	switch o.Kind {
	case opRemotePut, opRemoteAppend, opRaceTick:
		// Another host's write: its attributes, not ours.
		if f := r.m.files[o.Name]; f != nil {
			a.files[f] = &attrState{remote: true}
		}
	case opCrash:
		for _, st := range a.files {
			st.crashed = true
		}
	}
	for _, name := range r.m.names() {
		f := r.m.files[name]
		if _, ok := a.files[f]; ok {
			continue
		}
		st := a.state(f)
		if o.Kind == opOpen && o.Name == name && o.Flags&os.O_CREATE != 0 {
			// Created here by this step (fs.Create's 0644).
			st.mode, st.modeOK = 0o644, true
			st.remember()
		}
	}
	for f := range a.files {
		if f.name == "" || r.m.files[f.name] != f {
			delete(a.files, f) // unlinked, renamed over, deleted
		}
	}
	if o.Kind == opRestart {
		if ff := a.checkS3(r); ff != nil {
			return ff
		}
	}
	return a.checkStat(r)
}

// checkStat compares what stat shows with the model.
func (a *attrModel) checkStat(r *runner) *failure {
	ctx, cancel := r.ctx()
	defer cancel()
	for _, name := range r.m.names() {
		f := r.m.files[name]
		st := a.files[f]
		if st == nil || !st.modeOK && !st.uidOK || f.lm != nil {
			continue
		}
		n, err := r.lookupPath(ctx, name)
		if err != nil {
			return fail("attrs", "lookup %q: %v; the file exists", name, err)
		}
		at := n.Attr()
		got := attrPair{uint32(at.Mode.Perm()), at.UID}
		match := func(p attrPair) bool {
			return (!st.modeOK || p.mode == got.mode) && (!st.uidOK || p.uid == got.uid)
		}
		if match(attrPair{st.mode, st.uid}) {
			continue
		}
		if st.remote {
			r.count("attributes dropped after another host's write")
			a.files[f] = &attrState{remote: true}
			continue
		}
		if st.crashed && st.sinceUnknown {
			// Perhaps back to another host's attributes (or the
			// defaults): not followed until the next chmod here.
			r.count("attributes a crash may have taken back")
			a.files[f] = &attrState{}
			continue
		}
		if st.crashed {
			ok := false
			for _, p := range st.since {
				ok = ok || match(p)
			}
			if ok {
				// A change the crash took back: the file shows it from now on.
				r.count("attributes a crash took back")
				st.mode, st.uid = got.mode, got.uid
				continue
			}
		}
		return fail("attrs", "stat %q: mode %#o uid %d; the model has mode %#o (known %v) uid %d (known %v)%s",
			name, got.mode, got.uid, st.mode, st.modeOK, st.uid, st.uidOK, map[bool]string{true: fmt.Sprintf(", or after the crash one of %v", st.since)}[st.crashed])
	}
	return nil
}

// checkS3: after a clean unmount S3 holds each file's attributes with its
// object; the crash allowances end.
func (a *attrModel) checkS3(r *runner) *failure {
	for _, name := range r.m.names() {
		f := r.m.files[name]
		st := a.files[f]
		if st == nil || !st.modeOK && !st.uidOK {
			continue
		}
		info, err := r.mem.Head(context.Background(), r.storedKey(name))
		if err != nil {
			return fail("attrs", "after a clean unmount: HEAD %q: %v", name, err)
		}
		if info.Attrs == nil && st.remote {
			r.count("attributes dropped after another host's write")
			a.files[f] = &attrState{}
			continue
		}
		if info.Attrs == nil && st.crashed && st.sinceUnknown {
			// A crash took the change back to another host's object
			// without attributes (stat showed the defaults, the same).
			r.count("attributes a crash may have taken back")
			a.files[f] = &attrState{}
			continue
		}
		if info.Attrs == nil {
			return fail("attrs", "after a clean unmount S3 holds %q without attributes; the model has mode %#o", name, st.mode)
		}
		got := attrPair{info.Attrs.Mode & 0o7777, info.Attrs.UID}
		if st.remote && (st.modeOK && got.mode != st.mode || st.uidOK && got.uid != st.uid) {
			r.count("attributes dropped after another host's write")
			a.files[f] = &attrState{}
			continue
		}
		if st.modeOK && got.mode != st.mode || st.uidOK && got.uid != st.uid {
			return fail("attrs", "after a clean unmount S3 holds %q with mode %#o uid %d; the mount showed mode %#o uid %d", name, got.mode, got.uid, st.mode, st.uid)
		}
		st.since, st.crashed, st.sinceUnknown, st.remote = []attrPair{{st.mode, st.uid}}, false, false, false
	}
	return nil
}

// attrModelRun is one attributes sequence: TestModel's operations with
// --posix-metadata, chmod and chown steps between them, and a clean
// remount at the end (S3's attributes checked).
func attrModelRun(seed int64) (coreOptions, []op) {
	rng := rand.New(rand.NewSource(seed))
	opt, faults := modelOptions(rng, seed)
	opt.PosixMetadata = true
	n := 120 + rng.Intn(250)
	if *modelOps > 0 {
		n = *modelOps
	}
	var ops []op
	for _, o := range genOps(rng, n, faults) {
		for rng.Intn(5) == 0 {
			c := op{Kind: opChmod, Name: modelNames[rng.Intn(len(modelNames))], Slot: rng.Intn(modelSlots),
				ByName: rng.Intn(3) != 0, Len: rng.Intn(60), Frac: rng.Intn(3)}
			if faults && rng.Intn(4) == 0 {
				c.Faults = 1 + rng.Intn(3)
			}
			ops = append(ops, c)
		}
		ops = append(ops, o)
	}
	ops = append(ops, op{Kind: opRestart})
	for i := range ops {
		o := &ops[i]
		o.ID = i + 1
		o.Refuse = refuseWindow(faults, o.ID)
		switch o.Kind {
		case opRename, opUnlink:
			o.Faults = idFault(faults, o.ID)
		}
	}
	diskFullWindows(seed, faults, ops)
	return opt, addUtimes(seed, faults, ops)
}

// TestModelAttrs is the model test with chmod and chown.
func TestModelAttrs(t *testing.T) {
	runModelSeeds(t, "attributes model test", "-run TestModelAttrs -model.seed=N", modelBudget(2500, 4), attrModelRun)
}

// TestModelAttrsCompressed is TestModelAttrs with --compress: a copy onto
// itself that stores attributes must keep a compressed object's mark, and
// each publication form carries them.
func TestModelAttrsCompressed(t *testing.T) {
	runModelSeeds(t, "compressed attributes model test", "-run TestModelAttrsCompressed -model.seed=N", modelBudget(1500, 6), attrCompressedModelRun)
}

// storedKey is the key of the object that holds name: its compressed
// form's when the compressed view marks it so.
func (r *runner) storedKey(name string) string {
	if r.opt.Compress != "" {
		if _, ok := r.marked(name); ok {
			return r.zkey(name)
		}
	}
	return name
}

// attrCompressedModelRun is attrModelRun's sequence of seed over the
// compressed view, its options as compressedModelRun chooses them.
func attrCompressedModelRun(seed int64) (coreOptions, []op) {
	return compressedRun(seed, attrModelRun)
}

func chmodString(o op) string {
	what := []string{"chmod", "chown", "chmod+chown"}[o.Frac%3]
	arg := []string{fmt.Sprintf("%#o", attrModes[o.Len%len(attrModes)]), fmt.Sprint(attrUIDs[o.Len%len(attrUIDs)]),
		fmt.Sprintf("%#o, uid %d", attrModes[o.Len%len(attrModes)], attrUIDs[o.Len%len(attrUIDs)])}[o.Frac%3]
	if o.ByName {
		return fmt.Sprintf("%s(%q, %s)", what, o.Name, arg)
	}
	return fmt.Sprintf("f%s(h%d, %s)", what, o.Slot, arg)
}

// chmod changes name's mode to attrModes[i] (by name); chown its owner to
// attrUIDs[i%3].
func (s *scenario) chmod(name string, i int) op {
	return s.op(op{Kind: opChmod, Name: name, ByName: true, Len: i})
}
func (s *scenario) chown(name string, i int) op {
	return s.op(op{Kind: opChmod, Name: name, ByName: true, Len: i, Frac: 1})
}
func (s *scenario) restart() op { return s.op(op{Kind: opRestart}) }

// attrCases are modelCases() of the attributes model.
func attrCases() []modelCase {
	posix := coreOptions{AllowDelete: true, AllowOverwrite: true, PosixMetadata: true}
	express := posix
	express.Express = true
	pt := posix
	pt.Passthrough = true
	ptExpress := express
	ptExpress.Passthrough = true
	var out []modelCase
	add := func(name string, opt coreOptions, build func(s *scenario) []op) {
		out = append(out, modelCase{name, opt, build(&scenario{})})
	}
	// An append to a directory bucket's object keeps its metadata, but
	// the publication marked the attributes stored: chown and chmod were
	// lost at the unmount (random seeds 838850206, 778368912).
	add("a chown before an Express append is stored after it", express, func(s *scenario) []op {
		return []op{
			{ID: 11, Kind: opOpen, Slot: 4, Name: "c", Flags: os.O_RDWR | os.O_CREATE | os.O_APPEND},
			{ID: 40, Kind: opOpen, Slot: 0, Name: "c", Flags: os.O_WRONLY},
			{ID: 43, Kind: opWrite, Slot: 0, Len: 18}, // one line and a part: the tick publishes the line
			{ID: 48, Kind: opTick},
			{ID: 49, Kind: opChmod, Name: "c", ByName: true, Frac: 1, Len: 4},
			{ID: 52, Kind: opRestart},
		}
	})
	add("a chmod between two Express appends is stored", express, func(s *scenario) []op {
		return []op{s.open(3, "a", os.O_RDWR|os.O_CREATE), s.open(4, "a", os.O_RDWR), s.pwrite(3, 14, 49),
			s.faulty(s.close(3), 2), s.chmod("a", 4), s.bytes(4, 114), s.restart()}
	})
	// A chmod's copy onto itself gave the object a new ETag with the same
	// bytes; the cache file a reader read directly kept the old one, so a
	// later write could not take it into the spool and that reader never
	// saw it (random seeds 816569269, 334292816).
	add("a direct reader of a cached object sees an append after a rename and a chmod", pt, func(s *scenario) []op {
		return []op{s.open(1, "c", os.O_RDWR|os.O_CREATE), s.bytes(1, 13), s.close(1), s.open(0, "c", os.O_RDONLY),
			s.rename("c", "b"), s.chmod("b", 5), s.tick(), s.open(3, "b", wrAppend), s.lines(3, 2)}
	})
	add("a direct reader of a cached object sees an append after a chown (Express)", ptExpress, func(s *scenario) []op {
		return []op{s.put("b", false), s.chown("b", 0), s.open(0, "b", os.O_RDONLY|os.O_CREATE|os.O_APPEND), s.tick(),
			s.open(4, "b", os.O_RDWR|os.O_CREATE|os.O_APPEND), s.lines(4, 1)}
	})
	// A chmod of a log another host appended to since this mount last
	// looked (fchmod: no lookup), stored by the fsync: the copy onto
	// itself was refused (412) and the change dropped, the chmod reverted.
	fchmod := func(s *scenario, slot, frac int) op { return s.op(op{Kind: opChmod, Slot: slot, Len: 0, Frac: frac}) }
	add("a chmod after another host's append sticks", posix, func(s *scenario) []op {
		return []op{s.open(0, "c", wrAppend), s.lines(0, 2), s.fsync(0), s.remoteAppend("c"), fchmod(s, 0, 0), s.fsync(0), s.close(0), s.restart()}
	})
	add("a chown after another host's append sticks (Express)", express, func(s *scenario) []op {
		return []op{s.open(0, "c", wrAppend), s.lines(0, 2), s.fsync(0), s.remoteAppend("c"), fchmod(s, 0, 2), s.fsync(0), s.close(0), s.restart()}
	})
	// A chmod's copy onto itself landed, its answer lost, and the HEAD
	// that would tell failed too: the edit's whole publication, pinned to
	// the old ETag, was refused as another writer's change (EIO, data
	// kept in the spool). The copy's tag names the base it copied
	// (seeds 978711719, 288941320).
	add("an edit after a chmod whose copy's answer was lost is published", posix, func(s *scenario) []op {
		return []op{
			{ID: 147, Kind: opRemotePut, Name: "a", Len: 2},
			{ID: 152, Kind: opOpen, Slot: 0, Name: "a", Flags: os.O_RDWR},
			{ID: 156, Kind: opChmod, Name: "a", ByName: true, Frac: 2},
			{ID: 157, Kind: opTick, Faults: 2},
			{ID: 159, Kind: opWrite, Slot: 0, Where: atInside, Len: 87},
		}
	})
	// An append to a directory bucket's object keeps its metadata: the
	// mtime of the write after a touch was never stored, and stat went
	// back to the touch's once the object was read again (seed 9).
	add("a write after a touch stamps the mtime S3 keeps (Express)", express, func(s *scenario) []op {
		return []op{s.remoteAppend("c"), s.utimes("c", 1), s.tick(), s.open(0, "c", wrAppend), s.lines(0, 1),
			s.close(0), s.tick(), s.restart()}
	})
	// The publication at the unmount appended, which keeps the object's
	// metadata, and left the touch due: the unmount ended with it in the
	// journal, which keeps no mtime (random seed 279141608).
	add("a touch before an Express append is stored at the unmount", express, func(s *scenario) []op {
		return []op{s.put("b", false), s.open(1, "b", os.O_WRONLY|os.O_APPEND), s.lines(1, 2), s.utimes("b", 29), s.restart()}
	})
	// SetAttrs' copy onto itself whose answer was lost: the tag it
	// carries tells it was applied (no second copy, nothing lost).
	add("a touch and a chmod whose copy's answer was lost are stored", posix, func(s *scenario) []op {
		return []op{s.put("b", false), s.utimes("b", 3), s.chmod("b", 1), s.faulty(s.tick(), faultLoseFirst), s.tick(),
			s.crash(), s.restart()}
	})
	add("a touch whose copy failed is stored by the next publication", posix, func(s *scenario) []op {
		return []op{s.put("b", false), s.utimes("b", 4), s.faulty(s.tick(), faultFailFirst), s.tick(), s.restart()}
	})
	// A touch while real timers publish an open log.
	timers := express
	timers.RealTimers = true
	add("a touch of a log real timers publish", timers, func(s *scenario) []op {
		return []op{s.open(0, "a", wrAppend), s.lines(0, 2), s.utimes("a", 5), s.lines(0, 1), s.utimes("a", 6),
			s.close(0), s.tick(), s.restart()}
	})
	add("a write published before its close stamps the mtime S3 keeps (Express)", express, func(s *scenario) []op {
		return []op{s.open(0, "c", wrAppend), s.lines(0, 1), s.close(0), s.tick(), s.utimes("c", 1), s.tick(),
			s.open(0, "c", wrAppend), s.lines(0, 1), s.tick(), s.close(0), s.restart()}
	})
	// A touch's (and the mtime after a close's) copy onto itself landed,
	// its answer and the HEAD after it lost: the node kept the old ETag,
	// which its spool file kept from refreshing, and a new reader pinned
	// to it met ESTALE for the mount's own attribute change (random
	// seeds 9356054, 163985704). Readers follow an attributes copy of
	// the version they pinned.
	add("a new reader after a touch whose copy's answer was lost (Express, a log open)", express, func(s *scenario) []op {
		return []op{
			{ID: 23, Kind: opRemotePut, Name: "a", Len: 4, Refuse: true},
			{ID: 26, Kind: opRemotePut, Name: "d", Len: 0, Refuse: true},
			{ID: 30, Kind: opOpen, Slot: 5, Name: "d", Flags: os.O_RDWR | os.O_CREATE | os.O_APPEND, Refuse: true},
			{ID: 32, Kind: opUtimes, Slot: 3, Name: "a", Len: 49, ByName: true, Refuse: true},
			{ID: 32, Kind: opUtimes, Slot: 0, Name: "d", Len: 50, ByName: true, Refuse: true},
			{ID: 34, Kind: opRaceTick, Name: "a", Faults: 2, Nth: 3, Refuse: true},
		}
	})
	add("a new reader after a close whose mtime copy's answer was lost (Express)", ptExpress, func(s *scenario) []op {
		return []op{
			{ID: 196, Kind: opOpen, Slot: 4, Name: "d", Flags: wrAppend},
			{ID: 197, Kind: opWrite, Slot: 4, Len: 115},
			{ID: 198, Kind: opCrash},
			{ID: 207, Kind: opOpen, Slot: 3, Name: "c", Flags: os.O_WRONLY | os.O_CREATE},
			{ID: 210, Kind: opCrash},
			{ID: 213, Kind: opOpen, Slot: 0, Name: "c", Flags: os.O_WRONLY | os.O_CREATE},
			{ID: 217, Kind: opOpen, Slot: 4, Name: "d", Flags: os.O_WRONLY | os.O_APPEND},
			{ID: 223, Kind: opWrite, Slot: 4, Len: 21, Partial: true},
			{ID: 224, Kind: opChmod, Slot: 0, Name: "c", Frac: 2, Len: 24, Faults: 1},
			{ID: 225, Kind: opClose, Slot: 4},
			{ID: 230, Kind: opRaceTick, Name: "c", Faults: 2, Nth: 3},
		}
	})
	// The last close of a file the kernel may have mapped (passthrough)
	// found bytes still to compare with S3, so not all published: the
	// writes' mtime (an append keeps the object's) was not made due, and
	// the comparison publishes nothing that would: the unmount left the
	// touch's mtime in S3 (random seed 969115649, real timers).
	add("a write published before the close of a mapped file stamps the mtime S3 keeps (Express)", ptExpress, func(s *scenario) []op {
		return []op{s.put("a", false), s.open(3, "a", os.O_RDONLY), s.utimes("a", 3), s.tick(), s.open(2, "a", os.O_RDWR),
			s.op(op{Kind: opWrite, Slot: 2, Where: atBeyond, Frac: 1, Len: 65}), s.fsync(2), s.close(2), s.restart()}
	})
	// A new file's first publication took the chmod (If-None-Match put)
	// and was refused by another host's object; the retry appended to
	// that object, which keeps its metadata on a directory bucket, yet
	// the chmod counted as stored: lost (random seed 262411405 of
	// TestModelAttrsCompressed; plain and compressed alike).
	for _, c := range []compress.Codec{"", "zstd"} {
		opt := ptExpress
		opt.Compress = c
		add("a chmod of a new file whose put met another host's object is stored (Express, "+string(c)+")", opt, func(s *scenario) []op {
			return []op{
				{ID: 91, Kind: opOpen, Slot: 5, Name: "a", Flags: os.O_RDWR | os.O_CREATE | os.O_APPEND},
				{ID: 92, Kind: opRemoteAppend, Name: "a", Len: 1},
				{ID: 93, Kind: opChmod, Slot: 3, Name: "a", Len: 13, ByName: true},
				{ID: 94, Kind: opWrite, Slot: 5, Len: 42},
				{ID: 103, Kind: opClose, Slot: 5},
				{ID: 109, Kind: opTick},
			}
		})
	}
	// An Express append whose answer was lost, told ours by its bytes,
	// was not taken as published: the write's mtime (an append keeps the
	// object's) never became due, the file went clean, and the next HEAD
	// brought the touch's mtime back (random seed 918382892 of
	// TestModelAttrsCompressed).
	gzExpress := express
	gzExpress.Compress = compress.Gzip
	for _, opt := range []coreOptions{express, gzExpress} {
		add(fmt.Sprintf("a write's mtime after an Express append whose answer was lost (%v)", opt), opt, func(s *scenario) []op {
			return []op{s.put("d", false), s.utimes("d", 19), s.tick(), s.open(1, "d", wrAppend), s.lines(1, 1),
				s.close(1), s.faulty(s.tick(), faultLoseFirst), s.restart()}
		})
	}
	// A compose's upload whose abort failed, and failed again before the
	// next publication, which landed: the clean file's spool file, the
	// only record of the upload, was dropped, and the upload outlived the
	// clean unmount (random seed 630542629).
	add("an upload whose abort failed is aborted after the file is published", pt, func(s *scenario) []op {
		return []op{
			{ID: 73, Kind: opRemotePut, Name: "c", Len: 4, Big: true},
			{ID: 86, Kind: opRename, Name: "c", To: "a"},
			{ID: 107, Kind: opOpen, Slot: 1, Name: "a", Flags: os.O_RDWR | os.O_CREATE | os.O_APPEND},
			{ID: 108, Kind: opRemoteAppend, Name: "a", Len: 5},
			{ID: 109, Kind: opWrite, Slot: 1, Len: 18},
			{ID: 110, Kind: opWrite, Slot: 1, Len: 49},
			{ID: 115, Kind: opTick, Faults: 1},
			{ID: 121, Kind: opTick, Faults: 1},
		}
	})
	// A utimes stored on a tick whose copy landed with its answer and the
	// HEAD after it lost; a listing then gave the node the copy's ETag
	// (no tag in a listing: taken as another writer's), and the reader
	// opened before, pinned to the old ETag, was refused with ESTALE for
	// the mount's own attribute change (random seed 97371735).
	add("a reader follows a utimes copy whose answer was lost after a listing showed it", posix, func(s *scenario) []op {
		return []op{
			{ID: 95, Kind: opRemotePut, Name: "c", Len: 3},
			{ID: 122, Kind: opRemoteAppend, Name: "b", Len: 1, DiskFull: true},
			{ID: 126, Kind: opCrash, DiskFull: true},
			{ID: 127, Kind: opUtimes, Name: "c", Len: 47, ByName: true, DiskFull: true},
			{ID: 136, Kind: opOpen, Slot: 1, Name: "c", Flags: os.O_RDONLY | os.O_CREATE},
			{ID: 137, Kind: opChmod, Slot: 4, Name: "b", Len: 7, ByName: true},
			{ID: 139, Kind: opTick, Faults: 3},
		}
	})
	return out
}
