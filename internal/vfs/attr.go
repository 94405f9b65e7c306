package vfs

import (
	"context"
	"os"
	"time"
)

// Attr is what stat shows.
type Attr struct {
	Ino   uint64
	Size  int64
	Mode  os.FileMode // type bits included
	Nlink uint32
	UID   uint32
	GID   uint32
	Mtime time.Time
	Atime time.Time
	Ctime time.Time
}

// Attr returns the node's attributes.
func (n *Node) Attr() Attr {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.attrLocked()
}

func (n *Node) attrLocked() Attr {
	o := n.fs.opt
	a := Attr{Ino: n.ino, Nlink: 1, UID: o.UID, GID: o.GID, Mtime: n.mtime}
	if a.Mtime.IsZero() {
		a.Mtime = n.fs.start
	}
	if n.dir {
		a.Mode = os.ModeDir | o.DirMode
		a.Nlink = 2
		a.Size = 4096
	} else {
		a.Mode = o.FileMode
		a.Size = n.sizeLocked()
	}
	if n.mode != 0 {
		a.Mode = a.Mode&os.ModeType | n.mode.Perm()
	}
	if n.uid != nil {
		a.UID = *n.uid
	}
	if n.gid != nil {
		a.GID = *n.gid
	}
	if !n.localMtime.IsZero() {
		a.Mtime = n.localMtime
	}
	a.Atime = a.Mtime
	if !n.atime.IsZero() {
		a.Atime = n.atime
	}
	a.Ctime = a.Mtime
	return a
}

// SetAttr is chmod/chown/utimes/truncate. Attributes live for the mount's
// life (S3 objects carry no POSIX attributes).
type SetAttr struct {
	Size         *int64
	Mode         *os.FileMode
	UID, GID     *uint32
	Atime, Mtime *time.Time
}

// Setattr applies a.
func (fs *FS) Setattr(ctx context.Context, n *Node, h *Handle, a SetAttr) error {
	if fs.opt.ReadOnly && a.Size != nil {
		return ErrReadOnly
	}
	if a.Size != nil && !n.dir {
		if err := fs.truncate(ctx, n, *a.Size); err != nil {
			return err
		}
		if h != nil && h.write {
			h.markWrote() // ftruncate: the handle's close publishes
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if a.Mode != nil || a.UID != nil || a.GID != nil || a.Atime != nil || a.Mtime != nil {
		// Attributes live only here: the node must outlive the kernel's
		// forgetting it, or stat would lose them (rsync -a, logrotate).
		n.attrSet = true
	}
	if a.Mode != nil {
		n.mode = a.Mode.Perm()
	}
	if a.UID != nil {
		u := *a.UID
		n.uid = &u
	}
	if a.GID != nil {
		g := *a.GID
		n.gid = &g
	}
	if a.Atime != nil {
		n.atime = *a.Atime
	}
	if a.Mtime != nil {
		n.localMtime = *a.Mtime
	}
	return nil
}
