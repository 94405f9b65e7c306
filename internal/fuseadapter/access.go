package fuseadapter

import (
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// allowRootFS is --allow-root: only root and the user who mounted may use
// the mount. The kernel knows only allow_other (every local user may send
// requests), so the check is made here, in front of go-fuse's node layer:
// one place sees every request, whatever its opcode.
//
// Every request that reaches a file by inode or name (lookup, getattr,
// open, opendir, create, statfs, xattrs, ...) is refused with EACCES to
// anyone else. A request on a handle that is already open (read, write,
// flush, fsync, release, readdir, ...) is answered whoever sends it, as
// libfuse's and Mountpoint's allow_root do: only an admitted user can open
// a handle, and a descriptor it hands on (a shell redirect, a server that
// drops privileges after opening its log) keeps working, as on any Unix
// file. FORGET carries no caller; INIT, INTERRUPT and DESTROY are answered
// by go-fuse before they get here.
//
// It implements fuse.RawFileSystem without embedding it: an opcode added
// to go-fuse does not compile until it is placed on one side or the other.
type allowRootFS struct {
	inner   fuse.RawFileSystem
	owner   uint32 // the mounting user (the daemon's euid)
	refused *refusalLog
}

var _ fuse.RawFileSystem = (*allowRootFS)(nil)

func newAllowRootFS(inner fuse.RawFileSystem, owner uint32, log *slog.Logger) *allowRootFS {
	return &allowRootFS{inner: inner, owner: owner, refused: newRefusalLog(log, time.Minute)}
}

// admit reports whether the request's caller may use the mount, and logs
// (rate-limited) when not.
func (a *allowRootFS) admit(h *fuse.InHeader, op string) bool {
	if h.Uid == 0 || h.Uid == a.owner {
		return true
	}
	a.refused.note(h.Uid, h.Pid, op, a.owner)
	return false
}

// Refused to anyone else: requests that reach a file by inode or name.

func (a *allowRootFS) Lookup(c <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	if !a.admit(h, "lookup") {
		return fuse.EACCES
	}
	return a.inner.Lookup(c, h, name, out)
}

func (a *allowRootFS) GetAttr(c <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	if !a.admit(&in.InHeader, "getattr") {
		return fuse.EACCES
	}
	return a.inner.GetAttr(c, in, out)
}

func (a *allowRootFS) Statx(c <-chan struct{}, in *fuse.StatxIn, out *fuse.StatxOut) fuse.Status {
	if !a.admit(&in.InHeader, "statx") {
		return fuse.EACCES
	}
	return a.inner.Statx(c, in, out)
}

func (a *allowRootFS) SetAttr(c <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	if !a.admit(&in.InHeader, "setattr") {
		return fuse.EACCES
	}
	return a.inner.SetAttr(c, in, out)
}

func (a *allowRootFS) Mknod(c <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	if !a.admit(&in.InHeader, "mknod") {
		return fuse.EACCES
	}
	return a.inner.Mknod(c, in, name, out)
}

func (a *allowRootFS) Mkdir(c <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	if !a.admit(&in.InHeader, "mkdir") {
		return fuse.EACCES
	}
	return a.inner.Mkdir(c, in, name, out)
}

func (a *allowRootFS) Unlink(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	if !a.admit(h, "unlink") {
		return fuse.EACCES
	}
	return a.inner.Unlink(c, h, name)
}

func (a *allowRootFS) Rmdir(c <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	if !a.admit(h, "rmdir") {
		return fuse.EACCES
	}
	return a.inner.Rmdir(c, h, name)
}

func (a *allowRootFS) Rename(c <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	if !a.admit(&in.InHeader, "rename") {
		return fuse.EACCES
	}
	return a.inner.Rename(c, in, oldName, newName)
}

func (a *allowRootFS) Link(c <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	if !a.admit(&in.InHeader, "link") {
		return fuse.EACCES
	}
	return a.inner.Link(c, in, name, out)
}

func (a *allowRootFS) Symlink(c <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	if !a.admit(h, "symlink") {
		return fuse.EACCES
	}
	return a.inner.Symlink(c, h, target, name, out)
}

func (a *allowRootFS) Readlink(c <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	if !a.admit(h, "readlink") {
		return nil, fuse.EACCES
	}
	return a.inner.Readlink(c, h)
}

func (a *allowRootFS) Access(c <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	if !a.admit(&in.InHeader, "access") {
		return fuse.EACCES
	}
	return a.inner.Access(c, in)
}

func (a *allowRootFS) GetXAttr(c <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	if !a.admit(h, "getxattr") {
		return 0, fuse.EACCES
	}
	return a.inner.GetXAttr(c, h, attr, dest)
}

func (a *allowRootFS) ListXAttr(c <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	if !a.admit(h, "listxattr") {
		return 0, fuse.EACCES
	}
	return a.inner.ListXAttr(c, h, dest)
}

func (a *allowRootFS) SetXAttr(c <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	if !a.admit(&in.InHeader, "setxattr") {
		return fuse.EACCES
	}
	return a.inner.SetXAttr(c, in, attr, data)
}

func (a *allowRootFS) RemoveXAttr(c <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	if !a.admit(h, "removexattr") {
		return fuse.EACCES
	}
	return a.inner.RemoveXAttr(c, h, attr)
}

func (a *allowRootFS) Create(c <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	if !a.admit(&in.InHeader, "create") {
		return fuse.EACCES
	}
	return a.inner.Create(c, in, name, out)
}

func (a *allowRootFS) Tmpfile(c <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	if !a.admit(&in.InHeader, "tmpfile") {
		return fuse.EACCES
	}
	return a.inner.Tmpfile(c, in, out)
}

func (a *allowRootFS) Open(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if !a.admit(&in.InHeader, "open") {
		return fuse.EACCES
	}
	return a.inner.Open(c, in, out)
}

func (a *allowRootFS) OpenDir(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if !a.admit(&in.InHeader, "opendir") {
		return fuse.EACCES
	}
	return a.inner.OpenDir(c, in, out)
}

func (a *allowRootFS) StatFs(c <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	if !a.admit(h, "statfs") {
		return fuse.EACCES
	}
	return a.inner.StatFs(c, h, out)
}

// Answered whoever sends them: requests on an open handle, which only an
// admitted user could have opened.

func (a *allowRootFS) Read(c <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	return a.inner.Read(c, in, buf)
}

func (a *allowRootFS) Write(c <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	return a.inner.Write(c, in, data)
}

func (a *allowRootFS) Writev(c <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	return a.inner.Writev(c, in, data)
}

func (a *allowRootFS) Lseek(c <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	return a.inner.Lseek(c, in, out)
}

func (a *allowRootFS) CopyFileRange(c <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	return a.inner.CopyFileRange(c, in)
}

func (a *allowRootFS) Ioctl(c <-chan struct{}, in *fuse.IoctlIn, inbuf []byte, out *fuse.IoctlOut, outbuf []byte) fuse.Status {
	return a.inner.Ioctl(c, in, inbuf, out, outbuf)
}

func (a *allowRootFS) GetLk(c <-chan struct{}, in *fuse.LkIn, out *fuse.LkOut) fuse.Status {
	return a.inner.GetLk(c, in, out)
}

func (a *allowRootFS) SetLk(c <-chan struct{}, in *fuse.LkIn) fuse.Status {
	return a.inner.SetLk(c, in)
}

func (a *allowRootFS) SetLkw(c <-chan struct{}, in *fuse.LkIn) fuse.Status {
	return a.inner.SetLkw(c, in)
}

// Flush is close(2): refusing it would fail the close of a descriptor an
// admitted user handed on and skip the publication made at close.
func (a *allowRootFS) Flush(c <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	return a.inner.Flush(c, in)
}

func (a *allowRootFS) Fsync(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	return a.inner.Fsync(c, in)
}

func (a *allowRootFS) Fallocate(c <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	return a.inner.Fallocate(c, in)
}

func (a *allowRootFS) Release(c <-chan struct{}, in *fuse.ReleaseIn) { a.inner.Release(c, in) }

func (a *allowRootFS) ReadDir(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return a.inner.ReadDir(c, in, out)
}

func (a *allowRootFS) ReadDirPlus(c <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return a.inner.ReadDirPlus(c, in, out)
}

func (a *allowRootFS) FsyncDir(c <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	return a.inner.FsyncDir(c, in)
}

func (a *allowRootFS) ReleaseDir(in *fuse.ReleaseIn) { a.inner.ReleaseDir(in) }

// Not requests from a user.

func (a *allowRootFS) Forget(nodeid, nlookup uint64) { a.inner.Forget(nodeid, nlookup) }
func (a *allowRootFS) Init(s *fuse.Server)           { a.inner.Init(s) }
func (a *allowRootFS) OnUnmount()                    { a.inner.OnUnmount() }
func (a *allowRootFS) String() string                { return a.inner.String() }
func (a *allowRootFS) SetDebug(debug bool)           { a.inner.SetDebug(debug) }

// refusalLog writes one line per refused user per interval: a user who
// runs `find` on the mount must not flood the log, but the owner should
// still learn who is being turned away, and how often.
type refusalLog struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	byUID map[uint32]*refusals
}

