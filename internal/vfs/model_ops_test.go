package vfs

// The operations of the model test: what an application, another host, the
// clock and fate can do to a mount. A sequence is generated from a seed up
// front and is replayable on its own, so that a failing one can be cut
// down: an operation that no longer makes sense (a handle slot that is not
// open) does nothing.

import (
	"fmt"
	"math/rand"
	"os"
	"strings"
	"syscall"
)

type opKind int

const (
	opOpen         opKind = iota // open(2) on a handle slot, with flags
	opClose                      // close(2): flush + release
	opWrite                      // write(2) / pwrite(2) through a slot
	opFsync                      // fsync(2) through a slot
	opTruncate                   // ftruncate(2) through a slot, or truncate(2) by name
	opRename                     // rename(2)
	opUnlink                     // unlink(2)
	opTick                       // the publication deadlines come
	opRemotePut                  // another host replaces (or creates) the object
	opRemoteAppend               // another host appends whole lines to the object
	opRemoteDelete               // another host deletes the object
	opRaceTick                   // a publication tick while another host appends between two of its store calls
	opCrash                      // SIGKILL, then a remount on the same spool
	opRestart                    // clean unmount (processes close their files), then a remount
	opMkdir                      // mkdir(2) (model_dirs_test.go)
	opRmdir                      // rmdir(2) (model_dirs_test.go)
	opChmod                      // chmod(2) / chown(2), or through a handle (model_attrs_test.go)
	opUtimes                     // utimes(2) / futimens(2) (model_mtime_test.go)
	opDirChmod                   // chmod(2) of a directory (model_dirattrs_test.go)
)

var opNames = map[opKind]string{
	opOpen: "open", opClose: "close", opWrite: "write", opFsync: "fsync", opTruncate: "truncate",
	opRename: "rename", opUnlink: "unlink", opTick: "tick", opRemotePut: "remote-put",
	opRemoteAppend: "remote-append", opRemoteDelete: "remote-delete", opRaceTick: "race-tick",
	opCrash: "crash+remount", opRestart: "unmount+remount", opMkdir: "mkdir", opRmdir: "rmdir", opChmod: "chmod", opUtimes: "utimes", opDirChmod: "dir-chmod",
}

// where a non-append write goes, relative to the file's size.
const (
	atEnd    = iota // extends the file
	atInside        // overwrites bytes
	atBeyond        // leaves a hole (reads as zeros)
)

// op is one step. ID is unique in its sequence (data and line tags derive
// from it, so they stay unique when steps are cut out).
type op struct {
	ID      int
	Kind    opKind
	Slot    int    // handle slot (open, close, write, fsync, truncate by handle)
	Name    string // file name (open, truncate by name, rename source, unlink, remote ops)
	To      string // rename target
	Flags   int    // open flags
	Where   int    // write: atEnd / atInside / atBeyond
	Frac    int    // write offset / truncate size, in 1/16 of the file's size
	Len     int    // write length (non-append), lines (append), size of a remote put
	Partial bool   // append: the write ends inside a line (a write split in two)
	ByName  bool   // truncate(2) by name instead of ftruncate(2)
	Big     bool   // remote put of an object past the compose threshold (5 MiB)
	Faults  int    // store faults during the step: 0 none, 1 fail, 2 lose answers, 3 both, 4/5 the first call (close, fsync, ticks, rename, unlink)
	Nth     int    // race-tick: the foreign append lands before the Nth call on the key
	// Refuse: the bucket refuses every DeleteObject during the step (a
	// policy; faulty sequences have windows of such steps: refuseWindow).
	Refuse bool
	// DiskFull: the spool's disk is full during the step (faulty
	// sequences have windows of such steps: diskFullWindows).
	DiskFull bool
}

var modelNames = []string{"a", "b", "c", "d"}

const modelSlots = 6

