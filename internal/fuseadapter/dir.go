package fuseadapter

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/s3mount/s3mount/internal/vfs"
)

// dirHandle is one opendir. It lists once and answers READDIRPLUS lookups
// from that listing, as Mountpoint does: without it go-fuse calls Lookup for
// every entry, and entries older than the metadata TTL (most of a large
// directory) would each cost a HEAD and a LIST.
type dirHandle struct {
	n       *node
	entries []vfs.DirEntry
	idx     int
	loaded  bool
}

var (
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.FileReaddirenter   = (*dirHandle)(nil)
	_ fs.FileSeekdirer      = (*dirHandle)(nil)
	_ fs.FileLookuper       = (*dirHandle)(nil)
	_ fs.FileReleasedirer   = (*dirHandle)(nil)
)

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if !n.v.IsDir() {
		return nil, 0, syscall.ENOTDIR
	}
	return &dirHandle{n: n}, 0, 0
}

func (d *dirHandle) load(ctx context.Context) syscall.Errno {
	rq := newRequest(ctx)
	defer rq.end()
	start := time.Now()
	d.n.a.v.Unreceived(d.entries) // the previous listing's
	d.entries, d.idx = d.entries[:0], 0
	err := d.n.a.v.ReadDir(rq, d.n.v, func(e vfs.DirEntry) bool {
		d.entries = append(d.entries, e)
		return true
	})
	if err != nil {
		return d.n.a.done("readdir", start, err)
	}
	d.n.a.v.LearnTypes(rq, d.entries)
	d.loaded = true
	return d.n.a.done("readdir", start, nil)
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if !d.loaded {
		if e := d.load(ctx); e != 0 {
			return nil, e
		}
	}
	if d.idx >= len(d.entries) {
		return nil, 0
	}
	e := d.entries[d.idx]
	d.idx++
	return &fuse.DirEntry{Name: e.Name, Mode: e.Node.DirentType(), Ino: e.Node.Ino(), Off: uint64(d.idx)}, 0
}

// Seekdir to 0 (rewinddir) lists again; other offsets are positions in the
// current listing.
func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off == 0 {
		d.loaded, d.idx = false, 0
		return 0
	}
	if !d.loaded {
		if e := d.load(ctx); e != 0 {
			return e
		}
	}
	if off > uint64(len(d.entries)) {
		return syscall.EINVAL
	}
	d.idx = int(off)
	return 0
}

// Lookup is called for the entry Readdirent produced last: its node comes
// from the listing just made. A file whose attributes the listing cannot
// tell (POSIX metadata) is looked up: the kernel would check permissions
// against the defaults otherwise.
func (d *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if d.idx > 0 && d.idx <= len(d.entries) && d.entries[d.idx-1].Name == name && d.entries[d.idx-1].Node.AttrsKnown() {
		return d.n.child(ctx, d.entries[d.idx-1].Node, out), 0
	}
	return d.n.Lookup(ctx, name, out)
}

// Releasedir lets go of the listed nodes the kernel was never handed.
func (d *dirHandle) Releasedir(ctx context.Context, releaseFlags uint32) {
	d.n.a.v.Unreceived(d.entries)
}
