// Package fuseadapter maps go-fuse requests onto internal/vfs. It stays
// thin: no policy lives here, only translation of arguments, attributes and
// errnos.
//
// Mount options, chosen deliberately:
//   - Writeback cache OFF: with it the kernel decides O_APPEND offsets and
//     write sizes itself, batches writes for seconds and owns the file size;
//     s3mount needs every write() to reach the spool (durability, buffer
//     modes, read-while-write) and to place O_APPEND writes at the end.
//   - MaxWrite 1 MiB: fewer, larger requests for dd/cp; appends are small
//     anyway. The kernel holds the inode lock across a write's requests, so
//     a large O_APPEND write stays contiguous.
//   - MaxBackground 64: enough parallel async reads for read-ahead.
//   - ATOMIC_O_TRUNC: open(O_TRUNC) arrives as one open, so overwrite
//     policy is decided in one place.
//   - DirectMount: no fusermount needed when running as root.
//   - Splice off: read replies are memory buffers; go-fuse would set up a
//     pipe for each one and then fall back to writev anyway.
package fuseadapter

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/s3mount/s3mount/internal/vfs"
)

// Options for Mount.
type Options struct {
	AllowOther  bool
	AllowRoot   bool
	ReadOnly    bool
	EntryTTL    time.Duration
	NegativeTTL time.Duration
	FsName      string
	Debug       bool
	Logger      *slog.Logger
	// OnOp, if set, observes every FUSE operation (metrics).
	OnOp func(op string, d time.Duration, errno syscall.Errno)
	// Passthrough: files whose bytes are all in the spool may be read by
	// the kernel from the spool's data file directly (passthrough.go),
	// where the kernel and privileges allow it.
	Passthrough bool
}

// Mount mounts v at dir and returns the running server.
func Mount(dir string, v *vfs.FS, o Options) (*fuse.Server, error) {
	a := &adapter{v: v, log: o.Logger, onOp: o.OnOp, slots: &slotTable{}, kill: &sync.Map{}}
	if a.log == nil {
		a.log = slog.Default()
	}
	entry, neg := o.EntryTTL, o.NegativeTTL
	opts := &fs.Options{
		MountOptions: fuse.MountOptions{
			AllowOther:        o.AllowOther || o.AllowRoot,
			FsName:            o.FsName,
			Name:              "s3mount",
			DirectMount:       true,
			MaxWrite:          1 << 20,
			MaxReadAhead:      1 << 20,
			MaxBackground:     64,
			ExtraCapabilities: fuse.CAP_ATOMIC_O_TRUNC,
			// Our reads return memory, not file descriptors: go-fuse's
			// splice path would only add pipe syscalls before falling back
			// to writev.
			DisableSplice: true,
			Debug:         o.Debug,
			DisableXAttrs: false,
		},
		EntryTimeout:    &entry,
		AttrTimeout:     &entry,
		NegativeTimeout: &neg,
		UID:             v.Options().UID,
		GID:             v.Options().GID,
	}
	if o.ReadOnly {
		opts.MountOptions.Options = append(opts.MountOptions.Options, "ro")
	}
	if o.AllowOther || o.AllowRoot {
		// Other users reach the mount: let the kernel enforce the modes
		// and owners stat shows (--file-mode, --dir-mode, chmod, chown).
		opts.MountOptions.Options = append(opts.MountOptions.Options, "default_permissions")
	}
	root := &node{a: a, v: v.Root()}
	var raw fuse.RawFileSystem = &passthroughFS{RawFileSystem: fs.NewNodeFS(root, opts), slots: a.slots, kill: a.kill}
	if o.AllowRoot {
		// The kernel's allow_other lets everyone in: turn away all but
		// root and the mounting user here (access.go).
		raw = newAllowRootFS(raw, uint32(os.Geteuid()), a.log)
	}
	// What fs.Mount does, with raw in between.
	srv, err := fuse.NewServer(raw, dir, &opts.MountOptions)
	if err != nil {
		return nil, err
	}
	a.srv = srv
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		return nil, err
	}
	a.probeLocalReads(o.Passthrough)
	return srv, nil
}

