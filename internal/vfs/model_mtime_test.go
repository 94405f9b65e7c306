package vfs

// The mtime part of the attributes model (TestModelAttrs): utimes(2)
// steps (touch -d, futimens through a handle) with --posix-metadata. What
// it states:
//   - stat shows the mtime set here, at once and after every later step,
//     until a write changes it: a write, a truncation (or an open with
//     O_TRUNC) of the file stamps it with the time of that step (the
//     model checks it is within the step, not the exact value);
//   - after a clean unmount S3 holds it with the object (x-amz-meta-mtime),
//     so the next mount shows it;
//   - after a crash the file shows one of the mtimes it had since the last
//     clean unmount (one not stored yet may be lost with the process).
// The model follows a file's mtime from the first utimes here on, until
// another host writes the object (its mtime, not ours).

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"time"
)

// mtSpan: the mtime is within [lo, hi] (lo == hi: a value set by utimes).
type mtSpan struct{ lo, hi time.Time }

func (s mtSpan) has(t time.Time) bool { return !t.Before(s.lo) && !t.After(s.hi) }

func (s mtSpan) String() string {
	if s.lo.Equal(s.hi) {
		return s.lo.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("[%s, %s]", s.lo.Format(time.RFC3339Nano), s.hi.Format(time.RFC3339Nano))
}

// mtState is what the model knows of one file's mtime.
type mtState struct {
	cur mtSpan
	// since: the mtimes the file showed since the last clean unmount (a
	// crash may bring any of them back); sinceUnknown: it also had one
	// the model does not know (before the first utimes here).
	since        []mtSpan
	sinceUnknown bool
	crashed      bool
}

// utimesTime is the mtime utimes step o sets: whole seconds or not, years
// before the test runs (so never mistaken for a write's stamp).
func utimesTime(o op) time.Time {
	t := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC).Add(time.Duration(o.Len) * 7 * time.Hour)
	if o.Len%2 == 1 {
		t = t.Add(time.Duration(o.Len) * 12345679 * time.Nanosecond)
	}
	return t
}

// utimes runs a utimes step: by name, or through the handle in Slot.
func (r *runner) utimes(o op) *failure {
	mt := utimesTime(o)
	at := mt.Add(-time.Hour)
	f, ff := r.attrStep(o, "utimes", SetAttr{Mtime: &mt, Atime: &at})
	if f == nil {
		return ff
	}
	r.count("utimes")
	st := r.attrs.mt[f]
	if st == nil {
		st = &mtState{sinceUnknown: true}
		r.attrs.mt[f] = st
	}
	st.cur = mtSpan{mt, mt}
	st.since = append(st.since, st.cur)
	return nil
}

// wroteTo: step o may have changed f's bytes here (so its mtime).
func (r *runner) wroteTo(o op, f *mfile) bool {
	switch o.Kind {
	case opWrite:
		return r.m.h[o.Slot] != nil && r.m.h[o.Slot].f == f
	case opTruncate:
		if o.ByName {
			return r.m.files[o.Name] == f
		}
		return r.m.h[o.Slot] != nil && r.m.h[o.Slot].f == f
	case opOpen:
		return o.Flags&os.O_TRUNC != 0 && r.m.files[o.Name] == f
	}
	return false
}

// afterMtime follows what step o did to the mtimes and checks what stat
// shows. start is when the step began.
func (a *attrModel) afterMtime(r *runner, o op, start time.Time) *failure {
	switch o.Kind {
	case opRemotePut, opRemoteAppend, opRaceTick:
		if f := r.m.files[o.Name]; f != nil {
			delete(a.mt, f)
		}
	case opCrash:
		for _, st := range a.mt {
			st.crashed = true
		}
	}
	for f := range a.mt {
		if f.name == "" || r.m.files[f.name] != f || f.lm != nil {
			delete(a.mt, f)
		}
	}
	end := time.Now()
	if o.Kind == opRestart {
		for f, st := range a.mt {
			info, err := r.mem.Head(context.Background(), r.storedKey(f.name))
			if err != nil {
				return fail("attrs", "after a clean unmount: HEAD %q: %v", f.name, err)
			}
			if info.Attrs == nil || !st.cur.has(info.Attrs.Mtime) {
				var got any = "no attributes"
				if info.Attrs != nil {
					got = info.Attrs.Mtime.Format(time.RFC3339Nano)
				}
				return fail("attrs", "after a clean unmount S3 holds %q with mtime %v; the mount showed %v", f.name, got, st.cur)
			}
			t := info.Attrs.Mtime
			st.cur = mtSpan{t, t}
			st.since, st.sinceUnknown, st.crashed = []mtSpan{st.cur}, false, false
		}
	}
	ctx, cancel := r.ctx()
	defer cancel()
	for f, st := range a.mt {
		n, err := r.lookupPath(ctx, f.name)
		if err != nil {
			return fail("attrs", "lookup %q: %v; the file exists", f.name, err)
		}
		got := n.Attr().Mtime
		if st.cur.has(got) {
			continue
		}
		if r.wroteTo(o, f) && (mtSpan{start, end}).has(got) {
			st.cur = mtSpan{start, end}
			st.since = append(st.since, st.cur)
			continue
		}
		if st.crashed {
			ok := false
			for _, s := range st.since {
				if s.has(got) {
					st.cur, ok = s, true
				}
			}
			if ok {
				r.count("an mtime a crash took back")
				continue
			}
			if st.sinceUnknown {
				r.count("an mtime a crash may have taken back")
				delete(a.mt, f)
				continue
			}
		}
		return fail("attrs", "stat %q: mtime %s; the model has %v (step %v wrote to it: %v)%s", f.name, got.Format(time.RFC3339Nano), st.cur, o.Kind, r.wroteTo(o, f),
			map[bool]string{true: fmt.Sprintf(", or after the crash one of %v", st.since)}[st.crashed])
	}
	return nil
}

// addUtimes puts utimes steps into an attributes sequence, chosen by a
// generator of their own (the other steps stay as the seed made them; a
// utimes step takes the ID, so the fault windows, of the step after it).
func addUtimes(seed int64, faults bool, ops []op) []op {
	rng := rand.New(rand.NewSource(seed*2654435761 + 0x6d74))
	var out []op
	for _, o := range ops {
		for rng.Intn(7) == 0 {
			u := op{ID: o.ID, Kind: opUtimes, Name: modelNames[rng.Intn(len(modelNames))], Slot: rng.Intn(modelSlots),
				ByName: rng.Intn(3) != 0, Len: rng.Intn(60), Refuse: o.Refuse, DiskFull: o.DiskFull}
			if faults && rng.Intn(4) == 0 {
				u.Faults = 1 + rng.Intn(3)
			}
			out = append(out, u)
		}
		out = append(out, o)
	}
	return out
}

func utimesString(o op) string {
	t := utimesTime(o).Format(time.RFC3339Nano)
	if o.ByName {
		return fmt.Sprintf("utimes(%q, %s)", o.Name, t)
	}
	return fmt.Sprintf("futimens(h%d, %s)", o.Slot, t)
}

// utimes sets name's mtime to utimesTime(i).
func (s *scenario) utimes(name string, i int) op {
	return s.op(op{Kind: opUtimes, Name: name, ByName: true, Len: i})
}