type refusals struct {
	logged time.Time // when the last line for this uid was written
	since  int       // refusals not yet reported
}

func newRefusalLog(log *slog.Logger, every time.Duration) *refusalLog {
	return &refusalLog{log: log, every: every, now: time.Now, byUID: map[uint32]*refusals{}}
}

// maxTracked bounds the map: past it, entries quiet for an interval go.
const maxTracked = 1024

func (l *refusalLog) note(uid, pid uint32, op string, owner uint32) {
	now := l.now()
	l.mu.Lock()
	r := l.byUID[uid]
	if r == nil {
		if len(l.byUID) >= maxTracked {
			l.pruneLocked(now)
		}
		if len(l.byUID) >= maxTracked {
			clear(l.byUID) // all recent: forget them rather than grow
		}
		r = &refusals{}
		l.byUID[uid] = r
	}
	r.since++
	due := r.logged.IsZero() || now.Sub(r.logged) >= l.every
	count := r.since
	if due {
		r.logged, r.since = now, 0
	}
	l.mu.Unlock()
	if !due {
		return
	}
	l.log.Warn("refused a request from another user: --allow-root admits only root and the mounting user",
		"uid", uid, "op", op, "pid", pid, "process", processName(pid),
		"mounting_uid", owner, "refused_since_last_line", count, "errno", "EACCES")
}

func (l *refusalLog) pruneLocked(now time.Time) {
	for uid, r := range l.byUID {
		if now.Sub(r.logged) >= l.every {
			delete(l.byUID, uid)
		}
	}
}

// processName is the caller's command name, for the log line; "" if it is
// gone or unreadable.
func processName(pid uint32) string {
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