type adapter struct {
	v     *vfs.FS
	log   *slog.Logger
	onOp  func(op string, d time.Duration, errno syscall.Errno)
	srv   backingServer // set before the first request
	slots *slotTable    // backing ids on their way into open replies
	kill  *sync.Map     // writes asked to clear setuid/setgid (passthrough.go)
}

// done reports an operation's result to metrics and returns its errno.
func (a *adapter) done(op string, start time.Time, err error) syscall.Errno {
	e := vfs.Errno(err)
	if e == syscall.EIO || e == syscall.ESTALE {
		// One line per failure a user meets, with its cause.
		a.log.Warn("file operation failed", "op", op, "errno", e.Error(), "err", err)
	}
	if a.onOp != nil {
		a.onOp(op, time.Since(start), e)
	}
	return e
}

// node is one vfs node in go-fuse's tree.
type node struct {
	fs.Inode
	a *adapter
	v *vfs.Node
	// pt: the spool file the kernel reads directly (passthrough.go), made
	// by the first local open: most nodes (a large directory's listed
	// entries) never have one.
	pt atomic.Pointer[backing]
}

var (
	_ fs.NodeLookuper    = (*node)(nil)
	_ fs.NodeGetattrer   = (*node)(nil)
	_ fs.NodeSetattrer   = (*node)(nil)
	_ fs.NodeReaddirer   = (*node)(nil)
	_ fs.NodeOpener      = (*node)(nil)
	_ fs.NodeCreater     = (*node)(nil)
	_ fs.NodeMkdirer     = (*node)(nil)
	_ fs.NodeRmdirer     = (*node)(nil)
	_ fs.NodeUnlinker    = (*node)(nil)
	_ fs.NodeRenamer     = (*node)(nil)
	_ fs.NodeStatfser    = (*node)(nil)
	_ fs.NodeSymlinker   = (*node)(nil)
	_ fs.NodeLinker      = (*node)(nil)
	_ fs.NodeMknoder     = (*node)(nil)
	_ fs.NodeReadlinker  = (*node)(nil)
	_ fs.NodeOnForgetter = (*node)(nil)
	_ fs.NodeGetxattrer  = (*node)(nil)
	_ fs.NodeSetxattrer  = (*node)(nil)
	_ fs.NodeListxattrer = (*node)(nil)
)

func (n *node) child(ctx context.Context, v *vfs.Node, out *fuse.EntryOut) *fs.Inode {
	v = n.a.v.Received(v)
	fillAttr(v.Attr(), &out.Attr)
	return n.NewInode(ctx, &node{a: n.a, v: v}, fs.StableAttr{Mode: v.Type(), Ino: v.Ino()})
}

