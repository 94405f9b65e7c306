package vfs

// The model test with directories: file names inside directories, mkdir,
// rmdir, renames of directories (over an empty one, and the errors POSIX
// gives), another host's keys under a prefix (also while it is renamed),
// listings of every directory, and directory markers in S3 with
// --posix-metadata (half the sequences).
//
// What the model holds of directories (model.dirs): explicit ones —
// a marker in S3 (mkdir with POSIX metadata; it survives a remount), or
// local to this mount (mkdir without, or a directory whose last name this
// host removed: README "Names", keepParents) until a key appears under it
// or the mount ends — and implicit ones, the parents of files. A
// directory that only keys of no file make (an old key still to delete
// under it, model.lingering) may or may not be listed: the model does
// not go through it.
//
//	go test -race -run TestModelDirs ./internal/vfs/ [-model.steps=N] [-model.seed=N] [-model.random]

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

type dirKind int

const (
	dirLocal  dirKind = 1 // exists on this host, for the mount's life
	dirMarker dirKind = 2 // its "dir/" marker is in S3
	// dirUnsure: a local directory under which S3 showed a key of no
	// file (an old key still to delete): a listing that saw it made the
	// directory one of S3's, which goes with that key; one that did not
	// left it local. The mount says which once the key is gone.
	dirUnsure dirKind = 3
)

var (
	// dirModelFiles are the file names of the directory sequences.
	dirModelFiles = []string{"a", "x/a", "x/b", "x/y/a", "z/a", "z/y/b"}
	// dirModelDirs are their directory names (also the targets of
	// renames: w is none of the files' parents).
	dirModelDirs = []string{"x", "x/y", "z", "z/y", "x/y/z", "w"}
	// dirModelRemote are names another host writes under prefixes.
	dirModelRemote = []string{"x/c", "z/y/c", "w/c", "x/y/c"}
)

// isDir: d is a directory of the model (explicit, or the parent of a file
// or of an explicit directory).
func (m *model) isDir(d string) bool {
	if d == "" || m.dirs[d] == dirLocal || m.dirs[d] == dirMarker {
		return true
	}
	for n := range m.files {
		if under(n, d) {
			return true
		}
	}
	for e, k := range m.dirs {
		if under(e, d) && k != dirUnsure {
			return true
		}
	}
	return false
}

// flat: the model has no directory (TestModel's sequences).
func (m *model) flat() bool {
	if len(m.dirs) > 0 {
		return false
	}
	for n := range m.files {
		if strings.Contains(n, "/") {
			return false
		}
	}
	if len(m.lingerMarkers) > 0 {
		return false
	}
	for n := range m.lingering {
		if strings.Contains(n, "/") {
			return false
		}
	}
	return true
}

// maybeDir: keys of no file (old keys still to delete) are under d: a
// listing may show it.
func (m *model) maybeDir(d string) bool {
	for k := range m.lingering {
		if under(k, d) {
			return true
		}
	}
	for k := range m.lingerMarkers {
		if under(k, d) {
			return true
		}
	}
	for e, k := range m.dirs {
		if k == dirUnsure && (e == d || under(e, d)) {
			return true
		}
	}
	return false
}

// children are the files and directories directly in d.
func (m *model) children(d string) (files, dirs []string) {
	seen := map[string]bool{}
	add := func(p string, file bool) {
		if !under(p, d) || p == d {
			return
		}
		rest := strings.TrimPrefix(p, d+"/")
		if d == "" {
			rest = p
		}
		name, _, deeper := strings.Cut(rest, "/")
		switch {
		case deeper && !seen[name]:
			seen[name] = true
			dirs = append(dirs, name)
		case !deeper && file:
			files = append(files, name)
		case !deeper && !seen[name]:
			seen[name] = true
			dirs = append(dirs, name)
		}
	}
	for n := range m.files {
		add(n, true)
	}
	for e, k := range m.dirs {
		if k != dirUnsure {
			add(e, false)
		}
	}
	sort.Strings(files)
	sort.Strings(dirs)
	return files, dirs
}

