package vfs

// The reference model: what each file holds for the application, and which
// objects S3 may hold for it. What it states may never happen:
//   - an acknowledged byte that is neither in S3 nor in the spool: reads
//     through the mount always give the model's bytes, across crashes, and
//     after a clean unmount S3 holds exactly them;
//   - a byte twice, or bytes the file never had: S3 only ever holds a
//     version the file really had, never older than the last acknowledged
//     publication (close or fsync of a writer), never going back;
//   - a torn line in a log: a publication of a file with O_APPEND writers
//     open ends on a line boundary; only final ones (fsync, last close,
//     unmount) may end inside a line;
//   - an unlinked file back in S3, a renamed file under its old key;
//   - a hang (every step runs under a watchdog).
//
// After a crash (SIGKILL) and a remount on the same spool, every file
// reads, and after the unmount S3 holds, its content at the crash: logs
// and whole files alike, also a whole file whose writer had neither closed
// nor fsynced it (DESIGN §1.8: the spool holds every unpublished byte and
// the next mount publishes it). The handles die with the process; a file
// unlinked while open stays gone.
//
// Errors: an operation may fail only as a local file system would (ENOENT
// for a name that is not there), as the mount options promise (EPERM
// without --allow-delete / --allow-overwrite, checked both ways where the
// outcome is certain), or with EIO in a step where the store failed.
//
// Another host's appends to a log that is being written here (line mode)
// may interleave with ours at line granularity only: S3 holds the lines as
// they were when the two began, then every line of the other host, in its
// order, merged with a growing prefix of ours, in our order, each once.
// Reads here show all of ours and a prefix of theirs the same way.

import (
	"bytes"
	"fmt"
	"sort"
)

// mfile is one file (an inode): it keeps its identity across renames and
// after unlink while open.
type mfile struct {
	id   int
	name string // "" once unlinked (or replaced by a rename)
	data []byte // what reads give; never changed in place below its length

	log bool // an O_APPEND handle was opened: publications may stop at a line
	// hist holds the versions S3 may hold for the file, oldest first: from
	// the last acknowledged (or seen) publication to now.
	hist      [][]byte
	mustExist bool   // S3 had the file: it may not vanish
	prevS3    []byte // S3's bytes at the last check
	// replaced: what S3 may still show under the name until the file's
	// first publication there (a rename over an object the file replaced).
	replaced [][]byte

	handles, writers, appenders int

	lm *lineMode
}

// lineMode is a log that another host appends to while it is written here.
type lineMode struct {
	base    []byte   // S3's bytes when it began (whole lines)
	ours    [][]byte // our lines since, in order
	theirs  [][]byte // the other host's lines, in order
	seenOur int      // how many of ours S3 showed at the last check
	mustOur int      // an fsync acknowledged this many
}

// mhandle is one open file description.
type mhandle struct {
	f      *mfile
	flags  int
	write  bool // may write (O_WRONLY, O_RDWR, or O_TRUNC on Linux)
	append bool
	wrote  bool // changed the file since the last close/fsync: close publishes
	// truncOnly: the change was a truncation (O_TRUNC, ftruncate), no write.
	truncOnly bool
	// fsyncFailed: an fsync failed since the last publication.
	fsyncFailed bool
}

type model struct {
	files map[string]*mfile
	gone  map[string]bool // names S3 must not have (unlinked, renamed away, deleted)
	// lingering: a gone name S3 may still hold, with these bytes, until
	// the next tick (a rename whose delete of the old key failed).
	lingering map[string][]byte
	h         map[int]*mhandle
	ids       int
	// dirs: the explicit directories (model_dirs_test.go).
	dirs map[string]dirKind
	// lingerMarkers: markers of renamed directories S3 may hold until the
	// next mount (their deletes refused).
	lingerMarkers map[string]bool
}

func newModel() *model {
	return &model{files: map[string]*mfile{}, gone: map[string]bool{}, lingering: map[string][]byte{}, h: map[int]*mhandle{}, dirs: map[string]dirKind{}, lingerMarkers: map[string]bool{}}
}

func (m *model) newFile(name string, data []byte) *mfile {
	m.ids++
	f := &mfile{id: m.ids, name: name, data: data, hist: [][]byte{data}}
	m.files[name] = f
	delete(m.gone, name)
	delete(m.lingering, name)
	return f
}

// set records new content (a fresh slice unless it only grew).
func (f *mfile) set(data []byte) {
	f.data = data
	f.hist = append(f.hist, data)
}

// appendData adds bytes at the end; older versions keep their prefix.
func (f *mfile) appendData(b []byte) { f.set(append(f.data, b...)) }

// writeAt is a pwrite: a new slice, so older versions stay intact.
func (f *mfile) writeAt(b []byte, off int) {
	n := max(len(f.data), off+len(b))
	d := make([]byte, n, n+256)
	copy(d, f.data)
	copy(d[off:], b)
	f.set(d)
}

func (f *mfile) truncate(size int) {
	d := make([]byte, size, size+256)
	copy(d, f.data)
	f.set(d)
}

// acked: a publication of everything was acknowledged (close, fsync,
// truncate by name of a closed file, unmount).
func (f *mfile) acked() {
	f.hist = [][]byte{f.data}
	f.mustExist = true
	f.replaced = nil
}

// replacedWith: s is an object the file replaced (by a rename over it)
// and has not published over yet.
func (f *mfile) replacedWith(s []byte) bool {
	for _, v := range f.replaced {
		if bytes.Equal(v, s) {
			return true
		}
	}
	return false
}