func fillAttr(a vfs.Attr, out *fuse.Attr) {
	out.Ino = a.Ino
	out.Size = uint64(a.Size)
	out.Blocks = (uint64(a.Size) + 511) / 512
	out.Blksize = 4096
	out.Nlink = a.Nlink
	out.Owner = fuse.Owner{Uid: a.UID, Gid: a.GID}
	out.Mode = vfs.StatMode(a.Mode)
	out.Rdev = a.Rdev
	out.SetTimes(&a.Atime, &a.Mtime, &a.Ctime)
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	v, err := n.a.v.Lookup(rq, n.v, name)
	if err != nil {
		return nil, n.a.done("lookup", start, err)
	}
	n.a.done("lookup", start, nil)
	return n.child(ctx, v, out), 0
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fillAttr(n.v.Attr(), &out.Attr)
	return 0
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	var a vfs.SetAttr
	if sz, ok := in.GetSize(); ok {
		s := int64(sz)
		a.Size = &s
	}
	if m, ok := in.GetMode(); ok {
		mode := vfs.ModeFromStat(m)
		a.Mode = &mode
	}
	if u, ok := in.GetUID(); ok {
		a.UID = &u
	}
	if g, ok := in.GetGID(); ok {
		a.GID = &g
	}
	if t, ok := in.GetATime(); ok {
		a.Atime = &t
	}
	if t, ok := in.GetMTime(); ok {
		a.Mtime = &t
	}
	var h *vfs.Handle
	if fh, ok := f.(*handle); ok {
		h = fh.h
	}
	if err := n.a.v.Setattr(rq, n.v, h, a); err != nil {
		return n.a.done("setattr", start, err)
	}
	fillAttr(n.v.Attr(), &out.Attr)
	return n.a.done("setattr", start, nil)
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	var entries []fuse.DirEntry
	var listed []vfs.DirEntry
	err := n.a.v.ReadDir(rq, n.v, func(e vfs.DirEntry) bool {
		entries = append(entries, fuse.DirEntry{Name: e.Name, Mode: e.Node.DirentType(), Ino: e.Node.Ino()})
		listed = append(listed, e)
		return true
	})
	n.a.v.Unreceived(listed) // a plain READDIR hands the kernel names, not nodes
	if err != nil {
		return nil, n.a.done("readdir", start, err)
	}
	n.a.done("readdir", start, nil)
	return fs.NewListDirStream(entries), 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	h, err := n.a.v.Open(rq, n.v, int(flags))
	if err != nil {
		return nil, 0, n.a.done("open", start, err)
	}
	out, pt := n.ioFlags(h, openFlags(int(flags)))
	return &handle{a: n.a, h: h, pt: pt}, out, n.a.done("open", start, nil)
}

// openFlags: O_DIRECT opens bypass the page cache, as the caller asked.
func openFlags(flags int) uint32 {
	if flags&syscall.O_DIRECT != 0 {
		return fuse.FOPEN_DIRECT_IO
	}
	return 0
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	v, h, err := n.a.v.Create(rq, n.v, name, int(flags), vfs.ModeFromStat(mode))
	if err != nil {
		return nil, nil, 0, n.a.done("create", start, err)
	}
	ch := n.child(ctx, v, out)
	// The child's node, not a new one: its backing is the kernel inode's.
	cn, _ := ch.Operations().(*node)
	if cn == nil {
		cn = &node{a: n.a, v: v}
	}
	fl, pt := cn.ioFlags(h, openFlags(int(flags)))
	return ch, &handle{a: n.a, h: h, pt: pt}, fl, n.a.done("create", start, nil)
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	v, err := n.a.v.Mkdir(rq, n.v, name, vfs.ModeFromStat(mode))
	if err != nil {
		return nil, n.a.done("mkdir", start, err)
	}
	return n.child(ctx, v, out), n.a.done("mkdir", start, nil)
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	return n.a.done("rmdir", start, n.a.v.Rmdir(rq, n.v, name))
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	return n.a.done("unlink", start, n.a.v.Unlink(rq, n.v, name))
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	return n.a.done("rename", start, n.a.v.Rename(rq, n.v, name, np.v, newName, flags))
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	s := n.a.v.Statfs()
	out.Blocks, out.Bfree, out.Bavail = s.Blocks, s.Bfree, s.Bavail
	out.Files, out.Ffree = s.Files, s.Ffree
	out.Bsize, out.Frsize, out.NameLen = s.Bsize, s.Bsize, s.NameLen
	return 0
}

// Symlinks and special files are objects in s3fs's form (vfs/symlink.go).
func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	v, err := n.a.v.Symlink(rq, n.v, name, target)
	if err != nil {
		return nil, n.a.done("symlink", start, err)
	}
	return n.child(ctx, v, out), n.a.done("symlink", start, nil)
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	t, err := n.a.v.Readlink(rq, n.v)
	if err != nil {
		return nil, n.a.done("readlink", start, err)
	}
	return []byte(t), n.a.done("readlink", start, nil)
}

