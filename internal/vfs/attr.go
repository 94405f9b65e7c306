package vfs

import (
	"context"
	"os"
	"syscall"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/spool"
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
	Rdev  uint32 // device nodes
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
	la := n.la
	if la == nil {
		la = &localAttrs{} // on the stack: the mount's defaults
	}
	if n.ftype != 0 {
		a.Mode = fileModeType(n.ftype) | permOf(a.Mode)
		a.Rdev = la.rdev
	}
	if la.modeSet {
		a.Mode = a.Mode&os.ModeType | permOf(la.mode)
	}
	if la.uid != nil {
		a.UID = *la.uid
	}
	if la.gid != nil {
		a.GID = *la.gid
	}
	if !la.localMtime.IsZero() {
		a.Mtime = la.localMtime
	}
	a.Atime = a.Mtime
	if !la.atime.IsZero() {
		a.Atime = la.atime
	}
	a.Ctime = a.Mtime
	if la.ctime.After(a.Ctime) {
		a.Ctime = la.ctime
	}
	return a
}

// touchDirs: an entry was made, removed or renamed in dirs (or, for a
// file, it was renamed): their ctime moves, and a directory's mtime, as
// on Linux. Kept for the mount's life; a directory's stored mtime changes
// only by utimes.
func (fs *FS) touchDirs(err *error, nodes ...*Node) {
	if *err != nil {
		return
	}
	now := time.Now()
	for _, n := range nodes {
		n.mu.Lock()
		la := n.attrsLocked()
		if n.dir {
			la.localMtime = now
		}
		la.ctime = now
		n.mu.Unlock()
	}
}

// SetAttr is chmod/chown/utimes/truncate. With Options.PosixMetadata the
// mode, owner and mtime of a file are stored with its object (a
// publication carries them; an object with nothing else to publish is
// copied onto itself with the new metadata, coalesced by the close delay);
// otherwise they live for the mount's life.
type SetAttr struct {
	Size         *int64
	Mode         *os.FileMode
	UID, GID     *uint32
	Atime, Mtime *time.Time
}

// Setattr applies a.
func (fs *FS) Setattr(ctx context.Context, n *Node, h *Handle, a SetAttr) error {
	if h != nil {
		h.settled()
	}
	if fs.opt.ReadOnly && a.Size != nil {
		return ErrReadOnly
	}
	if n.dir && fs.storesDirAttrs(n.Path()) && (a.Mode != nil || a.UID != nil || a.GID != nil || a.Mtime != nil) {
		if err := fs.setDirAttrs(ctx, n, a); !fs.markerRefused(err, n.Path()) {
			return err
		}
	}
	// The mount's root (no marker key without --prefix) keeps its
	// attributes for the mount's life, as without --posix-metadata.
	if err := fs.learnAttrs(ctx, n); err != nil {
		return err
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
	stored := fs.opt.PosixMetadata && !n.dir && (a.Mode != nil || a.UID != nil || a.GID != nil || a.Mtime != nil)
	if stored {
		n.attrDirty = true
		n.attrsLocked().attrGen++
	}
	defer func() {
		f := n.file
		mode, uid, gid := n.unpublishedAttrsLocked()
		n.mu.Unlock()
		if stored {
			if f != nil {
				// Journaled: a crash before the publication keeps them.
				_ = f.Update(func(j *spool.Journal) { j.Mode, j.UID, j.GID = mode, uid, gid })
			}
			n.ws().job.After(fs.timing.CloseDelay)
		}
	}()
	if a.Mode != nil || a.UID != nil || a.GID != nil || a.Atime != nil || a.Mtime != nil ||
		(a.Size != nil && !n.dir && n.file == nil) {
		// Attributes live only here: the node must outlive the kernel's
		// forgetting it, or stat would lose them (rsync -a, logrotate;
		// the mtime a truncate that changed no byte stamps).
		n.attrSet = true
	}
	la := n.attrsLocked()
	if a.Mode != nil {
		la.mode, la.modeSet = permOf(*a.Mode), true
	}
	n.setOwnerLocked(a.UID, a.GID)
	if a.Atime != nil {
		la.atime = *a.Atime
	}
	if a.Mtime != nil {
		la.localMtime = *a.Mtime
	} else if a.Size != nil && !n.dir {
		la.localMtime = time.Now() // truncate(2) stamps it even when the size stays
	}
	la.ctime = time.Now() // every change of attributes
	return nil
}

// s3AttrsLocked are the attributes a write of the object carries (nil
// without Options.PosixMetadata). n.mu held.
func (n *Node) s3AttrsLocked() *s3store.Attrs {
	if !n.fs.opt.PosixMetadata {
		return nil
	}
	a := n.attrLocked()
	return &s3store.Attrs{Mode: StatMode(a.Mode), UID: a.UID, GID: a.GID, Mtime: a.Mtime, Rdev: a.Rdev}
}

// applyAttrsLocked takes the attributes a HEAD reported (nil: the object
// has none, the mount's defaults apply), unless a change made here is not
// in S3 yet. n.mu held.
func (n *Node) applyAttrsLocked(a *s3store.Attrs) {
	n.metaKnown = true
	if !n.fs.opt.PosixMetadata {
		return
	}
	if !n.dir {
		var rdev uint32
		n.ftype, rdev = specialOf(a)
		if rdev != 0 || n.la != nil {
			n.attrsLocked().rdev = rdev
		}
	}
	if a != nil && !a.Mtime.IsZero() {
		// The object's own mtime, not its LastModified, even while a
		// change made here waits (a utimes made here is localMtime).
		n.mtime = a.Mtime
		n.attrsLocked().storedMtime = a.Mtime
	}
	if n.attrDirty {
		return
	}
	if la := n.la; la != nil {
		la.modeSet, la.mode, la.uid, la.gid = false, 0, nil, nil
	}
	if a == nil {
		return
	}
	la := n.attrsLocked()
	la.mode, la.modeSet = ModeFromStat(a.Mode), true
	u, g := a.UID, a.GID
	la.uid, la.gid = &u, &g
	if !a.Mtime.IsZero() {
		n.mtime = a.Mtime
		la.localMtime = time.Time{}
	}
}

// AttrsKnown reports whether stat can be answered without asking S3: a
// node made from a listing does not know its object's attributes.
func (n *Node) AttrsKnown() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.metaKnownLocked() || n.hasLocalState()
}

