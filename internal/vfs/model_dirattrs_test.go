package vfs

// The directory part of the attributes model: chmod of directories in
// TestModelDirs' sequences with --posix-metadata (README "Attributes": a
// directory's mode lives on its "dir/" marker, stored at once: a HEAD and
// a copy onto the marker, or a put creating it). What it states:
//   - stat shows the mode set here, after every later step: publications,
//     other directory operations, a crash (stored at once, so nothing to
//     take back) and a clean remount;
//   - the mode goes with the directory when it is renamed (its marker is
//     copied);
//   - a chmod that failed (a store fault) leaves the old mode or the new,
//     which the model takes from stat;
//   - S3's marker carries it (x-amz-meta-mode) after a clean unmount;
//   - a directory removed and made again has mkdir's mode.

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"syscall"
)

// dirModes are the modes the model knows of directories (by path).
type dirModes map[string]dirMode

// dirMode: the mode set here; alt, when not 0, one a chmod a store fault
// failed may have stored (its answer lost), which stat may show instead.
type dirMode struct{ mode, alt uint32 }

// dirChmod runs a chmod of directory o.Name to attrModes[o.Len] (dirs
// only: a name that is no directory of the model is skipped).
func (r *runner) dirChmod(o op) *failure {
	if r.dirModes == nil {
		return fail("harness", "a directory chmod without the directory attributes model")
	}
	kind, ok := r.m.dirs[o.Name]
	if !r.m.isDir(o.Name) || ok && kind == dirUnsure {
		return nil
	}
	ctx, cancel := r.ctx()
	defer cancel()
	n, err := r.lookupPath(ctx, o.Name)
	if err != nil {
		return fail("lookup", "lookup of the directory %q: %v", o.Name, err)
	}
	mode := attrModes[o.Len%len(attrModes)] | 0o700 // the test runs as root; keep it usable
	m := os.FileMode(mode)
	stop := r.faults(o, nil)
	err = r.c.fs.Setattr(ctx, n, nil, SetAttr{Mode: &m})
	stop()
	r.steps++
	what := fmt.Sprintf("chmod(%q, %#o) of a directory", o.Name, mode)
	if ff := r.outcome(what, err, wantOK); ff != nil {
		return ff
	}
	if _, marker := r.object(o.Name + "/"); marker {
		r.m.dirs[o.Name] = dirMarker // made for a directory of keys only
	}
	if err != nil && o.Faults == faultLoseFirst {
		return fail("errno", "%s: %v; only its write's answer was lost, which its tag tells applied", what, err)
	}
	if err != nil {
		r.count("directory chmods failed by a store fault")
		if old, ok := r.dirModes[o.Name]; ok {
			r.dirModes[o.Name] = dirMode{old.mode, mode}
		}
		return nil
	}
	r.count("directory chmods")
	r.dirModes[o.Name] = dirMode{mode: mode}
	return nil
}