// Objects cannot be hard links.

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.a.log.Warn("hard links are not supported on s3mount", "name", name, "errno", "EPERM")
	return nil, syscall.EPERM
}

func (n *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	v, err := n.a.v.Mknod(rq, n.v, name, mode, dev)
	if err != nil {
		return nil, n.a.done("mknod", start, err)
	}
	return n.child(ctx, v, out), n.a.done("mknod", start, nil)
}

func (n *node) OnForget() { n.a.v.Forget(n.v) }

// Extended attributes are not stored. ENOSYS, not ENOTSUP: the kernel
// then shows EOPNOTSUPP to callers all the same, and stops asking. Before
// every write() it asks for security.capability (file_remove_privs); an
// answer other than ENOSYS costs a FUSE round trip per write, doubling the
// daemon's CPU and the latency of a log's write(). Mountpoint answers
// ENOSYS too.
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	n.a.done("getxattr", time.Now(), nil) // counted: one per mount, not per write
	return 0, syscall.ENOSYS
}

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.ENOSYS
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return 0, 0
}

// handle is one open file.
type handle struct {
	a  *adapter
	h  *vfs.Handle
	pt *backing // the backing file this open names, if any
}

var (
	_ fs.FileReader    = (*handle)(nil)
	_ fs.FileWriter    = (*handle)(nil)
	_ fs.FileFlusher   = (*handle)(nil)
	_ fs.FileReleaser  = (*handle)(nil)
	_ fs.FileFsyncer   = (*handle)(nil)
	_ fs.FileGetattrer = (*handle)(nil)
	_ fs.FileAllocater = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	if bufs, release, ok := h.h.ReadSlices(rq, dest, off); ok {
		h.a.done("read", start, nil)
		return &sliceResult{bufs: bufs, release: release}, 0
	}
	n, err := h.h.Read(rq, dest, off)
	if err != nil {
		return nil, h.a.done("read", start, err)
	}
	h.a.done("read", start, nil)
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	if h.a.killsPrivs(ctx) {
		if err := h.h.KillPrivs(rq); err != nil {
			return 0, h.a.done("write", start, err)
		}
	}
	n, err := h.h.Write(rq, data, off)
	return uint32(n), h.a.done("write", start, err)
}

func (h *handle) Flush(ctx context.Context) syscall.Errno {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	return h.a.done("flush", start, h.h.Flush(rq))
}

func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	return h.a.done("fsync", start, h.h.Fsync(rq))
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	// Before vfs lets go of the pin: once no open names the backing id,
	// a new local open may register the node's (new) data file.
	if h.pt != nil {
		h.pt.release(h.a.srv, h.a)
	}
	h.h.Release()
	return 0
}

func (h *handle) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	return h.a.done("fallocate", start, h.h.Allocate(rq, int64(off), int64(size), mode))
}

func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	fillAttr(h.h.Node().Attr(), &out.Attr)
	return 0
}

// sliceResult is a read reply that points into the read-ahead's buffers:
// go-fuse writes the slices straight to /dev/fuse (Slices) and calls Done
// once they are sent, which hands the buffers back.
type sliceResult struct {
	bufs    [][]byte
	release func()
}

func (r *sliceResult) Slices() ([][]byte, fuse.Status) { return r.bufs, fuse.OK }

func (r *sliceResult) Size() int {
	n := 0
	for _, b := range r.bufs {
		n += len(b)
	}
	return n
}

// Bytes copies, for go-fuse paths that want one buffer.
func (r *sliceResult) Bytes(buf []byte) ([]byte, fuse.Status) {
	if len(r.bufs) == 1 {
		return r.bufs[0], fuse.OK
	}
	out := buf[:0]
	for _, b := range r.bufs {
		out = append(out, b...)
	}
	return out, fuse.OK
}

func (r *sliceResult) Done() { r.release() }
