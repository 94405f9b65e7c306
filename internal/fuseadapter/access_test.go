package fuseadapter

import (
	"bytes"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Every method of fuse.RawFileSystem, on one side or the other. A go-fuse
// upgrade that adds a method fails TestAllowRootSortsEveryOpcode until the
// method is placed here (and in access.go).
var (
	// reach a file by inode or name: refused to anyone but root and owner
	refusedOps = map[string]string{
		"Lookup": "lookup", "GetAttr": "getattr", "Statx": "statx", "SetAttr": "setattr",
		"Mknod": "mknod", "Mkdir": "mkdir", "Unlink": "unlink", "Rmdir": "rmdir",
		"Rename": "rename", "Link": "link", "Symlink": "symlink", "Readlink": "readlink",
		"Access": "access", "GetXAttr": "getxattr", "ListXAttr": "listxattr",
		"SetXAttr": "setxattr", "RemoveXAttr": "removexattr", "Create": "create",
		"Tmpfile": "tmpfile", "Open": "open", "OpenDir": "opendir", "StatFs": "statfs",
	}
	// on an open handle, or not from a user: passed on for anyone
	passedOps = []string{
		"Read", "Write", "Writev", "Lseek", "CopyFileRange", "Ioctl", "GetLk", "SetLk",
		"SetLkw", "Flush", "Fsync", "Fallocate", "Release", "ReadDir", "ReadDirPlus",
		"FsyncDir", "ReleaseDir", "Forget", "Init", "OnUnmount", "String", "SetDebug",
	}
)

// unreachable is the inner file system: any call that gets through to it
// panics (nil interface), which call reports as "reached".
type unreachable struct{ fuse.RawFileSystem }

const (
	testOwner    = 1000
	testStranger = 1234
)

func newTestGuard(t *testing.T) (*allowRootFS, *bytes.Buffer, *time.Time) {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	g := newAllowRootFS(unreachable{}, testOwner, log)
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	g.refused.now = func() time.Time { return now }
	return g, &buf, &now
}

// call invokes method name on g as uid with made-up arguments. reached:
// the call got through to the inner file system; status: the Status it
// returned otherwise (OK for methods without one).
func call(t *testing.T, g *allowRootFS, name string, uid uint32) (reached bool, status fuse.Status) {
	t.Helper()
	m := reflect.ValueOf(g).MethodByName(name)
	if !m.IsValid() {
		t.Fatalf("allowRootFS has no method %s", name)
	}
	args := make([]reflect.Value, m.Type().NumIn())
	for i := range args {
		args[i] = fakeArg(m.Type().In(i), uid)
	}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(runtime.Error); !ok {
				panic(r)
			}
			reached = true
		}
	}()
	status = fuse.OK
	for _, out := range m.Call(args) {
		if s, ok := out.Interface().(fuse.Status); ok {
			status = s
		}
	}
	return false, status
}

var inHeaderType = reflect.TypeOf(fuse.InHeader{})

// fakeArg is a value of type t; a request header in it names uid as the
// caller.
func fakeArg(t reflect.Type, uid uint32) reflect.Value {
	switch t.Kind() {
	case reflect.Pointer:
		v := reflect.New(t.Elem())
		var h reflect.Value
		if t.Elem() == inHeaderType {
			h = v.Elem()
		} else if t.Elem().Kind() == reflect.Struct {
			h = v.Elem().FieldByName("InHeader")
		}
		if h.IsValid() {
			hdr := h.Addr().Interface().(*fuse.InHeader)
			hdr.Uid, hdr.Gid, hdr.Pid = uid, uid, 1
		}
		return v
	case reflect.String:
		return reflect.ValueOf("name").Convert(t)
	case reflect.Slice:
		return reflect.MakeSlice(t, 1, 1)
	default:
		return reflect.Zero(t)
	}
}

func TestAllowRootSortsEveryOpcode(t *testing.T) {
	passed := map[string]bool{}
	for _, n := range passedOps {
		passed[n] = true
	}
	rt := reflect.TypeOf((*fuse.RawFileSystem)(nil)).Elem()
	for i := 0; i < rt.NumMethod(); i++ {
		n := rt.Method(i).Name
		_, refused := refusedOps[n]
		if refused == passed[n] {
			t.Errorf("fuse.RawFileSystem.%s: in refusedOps %v, in passedOps %v: place it on exactly one side", n, refused, passed[n])
		}
	}
	if n := len(refusedOps) + len(passedOps); n != rt.NumMethod() {
		t.Errorf("%d methods listed, fuse.RawFileSystem has %d", n, rt.NumMethod())
	}
}