// afterDirStep follows what step o did to the directories' modes and
// checks what stat (and, after a clean unmount, S3) shows.
func (d dirModes) afterDirStep(r *runner, o op, start dirStepStart) *failure {
	before := start.dirs
	renamed := r.dirRenamed
	r.dirRenamed = false
	moved := dirModes{}
	if o.Kind == opRename && renamed {
		// The directory moved: its tree's modes go with it (its markers
		// are copied). A marker under the old name whose delete failed
		// stays, with its mode: an empty directory (followed below while
		// the model has it).
		for p, m := range d {
			if p == o.Name || strings.HasPrefix(p, o.Name+"/") {
				moved[o.To+strings.TrimPrefix(p, o.Name)] = m
			}
		}
		for p := range d {
			if p == o.To || strings.HasPrefix(p, o.To+"/") {
				delete(d, p) // replaced (an empty directory renamed over)
			}
		}
	}
	for p := range d {
		if !r.m.isDir(p) || !before[p] {
			delete(d, p) // removed (made again: mkdir's mode, not followed)
		}
	}
	for p, m := range moved {
		if r.m.isDir(p) {
			d[p] = m
		}
	}
	if o.Kind == opMkdir && !before[o.Name] && r.m.dirs[o.Name] == dirMarker {
		d[o.Name] = dirMode{mode: 0o755}
	}
	ctx, cancel := r.ctx()
	defer cancel()
	for p, dm := range d {
		n, err := r.lookupPath(ctx, p)
		if err != nil || !n.dir {
			return fail("attrs", "lookup of the directory %q: %v", p, err)
		}
		got := uint32(n.Attr().Mode.Perm())
		if got == dm.alt {
			r.count("directory modes a failed chmod stored")
			dm = dirMode{mode: got}
			d[p] = dm
		}
		if got != dm.mode && o.Kind == opRename && !renamed && p == o.To && r.logged(start.log, restoreFailedLog, "key="+o.To+"/") {
			// A failed rename over this empty directory copied the
			// source's marker over its own and could not put it back:
			// the core said so (an error in the log).
			r.count("directory modes a failed rename could not put back (logged)")
			dm = dirMode{mode: got}
			d[p] = dm
		}
		mode := dm.mode
		if got != mode {
			return fail("attrs", "stat of the directory %q: mode %#o; it was set to %#o%s", p, got, mode,
				map[bool]string{true: fmt.Sprintf(" (or %#o by a chmod that failed)", dm.alt)}[dm.alt != 0])
		}
		if o.Kind != opRestart {
			continue
		}
		info, err := r.mem.Head(context.Background(), p+"/")
		if err != nil || info.Attrs == nil || info.Attrs.Mode&0o7777 != mode || info.Attrs.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			return fail("attrs", "after a clean unmount the marker of %q is %v (attributes %+v); the directory has mode %#o", p, err, info.Attrs, mode)
		}
	}
	return nil
}

// restoreFailedLog begins the core's error when a failed directory
// rename cannot put back the marker of the directory it was to replace
// (FS.renameDir).
const restoreFailedLog = "rename of a directory failed, and the directory it was to replace may now show"

// logged: a line the core logged since mark has all of parts.
func (r *runner) logged(mark int, parts ...string) bool {
	for _, l := range r.c.log.since(mark) {
		if !strings.Contains(l, "level=ERROR") {
			continue
		}
		all := true
		for _, s := range parts {
			all = all && strings.Contains(l, s)
		}
		if all {
			return true
		}
	}
	return false
}

// dirStepStart is what afterDirStep needs of the time before a step: the
// model's directories then, and where the core's log was.
type dirStepStart struct {
	dirs map[string]bool
	log  int
}

// dirsBefore is the start of a step for afterDirStep.
func (r *runner) dirsBefore() dirStepStart {
	out := map[string]bool{}
	for _, d := range r.m.allDirs() {
		out[d] = true
	}
	return dirStepStart{dirs: out, log: r.c.log.mark()}
}

// addDirChmods puts directory chmods into a directory sequence with
// POSIX metadata, chosen by a generator of their own (the other steps
// stay as the seed made them; a chmod takes the ID of the step after it).
func addDirChmods(seed int64, opt coreOptions, faults bool, ops []op) []op {
	if !opt.PosixMetadata {
		return ops
	}
	rng := rand.New(rand.NewSource(seed*40503 + 0x6469))
	var out []op
	for _, o := range ops {
		for rng.Intn(6) == 0 {
			c := op{ID: o.ID, Kind: opDirChmod, Name: dirModelDirs[rng.Intn(len(dirModelDirs))], Len: rng.Intn(60),
				Refuse: o.Refuse}
			if faults && rng.Intn(3) == 0 {
				c.Faults = 1 + rng.Intn(3)
			}
			out = append(out, c)
		}
		out = append(out, o)
	}
	return out
}

func hasDirChmod(ops []op) bool {
	for _, o := range ops {
		if o.Kind == opDirChmod {
			return true
		}
	}
	return false
}