func flagString(fl int) string {
	var s []string
	switch fl & syscall.O_ACCMODE {
	case os.O_RDONLY:
		s = append(s, "O_RDONLY")
	case os.O_WRONLY:
		s = append(s, "O_WRONLY")
	default:
		s = append(s, "O_RDWR")
	}
	for _, f := range []struct {
		bit  int
		name string
	}{{os.O_CREATE, "O_CREAT"}, {os.O_EXCL, "O_EXCL"}, {os.O_TRUNC, "O_TRUNC"}, {os.O_APPEND, "O_APPEND"}} {
		if fl&f.bit != 0 {
			s = append(s, f.name)
		}
	}
	return strings.Join(s, "|")
}

// Store faults of a step: random ones (1-3, by the op's ID), or exactly
// the first call that writes (4, 5), or every call (6): for sequences
// written by hand.
const (
	faultFailFirst = 4
	faultLoseFirst = 5
	faultLoseAll   = 6 // every call of the step loses its answer
	// faultFailSecond: the second write call fails (a rename's delete of
	// the old key after its copy).
	faultFailSecond = 7
	// faultRefuseDeletes: every DeleteObject of the step is refused.
	faultRefuseDeletes = 8
)

var faultNames = []string{"", " [store faults: fail]", " [store faults: lose answers]", " [store faults: fail+lose]",
	" [store fault: the first write fails]", " [store fault: the first write's answer is lost]", " [store faults: every answer is lost]", " [store fault: the second write fails]", " [store fault: deletes refused]"}

func (o op) String() string {
	s := opNames[o.Kind]
	switch o.Kind {
	case opOpen:
		s = fmt.Sprintf("h%d = open(%q, %s)", o.Slot, o.Name, flagString(o.Flags))
	case opClose:
		s = fmt.Sprintf("close(h%d)", o.Slot)
	case opWrite:
		switch o.Where {
		case atEnd:
			s = fmt.Sprintf("write(h%d, %d lines or %d bytes at the end%s) #%d", o.Slot, o.Len%3+1, o.Len, map[bool]string{true: ", last line cut", false: ""}[o.Partial], o.ID)
		case atInside:
			s = fmt.Sprintf("pwrite(h%d, %d bytes at %d/16 of the size) #%d", o.Slot, o.Len, o.Frac, o.ID)
		default:
			s = fmt.Sprintf("pwrite(h%d, %d bytes past the end, hole of %d/16) #%d", o.Slot, o.Len, o.Frac, o.ID)
		}
	case opFsync:
		s = fmt.Sprintf("fsync(h%d)", o.Slot)
	case opTruncate:
		if o.ByName {
			s = fmt.Sprintf("truncate(%q, %d/16 of the size +%d)", o.Name, o.Frac, o.Len)
		} else {
			s = fmt.Sprintf("ftruncate(h%d, %d/16 of the size +%d)", o.Slot, o.Frac, o.Len)
		}
	case opRename:
		s = fmt.Sprintf("rename(%q, %q)", o.Name, o.To)
	case opUnlink:
		s = fmt.Sprintf("unlink(%q)", o.Name)
	case opRemotePut:
		size := fmt.Sprintf("%d lines", o.Len%4+1)
		if o.Big {
			size = "5 MiB + " + size
		}
		s = fmt.Sprintf("remote put %q (%s) #%d", o.Name, size, o.ID)
	case opRemoteAppend:
		s = fmt.Sprintf("remote append %q (%d lines) #%d", o.Name, o.Len%3+1, o.ID)
	case opRemoteDelete:
		s = fmt.Sprintf("remote delete %q", o.Name)
	case opRaceTick:
		s = fmt.Sprintf("tick, another host appends to %q before call %d on it #%d", o.Name, o.Nth, o.ID)
	case opMkdir, opRmdir:
		s = fmt.Sprintf("%s(%q)", opNames[o.Kind], o.Name)
	case opChmod:
		s = chmodString(o)
	case opUtimes:
		s = utimesString(o)
	case opDirChmod:
		s = dirChmodString(o)
	}
	if o.Kind == opRename && o.Nth > 0 {
		s += fmt.Sprintf(", another host puts a key under it before call %d #%d", o.Nth, o.ID)
	}
	if o.Refuse {
		s += " [deletes refused]"
	}
	if o.DiskFull {
		s += " [spool disk full]"
	}
	if o.Faults != 0 && (o.Kind == opClose || o.Kind == opFsync || o.Kind == opTick || o.Kind == opRaceTick || o.Kind == opRename || o.Kind == opUnlink || o.Kind == opMkdir || o.Kind == opRmdir || o.Kind == opChmod || o.Kind == opUtimes || o.Kind == opDirChmod) {
		s += fmt.Sprintf("%s #%d", faultNames[o.Faults], o.ID)
	}
	return s
}