// metaKnownLocked: the node's attributes may be shown without a HEAD
// (see Options.OtherUsers). A listed object small enough to be a symlink
// or special file (mayBeSpecialLocked), and a listed directory whose
// marker may carry attributes, are not known: their type and modes come
// from a HEAD. n.mu held.
func (n *Node) metaKnownLocked() bool {
	switch {
	case !n.fs.opt.PosixMetadata || n.metaKnown || n.ino == RootIno:
		return true
	case n.dir:
		return n.state == stateNew && !n.marker
	}
	return !n.fs.needMeta() && !n.mayBeSpecialLocked()
}

// unpublishedAttrsLocked are the attributes set here that S3 does not
// have yet, as a journal keeps them (spool.Journal.Mode, UID, GID); zero
// when there are none. n.mu held.
func (n *Node) unpublishedAttrsLocked() (mode uint32, uid, gid *uint32) {
	if !n.fs.opt.PosixMetadata || !n.attrDirty && n.state != stateNew {
		return 0, nil, nil
	}
	la := n.attrsOrNoneLocked()
	if la.modeSet {
		mode = statPerm(la.mode) | syscall.S_IFREG
	}
	return mode, la.uid, la.gid
}

// journaledAttrsLocked takes the attributes a recovered journal kept:
// they are newer than the object's and still to be published. n.mu held.
func (n *Node) journaledAttrsLocked(j spool.Journal) {
	if !n.fs.opt.PosixMetadata || j.Mode == 0 && j.UID == nil && j.GID == nil {
		return
	}
	la := n.attrsLocked()
	if j.Mode != 0 {
		la.mode, la.modeSet = ModeFromStat(j.Mode), true
	}
	n.setOwnerLocked(j.UID, j.GID)
	n.attrSet, n.attrDirty = true, true
	la.attrGen++
}

// setOwnerLocked sets the owner and group that are given (copies: the
// caller's values may change). n.mu held.
func (n *Node) setOwnerLocked(uid, gid *uint32) {
	if uid != nil {
		u := *uid
		n.attrsLocked().uid = &u
	}
	if gid != nil {
		g := *gid
		n.attrsLocked().gid = &g
	}
}
