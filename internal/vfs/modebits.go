package vfs

import (
	"context"
	"os"
	"syscall"
)

// Permission bits travel with setuid, setgid and sticky: os.FileMode keeps
// them as os.ModeSetuid/ModeSetgid/ModeSticky, st_mode (FUSE, the object's
// x-amz-meta-mode, the journal) as 04000/02000/01000. Perm() alone drops
// them: a setuid file or a sticky /tmp-like directory lost its bits.

const permMask = os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky

// permOf is m's permission bits, setuid, setgid and sticky included.
func permOf(m os.FileMode) os.FileMode { return m & permMask }

// ModeFromStat is the permission bits (setuid, setgid and sticky
// included) of st_mode bits m, as an os.FileMode; the type is dropped.
func ModeFromStat(m uint32) os.FileMode {
	p := os.FileMode(m & 0o777)
	if m&syscall.S_ISUID != 0 {
		p |= os.ModeSetuid
	}
	if m&syscall.S_ISGID != 0 {
		p |= os.ModeSetgid
	}
	if m&syscall.S_ISVTX != 0 {
		p |= os.ModeSticky
	}
	return p
}

// statPerm is m's permission bits in st_mode form (07777).
func statPerm(m os.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		p |= syscall.S_ISUID
	}
	if m&os.ModeSetgid != 0 {
		p |= syscall.S_ISGID
	}
	if m&os.ModeSticky != 0 {
		p |= syscall.S_ISVTX
	}
	return p
}

// The caller of a request (the FUSE adapter tells): with --allow-other a
// file or directory another user creates is that user's, as on a local
// file system; the kernel then checks its owner's rights against it.

type callerKey struct{}

type caller struct{ uid, gid uint32 }

// WithCaller is ctx carrying the uid and gid of the process that made the
// request.
func WithCaller(ctx context.Context, uid, gid uint32) context.Context {
	return context.WithValue(ctx, callerKey{}, caller{uid, gid})
}

// ownerFor is the owner of a new entry in dir made by ctx's caller: the
// caller when other users are admitted (nil otherwise: the mount's
// --uid/--gid), and the group of dir when dir is setgid (as Linux does).
func (fs *FS) ownerFor(ctx context.Context, dir *Node) (uid, gid *uint32) {
	if c, ok := ctx.Value(callerKey{}).(caller); ok && fs.opt.OtherUsers {
		u, g := c.uid, c.gid
		uid, gid = &u, &g
	}
	if g, ok := setgidGroup(dir); ok {
		gid = &g
	}
	return uid, gid
}

// setgidGroup is dir's group if dir is setgid: new entries take it (and
// new directories the setgid bit too).
func setgidGroup(dir *Node) (uint32, bool) {
	dir.mu.Lock()
	da := dir.attrLocked()
	dir.mu.Unlock()
	return da.GID, da.Mode&os.ModeSetgid != 0
}

// ownerOr is uid and gid, or the mount's --uid and --gid where nil.
func (fs *FS) ownerOr(uid, gid *uint32) (u, g uint32) {
	u, g = fs.opt.UID, fs.opt.GID
	if uid != nil {
		u = *uid
	}
	if gid != nil {
		g = *gid
	}
	return u, g
}

// KillPrivs is what a write by a process without CAP_FSETID does to the
// file's mode on a local file system: setuid goes, and setgid if the group
// may execute. The kernel does it itself before page-cached writes (a
// chmod it sends); for direct-I/O writes (IODirect) it asks the daemon to,
// with a flag on the write.
func (h *Handle) KillPrivs(ctx context.Context) error {
	n := h.node
	mode := permOf(n.Attr().Mode)
	kept := mode &^ os.ModeSetuid
	if mode&0o010 != 0 {
		kept &^= os.ModeSetgid
	}
	if kept == mode {
		return nil
	}
	return n.fs.Setattr(ctx, n, h, SetAttr{Mode: &kept})
}