// unlink takes the file off its name.
func (m *model) unlink(f *mfile) {
	if f.name != "" && m.files[f.name] == f {
		delete(m.files, f.name)
		m.gone[f.name] = true
	}
	f.name = ""
}

// linePrefix: s is a prefix of v that ends on a line boundary.
func linePrefix(s, v []byte) bool {
	return bytes.HasPrefix(v, s) && (len(s) == 0 || s[len(s)-1] == '\n')
}

// checkS3 validates S3's bytes for f (present=false: no object) and
// records them. It returns what is wrong, or "".
func (f *mfile) checkS3(s []byte, present bool) string {
	if f.lm != nil {
		if !present {
			return "a log another host appends to vanished from S3"
		}
		return f.lm.checkS3(s)
	}
	if !present {
		if f.mustExist {
			return "the object vanished from S3 (it held the file before)"
		}
		return ""
	}
	if f.replacedWith(s) {
		// Still the object the file replaced (its own bytes may be equal
		// to it, an empty file over an empty object): no sign that S3 has
		// the file, which may go on being unpublished.
		return ""
	}
	// A whole version, else (logs) a line prefix of one.
	for pass := 0; pass < 2; pass++ {
		for i, v := range f.hist {
			full := bytes.Equal(s, v)
			if pass == 0 && !full || pass == 1 && !(f.log && linePrefix(s, v)) {
				continue
			}
			if !full && f.prevS3 != nil && bytes.HasPrefix(v, f.prevS3) && len(s) < len(f.prevS3) {
				return fmt.Sprintf("S3 went back from %d to %d bytes of the log", len(f.prevS3), len(s))
			}
			f.hist = f.hist[i:]
			f.prevS3 = s
			f.mustExist = true
			f.replaced = nil
			return ""
		}
	}
	for _, v := range f.replaced {
		if bytes.Equal(s, v) {
			return ""
		}
	}
	return fmt.Sprintf("S3 holds %d bytes the file never had (not a version since the last acknowledged publication%s): %s",
		len(s), map[bool]string{true: ", nor a line prefix of one", false: ""}[f.log], describeDiff(s, f.hist))
}

// checkS3 (line mode): base, then all of theirs merged with a growing
// prefix of ours, whole lines only.
func (lm *lineMode) checkS3(s []byte) string {
	our, their, msg := lm.merge(s)
	if msg != "" {
		return "S3: " + msg
	}
	if their != len(lm.theirs) {
		return fmt.Sprintf("S3 lost the other host's lines: it holds %d of %d", their, len(lm.theirs))
	}
	if our < lm.seenOur {
		return fmt.Sprintf("S3 went back from %d to %d of our lines", lm.seenOur, our)
	}
	if our < lm.mustOur {
		return fmt.Sprintf("S3 holds %d of our lines, fsync acknowledged %d", our, lm.mustOur)
	}
	lm.seenOur = our
	return ""
}

// checkLocal (line mode): reads here give all of ours, a prefix of theirs;
// rest is what follows the base.
func (lm *lineMode) checkLocal(rest []byte) string {
	our, _, msg := lm.mergeRest(rest)
	if msg != "" {
		return "read: " + msg
	}
	if our != len(lm.ours) {
		return fmt.Sprintf("read gives %d of our %d lines", our, len(lm.ours))
	}
	return ""
}

// done: S3 holds everything, no more merging to watch.
func (lm *lineMode) done(s []byte) bool {
	our, their, msg := lm.merge(s)
	return msg == "" && our == len(lm.ours) && their == len(lm.theirs)
}

// merge parses s as base + an interleaving of a prefix of ours and a
// prefix of theirs, each in order and once.
func (lm *lineMode) merge(s []byte) (our, their int, msg string) {
	if !bytes.HasPrefix(s, lm.base) {
		return 0, 0, fmt.Sprintf("the %d bytes from before the other host's appends changed", len(lm.base))
	}
	return lm.mergeRest(s[len(lm.base):])
}

func (lm *lineMode) mergeRest(rest []byte) (our, their int, msg string) {
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return our, their, fmt.Sprintf("torn line at the end: %q", clip(rest))
		}
		l := rest[:i+1]
		rest = rest[i+1:]
		switch {
		case our < len(lm.ours) && bytes.Equal(l, lm.ours[our]):
			our++
		case their < len(lm.theirs) && bytes.Equal(l, lm.theirs[their]):
			their++
		default:
			return our, their, fmt.Sprintf("line %q is out of order, twice, torn or unknown (after %d of ours, %d of theirs)", clip(l), our, their)
		}
	}
	return our, their, ""
}

// splitLines cuts whole lines.
func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, b)
			break
		}
		out = append(out, b[:i+1])
		b = b[i+1:]
	}
	return out
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:40]) + "..." + string(b[len(b)-40:])
	}
	return string(b)
}

// describeDiff says how s differs from the closest allowed version.
func describeDiff(s []byte, hist [][]byte) string {
	if len(hist) == 0 {
		return "no version allowed"
	}
	best, bestAt := 0, -1
	for i, v := range hist {
		n := commonPrefix(s, v)
		if n >= bestAt {
			best, bestAt = i, n
		}
	}
	v := hist[best]
	at := bestAt
	return fmt.Sprintf("closest allowed version has %d bytes; they differ at byte %d: S3 %q, version %q",
		len(v), at, clip(s[at:min(len(s), at+60)]), clip(v[at:min(len(v), at+60)]))
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// names is the model's names, sorted.
func (m *model) names() []string {
	var out []string
	for n := range m.files {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// slots is the open handle slots, sorted.
func (m *model) slots() []int {
	var out []int
	for s := range m.h {
		out = append(out, s)
	}
	sort.Ints(out)
	return out
}