// goOps prints a sequence as Go, to paste into a test that replays it
// with runOps.
func goOps(ops []op) string {
	var b strings.Builder
	b.WriteString("[]op{\n")
	for _, o := range ops {
		s := fmt.Sprintf("%#v", o)
		b.WriteString("\t" + strings.TrimPrefix(s, "vfs.") + ",\n")
	}
	b.WriteString("}")
	return b.String()
}

// formatOps prints a sequence, one numbered step a line.
func formatOps(ops []op) string {
	var b strings.Builder
	for i, o := range ops {
		fmt.Fprintf(&b, "  %3d  %s\n", i+1, o)
	}
	return b.String()
}

// genOps makes a sequence of n steps. It tracks which slots are open (and
// how) only roughly: steps that do not apply at run time do nothing.
func genOps(rng *rand.Rand, n int, faults bool) []op {
	return genOpsOver(rng, n, faults, modelNames)
}

// genOpsOver is genOps over these file names.
func genOpsOver(rng *rand.Rand, n int, faults bool, names []string) []op {
	open := map[int]int{} // slot -> flags
	var ops []op
	name := func() string { return names[rng.Intn(len(names))] }
	openSlot := func(wantWrite bool) (int, bool) {
		var s []int
		for slot, fl := range open {
			if !wantWrite || fl&syscall.O_ACCMODE != os.O_RDONLY {
				s = append(s, slot)
			}
		}
		if len(s) == 0 {
			return 0, false
		}
		// map order is random; sort for a deterministic choice
		for i := 1; i < len(s); i++ {
			for j := i; j > 0 && s[j] < s[j-1]; j-- {
				s[j], s[j-1] = s[j-1], s[j]
			}
		}
		return s[rng.Intn(len(s))], true
	}
	fault := func() int {
		if faults && rng.Intn(3) == 0 {
			return 1 + rng.Intn(3)
		}
		return 0
	}
	for len(ops) < n {
		o := op{ID: len(ops) + 1}
		r := rng.Intn(1000)
		switch {
		case r < 150:
			o.Kind = opOpen
			o.Slot = rng.Intn(modelSlots)
			if _, busy := open[o.Slot]; busy {
				continue
			}
			o.Name = name()
			switch a := rng.Intn(10); {
			case a < 2:
				o.Flags = os.O_RDONLY
			case a < 6:
				o.Flags = os.O_WRONLY
			default:
				o.Flags = os.O_RDWR
			}
			if rng.Intn(10) < 5 {
				o.Flags |= os.O_APPEND
			}
			if rng.Intn(10) < 6 {
				o.Flags |= os.O_CREATE
				if rng.Intn(10) == 0 {
					o.Flags |= os.O_EXCL
				}
			}
			if rng.Intn(12) == 0 {
				o.Flags |= os.O_TRUNC
			}
			open[o.Slot] = o.Flags
		case r < 470:
			slot, ok := openSlot(true)
			if !ok {
				continue
			}
			o.Kind, o.Slot = opWrite, slot
			o.Len = 1 + rng.Intn(120)
			if open[slot]&os.O_APPEND == 0 {
				o.Where = []int{atEnd, atEnd, atInside, atInside, atBeyond}[rng.Intn(5)]
				o.Frac = rng.Intn(17)
			}
			o.Partial = rng.Intn(8) == 0
		case r < 590:
			slot, ok := openSlot(false)
			if !ok {
				continue
			}
			o.Kind, o.Slot = opClose, slot
			o.Faults = fault()
			delete(open, slot)
		case r < 630:
			slot, ok := openSlot(false)
			if !ok {
				continue
			}
			o.Kind, o.Slot, o.Faults = opFsync, slot, fault()
		case r < 665:
			o.Kind = opTruncate
			o.Frac, o.Len = rng.Intn(17), rng.Intn(3)*rng.Intn(40)
			if slot, ok := openSlot(true); ok && rng.Intn(2) == 0 {
				o.Slot = slot
			} else {
				o.ByName, o.Name = true, name()
			}
		case r < 700:
			o.Kind, o.Name, o.To = opRename, name(), name()
			o.Faults = idFault(faults, o.ID)
		case r < 725:
			o.Kind, o.Name = opUnlink, name()
			o.Faults = idFault(faults, o.ID)
		case r < 830:
			o.Kind, o.Faults = opTick, fault()
		case r < 850:
			o.Kind, o.Name, o.Len = opRemotePut, name(), rng.Intn(8)
			o.Big = rng.Intn(40) == 0
		case r < 885:
			o.Kind, o.Name, o.Len = opRemoteAppend, name(), rng.Intn(8)
		case r < 895:
			o.Kind, o.Name = opRemoteDelete, name()
		case r < 935:
			o.Kind, o.Name, o.Nth, o.Faults = opRaceTick, name(), 1+rng.Intn(3), fault()
		case r < 985:
			o.Kind = opCrash
			open = map[int]int{}
		default:
			o.Kind = opRestart
			open = map[int]int{}
		}
		o.Refuse = refuseWindow(faults, o.ID)
		ops = append(ops, o)
	}
	return ops
}

