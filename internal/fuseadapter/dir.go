package fuseadapter

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/s3mount/s3mount/internal/vfs"
)

// dirHandle is one opendir. It lists once and answers READDIRPLUS lookups
// from that listing, as Mountpoint does: without it go-fuse calls Lookup for
// every entry, and entries older than the metadata TTL (most of a large
// directory) would each cost a HEAD and a LIST. The listing streams
// (dirstream.go): entries reach the kernel while later pages are fetched.
type dirHandle struct {
	n       *node
	entries []vfs.DirEntry // listed so far
	idx     int
	list    *listing      // nil before the first READDIR and after a rewind
	ended   bool          // list has delivered everything
	failed  syscall.Errno // how the listing ended, when it failed: every READDIR past its entries gets it until a rewind
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

// begin starts a fresh listing.
func (d *dirHandle) begin() {
	d.end()
	d.entries, d.idx, d.ended, d.failed = d.entries[:0], 0, false, 0
	d.list = startListing(d.n.a.v, d.n.v)
}

// end stops the listing in progress, if any, and lets go of the listed
// nodes the kernel was never handed: the entries taken so far and the
// batches still on their way.
func (d *dirHandle) end() {
	v := d.n.a.v
	if d.list != nil {
		d.list.stop()
		for batch := range d.list.more {
			v.Unreceived(batch)
		}
		d.list = nil
	}
	v.Unreceived(d.entries)
}

// fill waits until the entry at d.idx is listed or the listing ended;
// it reports whether there is one.
func (d *dirHandle) fill(ctx context.Context, idx int) (bool, syscall.Errno) {
	if d.list == nil {
		d.begin()
	}
	for idx >= len(d.entries) && !d.ended {
		rq := newRequest(ctx)
		batch, ok, err := d.list.next(rq)
		rq.end()
		if err != nil {
			return false, vfs.Errno(err)
		}
		if !ok {
			d.ended = true
			d.failed = d.n.a.done("readdir", d.list.start, d.list.err)
			break
		}
		d.entries = append(d.entries, batch...)
	}
	if idx < len(d.entries) {
		return true, 0
	}
	// Never a short listing that looks complete, nor one started over
	// under the kernel's offsets.
	return false, d.failed
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if ok, e := d.fill(ctx, d.idx); !ok {
		return nil, e
	}
	e := d.entries[d.idx]
	d.idx++
	return &fuse.DirEntry{Name: e.Name, Mode: e.Node.DirentType(), Ino: e.Node.Ino(), Off: uint64(d.idx)}, 0
}

// Seekdir to 0 (rewinddir) lists again; other offsets are positions in the
// current listing.
func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off == 0 {
		d.end()
		d.idx = 0
		return 0
	}
	if _, e := d.fill(ctx, int(off)-1); e != 0 {
		return e
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

// Releasedir stops the listing and lets go of the listed nodes the kernel
// was never handed.
func (d *dirHandle) Releasedir(ctx context.Context, releaseFlags uint32) { d.end() }
