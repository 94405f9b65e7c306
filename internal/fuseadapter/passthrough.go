package fuseadapter

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/s3mount/s3mount/internal/vfs"
)

// FUSE passthrough: vfs chooses how the kernel serves each open
// (vfs.IOMode) and names the spool data file of a local one; this file only
// turns that into open flags and backing ids.
//
// go-fuse's own passthrough (fs.FilePassthroughFder) is not used: it
// counts a node's backing-file users by every release, including opens
// made before the backing file was set (a log's writer, open before its
// reader), so it lets go of the id while a reader still uses it, and the
// next open registers a second backing file, which the kernel refuses
// (EIO). Here each node (one kernel inode) counts exactly the opens that
// named its backing file.

// backingServer is the part of fuse.Server that registers backing files.
type backingServer interface {
	RegisterBackingFd(*fuse.BackingMap) (int32, syscall.Errno)
	UnregisterBackingFd(id int32) syscall.Errno
}

// backing is a node's registered backing file (leaf lock; held across the
// register/unregister ioctl, never while calling vfs).
type backing struct {
	mu   sync.Mutex
	id   int32
	refs int // opens that named id and are not released
}

// acquire returns the node's backing id, registering fd when no open
// names one (vfs guarantees they all name the same pinned data file).
func (b *backing) acquire(srv backingServer, fd int, haveFd bool) (int32, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refs == 0 {
		if !haveFd {
			return 0, fmt.Errorf("no data file to read locally")
		}
		id, errno := srv.RegisterBackingFd(&fuse.BackingMap{Fd: int32(fd)})
		if errno != 0 {
			return 0, fmt.Errorf("FUSE_DEV_IOC_BACKING_OPEN: %w", errno)
		}
		b.id = id
	}
	b.refs++
	return b.id, nil
}

func (b *backing) release(srv backingServer, a *adapter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refs--; b.refs == 0 {
		if errno := srv.UnregisterBackingFd(b.id); errno != 0 {
			a.log.Warn("FUSE passthrough: cannot unregister a backing file", "id", b.id, "errno", errno.Error())
		}
		b.id = 0
	}
}

// Open replies name the backing id through private open-flag bits that
// the raw layer below (passthroughFS) takes off again: go-fuse copies the
// flags an Open returns into the reply but has no way to set its
// BackingID. The bits carry a slot of a table of pending ids.
const (
	slotMark  = 1 << 31
	slotShift = 16
	slotMask  = 0x7fff
)

type slotTable struct {
	mu   sync.Mutex
	next uint32
	ids  map[uint32]int32
}

func (t *slotTable) put(id int32) uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ids == nil {
		t.ids = map[uint32]int32{}
	}
	for {
		t.next = (t.next + 1) & slotMask
		if _, used := t.ids[t.next]; !used {
			t.ids[t.next] = id
			return t.next
		}
	}
}

func (t *slotTable) take(slot uint32) (int32, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, ok := t.ids[slot]
	delete(t.ids, slot)
	return id, ok
}

// backing is n's backing, made on first use; it stays for the node's
// life, so every open of the kernel inode names the same one.
func (n *node) backing() *backing {
	if b := n.pt.Load(); b != nil {
		return b
	}
	n.pt.CompareAndSwap(nil, &backing{})
	return n.pt.Load()
}

// ioFlags adds to flags what h's mode asks of the kernel; a local open
// gets the node's backing id (through a slot). It returns the backing the
// handle holds, to release at close.
func (n *node) ioFlags(h *vfs.Handle, flags uint32) (uint32, *backing) {
	switch h.IOMode() {
	case vfs.IODirect:
		return flags | fuse.FOPEN_DIRECT_IO, nil
	case vfs.IOLocal, vfs.IOLocalWriter:
		fd, ok := h.LocalFd()
		b := n.backing()
		id, err := b.acquire(n.a.srv, fd, ok)
		if err != nil {
			h.LocalFailed(err.Error())
			return flags, nil
		}
		if h.IOMode() == vfs.IOLocalWriter {
			// Reads and writes go through the daemon (the spool's journal
			// sees every byte); only mmap would use the backing file.
			flags |= fuse.FOPEN_DIRECT_IO
		}
		return flags | slotMark | n.a.slots.put(id)<<slotShift, b
	}
	return flags, nil
}