func dirChmodString(o op) string {
	return fmt.Sprintf("chmod(%q, %#o) of a directory", o.Name, attrModes[o.Len%len(attrModes)]|0o700)
}

// dirChmod changes directory name's mode to attrModes[i] | 0700.
func (s *scenario) dirChmod(name string, i int) op {
	return s.op(op{Kind: opDirChmod, Name: name, Len: i})
}

// dirAttrCases are modelCases() of directory modes.
func dirAttrCases() []modelCase {
	posix := coreOptions{AllowDelete: true, AllowOverwrite: true, PosixMetadata: true}
	return []modelCase{
		{"a directory's mode goes with its rename, through a crash", posix, func(s *scenario) []op {
			return []op{s.mkdir("x"), s.dirChmod("x", 1), s.open(0, "x/a", os.O_RDWR|os.O_CREATE), s.lines(0, 1), s.close(0),
				s.tick(), s.dirChmod("x", 4), s.rename("x", "w"), s.crash(), s.restart()}
		}(&scenario{})},
		// The answer of the marker's copy (or create) was lost: chmod
		// failed though S3 had the new mode, which the next lookup
		// showed (TestModelDirs -model.random seeds 394525145, 143948755).
		{"a directory chmod whose copy's answer was lost succeeds", posix, func(s *scenario) []op {
			return []op{s.mkdir("x"), s.faulty(s.dirChmod("x", 1), faultLoseFirst), s.put("z/a", false),
				s.faulty(s.dirChmod("z", 2), faultLoseFirst), s.restart()}
		}(&scenario{})},
		{"a directory of keys only gets a marker with its mode", posix, func(s *scenario) []op {
			return []op{s.put("z/a", false), s.dirChmod("z", 2), s.restart(), s.rmdir("z"), s.mkdir("z"), s.restart()}
		}(&scenario{})},
		// A rename over an empty directory whose copy of the source's
		// marker over the target's lost its answer failed, and left the
		// target with the source's mode (TestModelDirs -model.random
		// seed 461177419): the target's marker is put back.
		{"a failed rename over an empty directory leaves its mode", posix, func(s *scenario) []op {
			return []op{s.put("z/y/c", false), s.put("x/y/a", false), s.mkdir("x/y/z"), s.dirChmod("x/y/z", 53),
				s.refused(s.mkdir("z/a")), s.refused(s.faulty(s.rename("z/a", "x/y/z"), faultLoseFirst)), s.restart()}
		}(&scenario{})},
		// The same, the marker's copy landing and a file's copy failing.
		{"a rename over an empty directory failing after the marker's copy leaves its mode", posix, func(s *scenario) []op {
			return []op{s.put("x/y/a", false), s.mkdir("w"), s.dirChmod("w", 3), s.dirChmod("x/y", 1),
				s.faulty(s.rename("x/y", "w"), faultFailSecond), s.restart()}
		}(&scenario{})},
		// A directory of keys only renamed over an empty directory with a
		// marker: the marker is deleted (the renamed directory has the
		// default mode, not the replaced one's), and the model knows it
		// (TestModelDirs -model.random seed 942184955 once the core did).
		{"a directory of keys only renamed over one with a marker deletes it", posix, func(s *scenario) []op {
			return []op{s.mkdir("w"), s.dirChmod("w", 0), s.put("z/y/c", false), s.rename("z/y", "w"), s.restart()}
		}(&scenario{})},
		// A rename over an empty directory whose old marker's delete was
		// refused happened: the directory has its mode under the new
		// name, the old one stays, empty, with it too (seed 917729579;
		// the model did not follow the mode then).
		{"a directory renamed over an empty one with deletes refused has its mode", posix, func(s *scenario) []op {
			return []op{s.refused(s.remoteAppend("x/y/a")), s.refused(s.mkdir("w")), s.refused(s.dirChmod("x/y", 9)),
				s.refused(s.rename("x/y", "w")), s.restart()}
		}(&scenario{})},
	}
}