func TestAllowRootRefusesStrangers(t *testing.T) {
	g, logs, _ := newTestGuard(t)
	for name := range refusedOps {
		reached, st := call(t, g, name, testStranger)
		if reached || st != fuse.EACCES {
			t.Errorf("%s from uid %d: reached the file system %v, status %v; want refused with EACCES", name, testStranger, reached, st)
		}
	}
	for _, name := range passedOps {
		if reached, _ := call(t, g, name, testStranger); !reached {
			t.Errorf("%s from uid %d (a request on an open handle, or none's): not passed on", name, testStranger)
		}
	}
	// Many refusals in the same minute: one line.
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d log lines for %d refusals within a minute, want 1:\n%s", len(lines), len(refusedOps), logs)
	}
	for _, want := range []string{"level=WARN", "uid=1234", "op=", "mounting_uid=1000", "errno=EACCES", "--allow-root"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line lacks %q: %s", want, lines[0])
		}
	}
}

func TestAllowRootAdmitsRootAndOwner(t *testing.T) {
	g, logs, _ := newTestGuard(t)
	for _, uid := range []uint32{0, testOwner} {
		for name := range refusedOps {
			if reached, st := call(t, g, name, uid); !reached {
				t.Errorf("%s from uid %d: not passed on (status %v)", name, uid, st)
			}
		}
		for _, name := range passedOps {
			if reached, _ := call(t, g, name, uid); !reached {
				t.Errorf("%s from uid %d: not passed on", name, uid)
			}
		}
	}
	if logs.Len() != 0 {
		t.Errorf("admitted requests logged:\n%s", logs)
	}
}

// A root mount with --allow-root: the owner is root, so root alone is let in.
func TestAllowRootOwnedByRootAdmitsOnlyRoot(t *testing.T) {
	g, _, _ := newTestGuard(t)
	g.owner = 0
	if reached, _ := call(t, g, "Lookup", 0); !reached {
		t.Error("root refused on a mount root owns")
	}
	for _, uid := range []uint32{1, testOwner, 65534} {
		if reached, st := call(t, g, "Lookup", uid); reached || st != fuse.EACCES {
			t.Errorf("uid %d on root's --allow-root mount: reached %v, status %v; want EACCES", uid, reached, st)
		}
	}
}

func TestRefusalLogOneLinePerUIDPerMinute(t *testing.T) {
	g, logs, now := newTestGuard(t)
	lines := func() []string {
		s := strings.TrimSpace(logs.String())
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
	refuse := func(uid uint32) {
		if reached, st := call(t, g, "GetAttr", uid); reached || st != fuse.EACCES {
			t.Fatalf("getattr from uid %d: reached %v, status %v", uid, reached, st)
		}
	}
	refuse(2000)
	refuse(2000)
	refuse(2000)
	refuse(3000) // another uid gets its own line
	if l := lines(); len(l) != 2 || !strings.Contains(l[0], "uid=2000") || !strings.Contains(l[1], "uid=3000") {
		t.Fatalf("want one line for uid 2000 and one for 3000, got:\n%s", logs)
	}
	if !strings.Contains(lines()[0], "op=getattr") || !strings.Contains(lines()[0], "refused_since_last_line=1") {
		t.Errorf("first line: %s", lines()[0])
	}
	*now = now.Add(59 * time.Second)
	refuse(2000)
	if l := lines(); len(l) != 2 {
		t.Fatalf("a line within the minute:\n%s", logs)
	}
	*now = now.Add(time.Second)
	refuse(2000)
	l := lines()
	if len(l) != 3 || !strings.Contains(l[2], "uid=2000") {
		t.Fatalf("no new line for uid 2000 after a minute:\n%s", logs)
	}
	// 2 after the first line, 1 at 59 s, this one: all counted.
	if !strings.Contains(l[2], "refused_since_last_line=4") {
		t.Errorf("third line does not count the quiet refusals: %s", l[2])
	}
}

func TestRefusalLogBounded(t *testing.T) {
	g, _, now := newTestGuard(t)
	for uid := uint32(10000); uid < 10000+3*maxTracked; uid++ {
		g.refused.note(uid, 1, "lookup", testOwner)
		*now = now.Add(time.Millisecond)
	}
	if n := len(g.refused.byUID); n > maxTracked {
		t.Errorf("%d uids tracked, want at most %d", n, maxTracked)
	}
}