// passthroughFS sets the backing id of open and create replies whose
// flags carry a slot (ioFlags), and strips the private bits. It also
// passes on the kernel's request to clear setuid/setgid with a direct-I/O
// write (vfs.IODirect; page-cached writes have the kernel do it), which
// go-fuse does not hand to FileWriter: the write's request (its cancel
// channel, unique among requests in flight) is marked for handle.Write.
type passthroughFS struct {
	fuse.RawFileSystem
	slots *slotTable
	kill  *sync.Map // cancel channel -> struct{}: the write must kill privileges
}

func (p *passthroughFS) Write(c <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	defer p.markKill(c, in)()
	return p.RawFileSystem.Write(c, in, data)
}

func (p *passthroughFS) Writev(c <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	defer p.markKill(c, in)()
	return p.RawFileSystem.Writev(c, in, data)
}

// markKill marks the write of c when the kernel asks it to clear
// setuid/setgid, until the returned func runs.
func (p *passthroughFS) markKill(c <-chan struct{}, in *fuse.WriteIn) func() {
	if in.WriteFlags&fuse.WRITE_KILL_SUIDGID == 0 {
		return func() {}
	}
	p.kill.Store(c, struct{}{})
	return func() { p.kill.Delete(c) }
}

// killsPrivs: the write of ctx was asked to clear setuid/setgid.
func (a *adapter) killsPrivs(ctx context.Context) bool {
	fc, ok := ctx.(*fuse.Context)
	if !ok {
		return false
	}
	_, kill := a.kill.Load(fc.Cancel)
	return kill
}

func (p *passthroughFS) Open(c <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	st := p.RawFileSystem.Open(c, in, out)
	if st == fuse.OK {
		p.apply(out)
	}
	return st
}

func (p *passthroughFS) Create(c <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	st := p.RawFileSystem.Create(c, in, name, out)
	if st == fuse.OK {
		p.apply(&out.OpenOut)
	}
	return st
}

func (p *passthroughFS) apply(out *fuse.OpenOut) {
	if out.OpenFlags&slotMark == 0 {
		return
	}
	slot := out.OpenFlags >> slotShift & slotMask
	out.OpenFlags &^= slotMark | slotMask<<slotShift
	if id, ok := p.slots.take(slot); ok {
		out.BackingID = id
		out.OpenFlags |= fuse.FOPEN_PASSTHROUGH
	}
}

// probeLocalReads asks the kernel, once at mount, whether it reads files
// of the spool's file system (and of the data cache's, with --cache)
// directly for this daemon (kernel support, CAP_SYS_ADMIN, file system
// stacking depth), and tells vfs, which logs it.
func (a *adapter) probeLocalReads(want bool) {
	if !want {
		a.v.SetLocalReads(false, "--no-passthrough")
		a.v.SetCacheReads(false, "--no-passthrough")
		return
	}
	a.v.SetLocalReads(a.probe(a.v.ScratchFile, "spool"))
	if a.v.HasCache() {
		a.v.SetCacheReads(a.probe(a.v.CacheScratchFile, "cache"))
	}
}

// probe registers a scratch file of the directory as a backing file.
func (a *adapter) probe(scratch func() (*os.File, error), dir string) (bool, string) {
	f, err := scratch()
	if err != nil {
		return false, "cannot make a file in the " + dir + " directory: " + err.Error()
	}
	defer f.Close()
	id, errno := a.srv.RegisterBackingFd(&fuse.BackingMap{Fd: int32(f.Fd())})
	if errno != 0 {
		why := "the kernel refused a backing file: " + errno.Error()
		switch errno {
		case syscall.EPERM:
			why += " (needs root, or a kernel with FUSE passthrough)"
		case syscall.ELOOP:
			why += " (the " + dir + " directory is on a stacked file system such as overlayfs)"
		}
		return false, why
	}
	a.srv.UnregisterBackingFd(id)
	return true, ""
}