// refuseWindow: in a faulty sequence, one stretch of 64 steps in four
// runs on a bucket that refuses deletes (a policy, for minutes): renames
// leave their old keys, a file renamed again hands them on, unlinks of
// published files fail, until the window ends. By the ID, not the
// generator, so that the sequences of a seed stay as they were.
func refuseWindow(faults bool, id int) bool {
	h := uint32(id/64)*2246822519 ^ 0x27d4eb2f
	h ^= h >> 13
	return faults && h%4 == 0
}

// idFault is the store fault of a rename or unlink (they call S3 in the
// step): in one in three of a faulty sequence's, its first write call
// (CopyObject, RenameObject, DeleteObject) fails or loses its answer.
// Chosen by the ID, not the generator, so that the sequences of a seed
// stay as they were before renames had faults. (Random faults on every
// call can leave an old key until the next publication, which the model
// does not follow yet: faultFailSecond scenarios check that case.)
func idFault(faults bool, id int) int {
	h := uint32(id)*2654435761 ^ 0x5bd1e995
	h ^= h >> 15
	if !faults || h%3 != 0 {
		return 0
	}
	return []int{faultFailFirst, faultLoseFirst, faultRefuseDeletes}[(h/3)%3]
}

// filler is deterministic bytes for write id: lower-case text, with a
// newline now and then when nl (pwrite data is not line-structured).
func filler(id, n int, nl bool) []byte {
	b := make([]byte, n)
	x := uint32(id)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		if nl && x%37 == 0 {
			b[i] = '\n'
		} else {
			b[i] = 'a' + byte(x%26)
		}
	}
	return b
}

// line is one tagged log line: who wrote it (L: here, R: another host)
// and a unique tag, so that a line found twice or torn is recognisable.
func line(who byte, id, k int) []byte {
	b := fmt.Appendf(nil, "%c%d.%d ", who, id, k)
	b = append(b, filler(id*31+k, 8+(id*7+k*13)%50, false)...)
	return append(b, '\n')
}

// lines is n tagged lines.
func lines(who byte, id, n int) []byte {
	var b []byte
	for k := 0; k < n; k++ {
		b = append(b, line(who, id, k)...)
	}
	return b
}