// allDirs is every directory of the model, the root first.
func (m *model) allDirs() []string {
	set := map[string]bool{}
	addParents := func(p string) {
		for d := parentPath(p); d != ""; d = parentPath(d) {
			set[d] = true
		}
	}
	for n := range m.files {
		addParents(n)
	}
	for e, k := range m.dirs {
		if k != dirUnsure {
			set[e] = true
			addParents(e)
		}
	}
	out := []string{""}
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// keepParents: this host removed p's name; its directories stay (local
// ones unless they have a marker).
func (m *model) keepParents(p string) {
	for d := parentPath(p); d != ""; d = parentPath(d) {
		if m.dirs[d] == 0 || m.dirs[d] == dirUnsure {
			m.dirs[d] = dirLocal
		}
	}
}

// published: S3 holds key; a local directory above it is in S3 now (a
// listing shows it through the key), and goes when its keys go. Unless
// the key is no file's (dirUnsure).
func (m *model) published(key string) {
	name := strings.TrimSuffix(key, "/")
	ours := m.files[name] != nil || m.dirs[name] == dirMarker
	for d := parentPath(name); d != ""; d = parentPath(d) {
		switch k := m.dirs[d]; {
		case ours && (k == dirLocal || k == dirUnsure):
			delete(m.dirs, d)
		case k == dirLocal:
			m.dirs[d] = dirUnsure
		}
	}
}

// settleUnsure asks the mount about each unsure directory that S3 holds
// no key under any more: local, or gone.
func (r *runner) settleUnsure(keys []string) *failure {
	for d, k := range r.m.dirs {
		if k != dirUnsure || slices.ContainsFunc(keys, func(key string) bool { return under(key, d) }) {
			continue
		}
		ctx, cancel := r.ctx()
		n, err := r.lookupPath(ctx, d)
		cancel()
		switch {
		case err == nil && n.dir:
			r.m.dirs[d] = dirLocal
		case Errno(err) == syscall.ENOENT:
			delete(r.m.dirs, d)
		default:
			return fail("lookup", "lookup of %q (a local directory an old key was under): %v", d, err)
		}
		r.count("local directories an old key was under")
	}
	return nil
}

// dropLocalDirs: the mount ended; local directories went with it.
func (m *model) dropLocalDirs() {
	for d, k := range m.dirs {
		if k == dirLocal || k == dirUnsure {
			delete(m.dirs, d)
		}
	}
}

// moveTree renames directory from (and everything in it) to to. The
// marker of an empty directory to replaced is the source's (copied over
// it) or, when from has none, deleted if the mount deletes markers
// (deletesMarkers; one a fault kept: leftOver), else it stays.
func (m *model) moveTree(from, to string, deletesMarkers bool) {
	moved := func(p string) string { return to + strings.TrimPrefix(p, from) }
	kind := m.dirs[from]
	if m.dirs[to] == dirMarker && !deletesMarkers {
		kind = dirMarker
	}
	for d := range m.dirs {
		if d == to || under(d, to) {
			delete(m.dirs, d)
		}
	}
	dirs := map[string]dirKind{}
	for d, k := range m.dirs {
		if under(d, from) {
			dirs[moved(d)] = k
			delete(m.dirs, d)
		}
	}
	delete(m.dirs, from)
	for d, k := range dirs {
		m.dirs[d] = k
	}
	if kind != 0 {
		m.dirs[to] = kind
	}
	var names []string
	for n := range m.files {
		if under(n, from) {
			names = append(names, n)
		}
	}
	for _, n := range names {
		f := m.files[n]
		delete(m.files, n)
		m.gone[n] = true
		f.name = moved(n)
		m.files[f.name] = f
		delete(m.gone, f.name)
		delete(m.lingering, f.name)
	}
}

// walk resolves p's directory as the kernel's path walk does, through the
// core's lookups, checking each directory on the way against the model.
// ok is false when the kernel answers without asking for the last name (a
// parent missing: ENOENT, or a file: ENOTDIR), or when the model cannot
// say (a directory only old keys make). For names in the root it asks
// nothing (the sequences of TestModel stay as they were).
func (r *runner) walk(ctx context.Context, p string) (dir *Node, base string, ok bool, ff *failure) {
	fs := r.c.fs
	dir = fs.Root()
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return dir, p, true, nil
	}
	cur := ""
	for _, c := range strings.Split(p[:i], "/") {
		cur = join(cur, c)
		isDir, file := r.m.isDir(cur), r.m.files[cur] != nil
		if !isDir && !file && r.m.maybeDir(cur) {
			return nil, "", false, nil
		}
		n, err := fs.Lookup(ctx, dir, c)
		switch {
		case isDir && (err != nil || !n.dir):
			return nil, "", false, fail("lookup", "lookup of the directory %q: %v (a file: %v)", cur, err, err == nil)
		case isDir:
			dir = n
			continue
		case file && (err != nil || n.dir):
			return nil, "", false, fail("lookup", "lookup of the file %q: %v (a directory: %v)", cur, err, err == nil)
		case file:
			return nil, "", false, nil // ENOTDIR
		case err == nil:
			return nil, "", false, fail("lookup", "lookup %q found a %s; the model has nothing there", cur, map[bool]string{true: "directory", false: "file"}[n.dir])
		case Errno(err) != syscall.ENOENT:
			return nil, "", false, fail("lookup", "lookup %q: %v, want ENOENT", cur, err)
		}
		return nil, "", false, nil // ENOENT
	}
	return dir, p[i+1:], true, nil
}

// fileWalk is walk for an operation on a file: a directory there (or one
// old keys may show) is the kernel's EISDIR.
func (r *runner) fileWalk(ctx context.Context, p string) (*Node, string, bool, *failure) {
	if r.m.isDir(p) || r.m.maybeDir(p) {
		return nil, "", false, nil
	}
	return r.walk(ctx, p)
}

// lookupPath looks p up from the root, one name at a time.
func (r *runner) lookupPath(ctx context.Context, p string) (*Node, error) {
	fs := r.c.fs
	n := fs.Root()
	if p == "" {
		return n, nil
	}
	for _, c := range strings.Split(p, "/") {
		var err error
		if n, err = fs.Lookup(ctx, n, c); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// remotePathOK: another host may write name's key: no file of the model
// above it (its directory would hide it), no directory there.
func (r *runner) remotePathOK(name string) bool {
	if r.m.isDir(name) || r.m.maybeDir(name) {
		return false
	}
	for d := parentPath(name); d != ""; d = parentPath(d) {
		if r.m.files[d] != nil || !r.m.isDir(d) && r.m.maybeDir(d) {
			return false
		}
	}
	return true
}

// existsAfterFault asks the mount whether p is a directory after a
// directory operation a store fault failed: either outcome can be right,
// as long as S3 and the listings agree with it.
func (r *runner) existsAfterFault(p string) (bool, *failure) {
	r.count("directory operations failed by a store fault")
	ctx, cancel := r.ctx()
	defer cancel()
	n, err := r.lookupPath(ctx, p)
	switch {
	case err == nil && n.dir:
		return true, nil
	case Errno(err) == syscall.ENOENT:
		return false, nil
	default:
		return false, fail("lookup", "lookup %q after a failed directory operation: %v", p, err)
	}
}

func (r *runner) mkdir(o op) *failure {
	ctx, cancel := r.ctx()
	defer cancel()
	dir, base, ok, ff := r.walk(ctx, o.Name)
	if !ok || r.m.maybeDir(o.Name) && !r.m.isDir(o.Name) {
		return ff
	}
	exists := r.m.files[o.Name] != nil || r.m.isDir(o.Name)
	stop := r.faults(o, nil)
	_, err := r.c.fs.Mkdir(ctx, dir, base, 0o755)
	stop()
	r.steps++
	what := fmt.Sprintf("mkdir(%q)", o.Name)
	if exists {
		return r.outcome(what, err, wantEPERM, syscall.EEXIST)
	}
	if ff := r.outcome(what, err, wantOK); ff != nil {
		return ff
	}
	if err != nil {
		if made, ff := r.existsAfterFault(o.Name); ff != nil || !made {
			return ff
		}
	}
	_, marker := r.object(o.Name + "/")
	switch {
	case r.opt.PosixMetadata && !marker:
		return fail("mkdir", "%s returned %v; S3 has no marker %q", what, err, o.Name+"/")
	case marker:
		r.m.dirs[o.Name] = dirMarker
	default:
		r.m.dirs[o.Name] = dirLocal
	}
	r.count("mkdirs")
	return nil
}

func (r *runner) rmdir(o op) *failure {
	ctx, cancel := r.ctx()
	defer cancel()
	dir, base, ok, ff := r.walk(ctx, o.Name)
	if !ok || r.m.maybeDir(o.Name) {
		return ff
	}
	var want syscall.Errno
	files, dirs := r.m.children(o.Name)
	switch {
	case r.m.files[o.Name] != nil:
		want = syscall.ENOTDIR
	case !r.m.isDir(o.Name):
		want = syscall.ENOENT
	case len(files)+len(dirs) > 0:
		want = syscall.ENOTEMPTY
	}
	stop := r.faults(o, nil)
	err := r.c.fs.Rmdir(ctx, dir, base)
	stop()
	r.steps++
	what := fmt.Sprintf("rmdir(%q)", o.Name)
	if want != 0 {
		if Errno(err) == want {
			r.count("rmdir refused (" + want.Error() + ")")
			return nil
		}
		return r.outcome(what, err, wantEPERM, want)
	}
	if ff := r.outcome(what, err, wantOK); ff != nil {
		return ff
	}
	if err != nil {
		if still, ff := r.existsAfterFault(o.Name); ff != nil || still {
			return ff
		}
	}
	delete(r.m.dirs, o.Name)
	r.m.keepParents(o.Name)
	r.count("rmdirs")
	return nil
}

// renamePaths resolves a rename's two names. done: the step ended here (a
// rename the kernel answers, one the model cannot follow, or one of a
// directory, which renameDir ran).
func (r *runner) renamePaths(o op) (odir *Node, obase string, ndir *Node, nbase string, ff *failure, done bool) {
	fs := r.c.fs
	if !strings.Contains(o.Name+o.To, "/") && r.m.flat() {
		return fs.Root(), o.Name, fs.Root(), o.To, nil, false // TestModel's names
	}
	ctx, cancel := r.ctx()
	defer cancel()
	var ok bool
	if odir, obase, ok, ff = r.walk(ctx, o.Name); !ok {
		return nil, "", nil, "", ff, true
	}
	if ndir, nbase, ok, ff = r.walk(ctx, o.To); !ok {
		return nil, "", nil, "", ff, true
	}
	srcMaybe := r.m.maybeDir(o.Name) && !r.m.isDir(o.Name)
	dstMaybe := r.m.maybeDir(o.To) && !r.m.isDir(o.To)
	if srcMaybe || dstMaybe {
		return nil, "", nil, "", nil, true
	}
	switch {
	case r.m.isDir(o.Name):
		return nil, "", nil, "", r.renameDir(o, odir, obase, ndir, nbase), true
	case r.m.files[o.Name] != nil && r.m.isDir(o.To):
		err := fs.Rename(ctx, odir, obase, ndir, nbase, 0)
		r.steps++
		if Errno(err) != syscall.EISDIR {
			return nil, "", nil, "", fail("errno", "rename(%q, %q) of a file over a directory: %v, want EISDIR", o.Name, o.To, err), true
		}
		r.count("renames refused (EISDIR)")
		return nil, "", nil, "", nil, true
	}
	return odir, obase, ndir, nbase, nil, false
}

// renameDir renames the model's directory o.Name (with, when o.Nth > 0,
// another host putting a key under it before the Nth store call on
// either name's keys).
func (r *runner) renameDir(o op, odir *Node, obase string, ndir *Node, nbase string) *failure {
	what := fmt.Sprintf("rename(%q, %q) of a directory", o.Name, o.To)
	var want syscall.Errno
	files, dirs := r.m.children(o.To)
	switch {
	case o.To == o.Name:
	case under(o.To, o.Name):
		want = syscall.EINVAL
	case r.m.files[o.To] != nil:
		want = syscall.ENOTDIR
	case r.m.isDir(o.To) && len(files)+len(dirs) > 0:
		want = syscall.ENOTEMPTY
	}
	// What the mount cannot move (EXDEV): files with local state, or
	// open. Real timers may publish such a file during the call.
	busy, surely := false, false
	for _, n := range r.m.names() {
		if under(n, o.Name) {
			f := r.m.files[n]
			busy = busy || f.handles > 0 || r.vfsLocal(n)
			surely = surely || f.handles > 0 || r.vfsLocal(n) && !r.opt.RealTimers
		}
	}
	if r.treeHeld(o.Name) {
		busy = true // a move record of a file renamed into it (its old key still to delete)
	}
	var keys, markers int
	for _, k := range r.mem.Keys() {
		if strings.HasPrefix(k, o.Name+"/") {
			keys++
			if strings.HasSuffix(k, "/") {
				markers++
			}
		}
	}
	perm := wantOK
	if !r.opt.AllowDelete && !(r.opt.PosixMetadata && keys == markers) {
		switch {
		case keys > 0:
			perm = wantEPERM
		case len(r.m.names()) > 0:
			perm = wantEither // a publication may land during the call
		}
	}
	ctx, cancel := r.ctx()
	defer cancel()
	var race func(c memstore.Call)
	var raced atomic.Bool
	racer := fmt.Sprintf("%s/r%d", o.Name, o.ID)
	raceData := lines('R', o.ID, 1)
	if o.Nth > 0 && o.To != o.Name && r.remotePathOK(racer) {
		var calls atomic.Int32
		var once sync.Once
		race = func(c memstore.Call) {
			if !strings.HasPrefix(c.Key, o.Name+"/") && !strings.HasPrefix(c.Key, o.To+"/") && c.Key != o.Name+"/" {
				return
			}
			if int(calls.Add(1)) == o.Nth {
				once.Do(func() {
					r.mem.PutObject(racer, raceData)
					raced.Store(true)
				})
			}
		}
	}
	stop := r.faults(o, race)
	err := r.c.fs.Rename(ctx, odir, obase, ndir, nbase, 0)
	stop()
	r.steps++
	racedAt := ""
	if raced.Load() {
		var ff *failure
		if racedAt, ff = r.racedUnder(o, racer, raceData, err == nil); ff != nil {
			return ff
		}
		// Another host's file: where it is now, after the model's move.
		defer func() { r.m.newFile(racedAt, raceData).acked() }()
	}
	if raced.Load() && !r.opt.AllowDelete {
		perm = wantEither // the listing may have seen the other host's key
	}
	e := Errno(err)
	switch {
	case o.To == o.Name:
		return r.outcome(what, err, wantOK)
	case want != 0:
		if e == want {
			r.count("directory renames refused (" + want.Error() + ")")
			return nil
		}
		return r.outcome(what, err, wantEPERM, want)
	case e == syscall.EXDEV && busy:
		r.count("directory renames refused (EXDEV: local state)")
		return nil
	case e == syscall.EXDEV:
		return fail("errno", "%s: EXDEV; nothing in it has local state", what)
	case e == 0 && surely:
		return fail("errno", "%s succeeded; a file in it has local state or is open: want EXDEV", what)
	}
	if ff := r.outcome(what, err, perm); ff != nil {
		return ff
	}
	if o.To == o.Name {
		return nil
	}
	if err != nil {
		if e == syscall.EPERM {
			return nil
		}
		r.leftOver(o)
		// A store fault failed it: the mount says which name the tree
		// has now — one, never both.
		src, ff := r.existsAfterFault(o.Name)
		if ff != nil {
			return ff
		}
		dst, ff := r.existsAfterFault(o.To)
		if ff != nil {
			return ff
		}
		dstBefore := r.m.isDir(o.To)
		switch {
		case src && (!dst || dstBefore || r.m.maybeDir(o.To)):
			r.count("directory renames undone after a store fault")
			return nil
		case src:
			return fail("dir-rename", "%s failed (%v) and left the directory under both names", what, err)
		}
		r.count("directory renames that happened though a store fault failed them")
	}
	r.m.moveTree(o.Name, o.To, r.opt.AllowDelete || r.opt.PosixMetadata)
	r.dirRenamed = true
	r.m.keepParents(o.Name)
	r.count("directory renames")
	r.leftOver(o)
	return nil
}

// leftOver: after a directory rename with store faults, keys under either
// name that are no file or directory of the model are what the rename
// could not delete yet: a file's old key (or a failed rename's copy),
// hidden and deleted by its file's job (the next tick without faults); a
// marker, which stays: an empty directory (DIFFERENCES.md).
func (r *runner) leftOver(o op) {
	if r.injected.Load() == 0 {
		return
	}
	for _, k := range r.mem.Keys() {
		if !strings.HasPrefix(k, o.Name+"/") && !strings.HasPrefix(k, o.To+"/") {
			continue
		}
		name := strings.TrimSuffix(k, "/")
		switch {
		case strings.HasSuffix(k, "/") && r.m.dirs[name] != dirMarker:
			r.m.dirs[name] = dirMarker
			r.count("directory markers left by a rename")
		case !strings.HasSuffix(k, "/") && r.m.files[k] == nil:
			b, _ := r.object(k)
			r.m.lingering[k] = b
			r.m.gone[k] = true
			r.count("keys left by a directory rename")
		}
	}
}

// treeHeld: the core holds a spool file for a node inside d that the
// model has no file for (a move record).
func (r *runner) treeHeld(d string) bool {
	fs := r.c.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for p, n := range fs.byPath.under(d) {
		if r.m.files[p] != nil {
			continue
		}
		n.mu.Lock()
		held := n.file != nil || n.handles > 0
		n.mu.Unlock()
		if held {
			return true
		}
	}
	return false
}

// racedUnder: another host put racer (under the directory being renamed)
// during the rename; it is now under the old name or, moved with the
// tree, under the new one — once (the old key may wait for its delete,
// hidden, when the rename met store faults). It returns where.
func (r *runner) racedUnder(o op, racer string, data []byte, renamed bool) (string, *failure) {
	moved := o.To + strings.TrimPrefix(racer, o.Name)
	old, atOld := r.object(racer)
	nw, atNew := r.object(moved)
	r.count("another host's keys put under a directory being renamed")
	switch {
	case atOld && atNew && renamed && r.injected.Load() > 0 && bytes.Equal(nw, data):
		return moved, nil
	case atOld && atNew && !renamed && r.injected.Load() > 0 && bytes.Equal(old, data):
		return racer, nil // its copy waits for its delete (undone)
	case atOld && atNew:
		return "", fail("twice", "another host's key put during the rename of %q is under both names", o.Name)
	case atOld && bytes.Equal(old, data):
		return racer, nil
	case atNew && bytes.Equal(nw, data):
		return moved, nil
	}
	return "", fail("lost", "another host's key put during the rename of %q is gone (neither %q nor %q holds it)", o.Name, racer, moved)
}

// checkMarker: S3's marker key k is a directory of the model that has
// one.
func (r *runner) checkMarker(k, when string) *failure {
	d := strings.TrimSuffix(k, "/")
	if r.m.dirs[d] != dirMarker && !r.m.lingerMarkers[k] {
		return fail("resurrected", "%sS3 holds the marker %q; the model has no such directory with a marker", when, k)
	}
	return nil
}

// checkMarkersPresent: every directory of the model with a marker has it.
func (r *runner) checkMarkersPresent(have map[string]bool, when string) *failure {
	for d, k := range r.m.dirs {
		if k == dirMarker && !have[d+"/"] {
			return fail("lost", "%sthe marker of directory %q is not in S3", when, d)
		}
	}
	return nil
}

// checkListings lists every directory of the model through the mount:
// each of its files and directories once, as what they are, nothing else
// (a directory only old keys make may show).
func (r *runner) checkListings() *failure {
	ctx, cancel := r.ctx()
	defer cancel()
	for _, d := range r.m.allDirs() {
		n, err := r.lookupPath(ctx, d)
		if err != nil || !n.dir {
			return fail("listing", "lookup of the directory %q: %v", d, err)
		}
		var gotFiles, gotDirs []string
		err = r.c.fs.ReadDir(ctx, n, func(e DirEntry) bool {
			if e.Node.dir {
				gotDirs = append(gotDirs, e.Name)
			} else {
				gotFiles = append(gotFiles, e.Name)
			}
			return true
		})
		if err != nil {
			return fail("listing", "readdir %q: %v", d, err)
		}
		sort.Strings(gotFiles)
		sort.Strings(gotDirs)
		files, dirs := r.m.children(d)
		gotDirs = slices.DeleteFunc(gotDirs, func(name string) bool {
			return !slices.Contains(dirs, name) && r.m.maybeDir(join(d, name))
		})
		if !slices.Equal(gotFiles, files) || !slices.Equal(gotDirs, dirs) {
			return fail("listing", "the mount lists %q as files %q and directories %q, the model has %q and %q", d, gotFiles, gotDirs, files, dirs)
		}
	}
	return nil
}

// dirOp is one step of a directory sequence that is not a file's.
func dirOp(rng *rand.Rand) op {
	pick := func(s []string) string { return s[rng.Intn(len(s))] }
	name := func(fileOdds int) string {
		if rng.Intn(fileOdds) == 0 {
			return pick(dirModelFiles)
		}
		return pick(dirModelDirs)
	}
	var o op
	switch x := rng.Intn(100); {
	case x < 30:
		o.Kind, o.Name = opMkdir, name(8)
	case x < 50:
		o.Kind, o.Name = opRmdir, name(8)
	case x < 85:
		o.Kind, o.Name, o.To = opRename, name(5), name(5)
		if rng.Intn(4) == 0 {
			o.Nth = 1 + rng.Intn(4)
		}
	case x < 95:
		o.Kind, o.Name, o.Len = opRemotePut, pick(dirModelRemote), rng.Intn(8)
	default:
		o.Kind, o.Name = opRemoteDelete, pick(append(dirModelRemote, dirModelFiles...))
	}
	return o
}

// dirModelRun is one directory sequence: TestModel's operations over
// dirModelFiles, with directory steps between them.
func dirModelRun(seed int64) (coreOptions, []op) {
	rng := rand.New(rand.NewSource(seed))
	opt, faults := modelOptions(rng, seed)
	opt.PosixMetadata = (seed>>2)&1 == 0
	n := 120 + rng.Intn(200)
	if *modelOps > 0 {
		n = *modelOps
	}
	var ops []op
	for _, o := range genOpsOver(rng, n, faults, dirModelFiles) {
		for rng.Intn(4) == 0 {
			ops = append(ops, dirOp(rng))
		}
		ops = append(ops, o)
	}
	for i := range ops {
		o := &ops[i]
		o.ID = i + 1
		o.Refuse = refuseWindow(faults, o.ID)
		switch o.Kind {
		case opRename, opUnlink, opMkdir, opRmdir:
			o.Faults = idFault(faults, o.ID)
		}
	}
	return opt, addDirChmods(seed, opt, faults, ops)
}

// TestModelDirs is the model test over names in directories, with
// directory operations.
func TestModelDirs(t *testing.T) {
	runModelSeeds(t, "directory model test", "-run TestModelDirs -model.seed=N", modelBudget(2500, 4), dirModelRun)
}

func (s *scenario) mkdir(name string) op { return s.op(op{Kind: opMkdir, Name: name}) }
func (s *scenario) rmdir(name string) op { return s.op(op{Kind: opRmdir, Name: name}) }
func (s *scenario) refused(o op) op {
	o.Refuse = true
	return o
}

// dirModelCases are the directory sequences the model found (modelCases).
func dirModelCases() []modelCase {
	all := coreOptions{AllowDelete: true, AllowOverwrite: true}
	posix := all
	posix.PosixMetadata = true
	var out []modelCase
	add := func(name string, opt coreOptions, build func(s *scenario) []op) {
		out = append(out, modelCase{name, opt, build(&scenario{})})
	}
	add("a directory whose last file is renamed out of it stays", all, func(s *scenario) []op {
		// Seed 1 of TestModelDirs: z vanished with its last key.
		return []op{s.remoteAppend("z/a"), s.rename("z/a", "a")}
	})
	add("a directory whose last subdirectory is removed stays", posix, func(s *scenario) []op {
		return []op{s.remoteAppend("z/a"), s.mkdir("z/y"), s.rename("z/a", "a"), s.rmdir("z/y")}
	})
	add("a directory renamed into its own subtree is EINVAL", posix, func(s *scenario) []op {
		// Seed 2: ENOTDIR (the target a file), and with an empty
		// target the tree would have been copied into itself.
		return []op{s.remoteAppend("z/a"), s.remoteAppend("x/y/a"), s.rename("z/a", "x/y/z"), s.rename("x/y", "x/y/z"), s.rename("x", "x/y/w")}
	})
	lost := all
	lost.Express = true
	add("a directory rename whose copy's answer was lost is undone whole", lost, func(s *scenario) []op {
		// Seed 5: the copy had landed; the undo left it, so the tree
		// was under both names.
		return []op{s.put("x/b", false), s.faulty(s.rename("x", "w"), faultLoseFirst)}
	})
	add("a directory rename undone while deletes are refused hides the copy until its delete", lost, func(s *scenario) []op {
		return []op{s.refused(s.put("x/b", false)), s.refused(s.faulty(s.rename("x", "w"), faultLoseFirst)), s.tick()}
	})
	refused := posix
	refused.Express, refused.AllowOverwrite = true, false
	add("a directory rename whose old keys' deletes are refused succeeds; an old marker stays, empty", refused, func(s *scenario) []op {
		// Seed 8: the rename failed (EIO) with the copies standing, the
		// tree under both names until the next mount.
		return []op{s.faulty(s.mkdir("z"), faultLoseFirst), s.mkdir("z/a"), s.put("z/a/f", false), s.refused(s.rename("z/a", "a")), s.tick(), s.rmdir("z/a"), s.op(op{Kind: opRestart})}
	})
	add("the files of a renamed directory read as their copies", coreOptions{AllowDelete: true}, func(s *scenario) []op {
		// Random seed 34016119: a file whose old key's delete was
		// refused kept its old object's ETag, and reads of the copy
		// failed ("object changed while open").
		return []op{s.refused(s.remoteAppend("x/a")), s.refused(s.put("z/y/c", false)), s.refused(s.rename("z/y", "x/y"))}
	})
	add("a directory holding a file being written stays when another host deletes its keys", coreOptions{AllowDelete: true}, func(s *scenario) []op {
		// Random seed 118532063: x vanished from listings and lookups
		// with its last key, the new file x/b in it unreachable until
		// published.
		return []op{s.put("x/y/c", false), s.open(0, "x/b", os.O_RDWR|os.O_CREATE|os.O_APPEND), s.op(op{Kind: opRemoteDelete, Name: "x/y/c"})}
	})
	add("an rmdir whose delete's answer was lost keeps the parents", posix, func(s *scenario) []op {
		// TestModelDirs -model.random seed 331849747: the marker's
		// delete landed, its answer lost; rmdir failed before keeping
		// the parents, and x, left without keys (the renamed tree's
		// old keys hidden while deletes were refused), vanished.
		return []op{
			{ID: 4, Kind: opRemotePut, Name: "x/y/c", Len: 4, Refuse: true},
			{ID: 47, Kind: opMkdir, Name: "x/y/z", Faults: faultLoseFirst, Refuse: true},
			{ID: 59, Kind: opRename, Name: "x", To: "w", Refuse: true},
			{ID: 165, Kind: opRmdir, Name: "x/y/z", Faults: faultLoseFirst},
		}
	})
	return out
}

// dirCrashScenarios are TestCrashPoints' directory renames: a crash at
// any store call leaves the tree's files under one name, never split
// (every file key's move is journaled before the first copy); its
// markers are where S3 shows them (not journaled: an old one may stay,
// the old directory empty).
func dirCrashScenarios() []crashScenario {
	all := coreOptions{AllowDelete: true, AllowOverwrite: true}
	posix := all
	posix.PosixMetadata = true
	express := posix
	express.Express = true
	var out []crashScenario
	add := func(name string, opt coreOptions, build func(s *scenario) (setup, phase []op)) {
		setup, phase := build(&scenario{})
		out = append(out, crashScenario{name: name, opt: opt, setup: setup, phase: phase})
	}
	tree := func(s *scenario) ([]op, []op) {
		return []op{s.mkdir("x"), s.put("x/a", false), s.put("x/b", false), s.mkdir("x/y"), s.put("x/y/c", false), s.mkdir("w")},
			[]op{s.rename("x", "w"), s.tick()}
	}
	add("rename of a directory over an empty one", all, tree)
	add("rename of a directory over an empty one (markers)", posix, tree)
	add("rename of a directory over an empty one (express, markers)", express, tree)
	return out
}

// resolveDirRename: the directory rename o was interrupted by a crash
// (maybe in its deletes, after the model took it as done); after the next
// mount its files are all under the old name or all under the new one,
// and the model follows; markers are where S3 has them.
func (r *runner) resolveDirRename(o op) *failure {
	old, moved := 0, 0
	for _, n := range r.m.names() {
		if !under(n, o.Name) {
			continue
		}
		if _, ok := r.object(n); ok {
			old++
		}
		if _, ok := r.object(o.To + strings.TrimPrefix(n, o.Name)); ok {
			moved++
		}
	}
	if old > 0 && moved > 0 {
		return fail("split", "an interrupted rename(%q, %q) of a directory left %d files under the old name, %d under the new", o.Name, o.To, old, moved)
	}
	if moved > 0 {
		r.m.moveTree(o.Name, o.To, r.opt.AllowDelete || r.opt.PosixMetadata)
	}
	for d, k := range r.m.dirs {
		if k == dirMarker && (under(d, o.Name) || d == o.Name || under(d, o.To) || d == o.To) {
			delete(r.m.dirs, d)
		}
	}
	for _, k := range r.mem.Keys() {
		if strings.HasSuffix(k, "/") && (strings.HasPrefix(k, o.Name+"/") || strings.HasPrefix(k, o.To+"/")) {
			r.m.dirs[strings.TrimSuffix(k, "/")] = dirMarker
		}
	}
	return nil
}
