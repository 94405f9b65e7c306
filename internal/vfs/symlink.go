package vfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
)

// Symlinks, FIFOs, device nodes and sockets are objects in s3fs's form: a
// symlink's body is its target, a special file's body is empty, and
// x-amz-meta-mode carries the type (x-amz-meta-rdev a device's number).
// They are made with one conditional PutObject, never through the spool:
// they are small and never written. They need Options.PosixMetadata (the
// type lives in the metadata); without it symlink and mknod are EPERM.
//
// A listing carries no metadata, so a listed object small enough to be a
// symlink or special file (mayBeSpecialLocked) has an unknown type until a
// HEAD tells it (LearnTypes, Lookup).

// maxTarget is the longest symlink target: PATH_MAX less the NUL. A larger
// object is never a symlink, so its type is known from a listing.
const maxTarget = 4095

// mayBeSpecialLocked: a listed object whose size alone does not prove it a
// regular file (n.mu held).
func (n *Node) mayBeSpecialLocked() bool {
	return !n.fs.opt.NoSymlinkProbe && !n.dir && n.file == nil && n.state == stateInS3 && n.size <= maxTarget
}

// specialOf is the special type (and device number) attributes read from
// an object's metadata say; 0 for a regular file.
func specialOf(a *s3store.Attrs) (ftype, rdev uint32) {
	if a == nil {
		return 0, 0
	}
	switch t := a.Mode & syscall.S_IFMT; t {
	case syscall.S_IFLNK, syscall.S_IFIFO, syscall.S_IFSOCK:
		return t, 0
	case syscall.S_IFCHR, syscall.S_IFBLK:
		return t, a.Rdev
	}
	return 0, 0
}

// fileModeType is os.FileMode's type bits for an S_IFMT type.
func fileModeType(ftype uint32) os.FileMode {
	switch ftype {
	case syscall.S_IFDIR:
		return os.ModeDir
	case syscall.S_IFLNK:
		return os.ModeSymlink
	case syscall.S_IFIFO:
		return os.ModeNamedPipe
	case syscall.S_IFSOCK:
		return os.ModeSocket
	case syscall.S_IFCHR:
		return os.ModeDevice | os.ModeCharDevice
	case syscall.S_IFBLK:
		return os.ModeDevice
	}
	return 0
}

// StatMode is st_mode (S_IFMT type and permission bits) of m.
func StatMode(m os.FileMode) uint32 {
	perm := statPerm(m)
	switch {
	case m&os.ModeDir != 0:
		return perm | syscall.S_IFDIR
	case m&os.ModeSymlink != 0:
		return perm | syscall.S_IFLNK
	case m&os.ModeNamedPipe != 0:
		return perm | syscall.S_IFIFO
	case m&os.ModeSocket != 0:
		return perm | syscall.S_IFSOCK
	case m&os.ModeCharDevice != 0:
		return perm | syscall.S_IFCHR
	case m&os.ModeDevice != 0:
		return perm | syscall.S_IFBLK
	}
	return perm | syscall.S_IFREG
}

// Type is the node's S_IFMT type as far as it is known: a listed object
// whose type is unknown shows as a regular file.
func (n *Node) Type() uint32 {
	if n.dir {
		return syscall.S_IFDIR
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ftype != 0 {
		return n.ftype
	}
	return syscall.S_IFREG
}

// DirentType is the type a directory listing shows: 0 (DT_UNKNOWN) while
// the type is unknown, so that a tool asks with lstat rather than trust a
// guess.
func (n *Node) DirentType() uint32 {
	if n.dir {
		return syscall.S_IFDIR
	}
	n.mu.Lock()
	unknown := n.fs.opt.PosixMetadata && !n.metaKnown && n.mayBeSpecialLocked()
	n.mu.Unlock()
	if unknown {
		return 0
	}
	return n.Type()
}

// isSpecial: the node is a symlink, FIFO, device node or socket.
func (n *Node) isSpecial() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ftype != 0
}

// Symlink makes name in dir a symlink to target: one PutObject with
// If-None-Match: * of the target, mode S_IFLNK|0777.
func (fs *FS) Symlink(ctx context.Context, dir *Node, name, target string) (*Node, error) {
	if fs.opt.ReadOnly {
		return nil, ErrReadOnly
	}
	if !fs.opt.PosixMetadata {
		fs.log.Warn("symlinks need POSIX metadata (mounted with --no-posix-metadata)", "name", name, "errno", "EPERM")
		return nil, ErrPerm
	}
	switch {
	case target == "":
		return nil, ErrNotFound // as Linux: symlink("", ...) is ENOENT
	case len(target) > maxTarget:
		return nil, ErrNameTooLong
	case strings.ContainsRune(target, 0):
		return nil, syscall.EINVAL
	}
	return fs.makeSpecial(ctx, dir, name, syscall.S_IFLNK|0o777, 0, target)
}

// Mknod makes a FIFO, device node or socket (an empty object whose mode
// says which), or an empty regular file. Special files are never opened
// through S3: the kernel serves a FIFO as a pipe local to this host, and
// the mount is nodev, so a device node cannot be opened.
func (fs *FS) Mknod(ctx context.Context, dir *Node, name string, mode, rdev uint32) (*Node, error) {
	if fs.opt.ReadOnly {
		return nil, ErrReadOnly
	}
	switch mode & syscall.S_IFMT {
	case 0, syscall.S_IFREG:
		n, h, err := fs.Create(ctx, dir, name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, ModeFromStat(mode))
		if err != nil {
			return nil, err
		}
		err = h.Flush(ctx) // published as a touch is
		h.Release()
		return n, err
	case syscall.S_IFIFO, syscall.S_IFSOCK:
		rdev = 0
	case syscall.S_IFCHR, syscall.S_IFBLK:
	default:
		return nil, syscall.EINVAL
	}
	if !fs.opt.PosixMetadata {
		fs.log.Warn("FIFOs and device nodes need POSIX metadata (mounted with --no-posix-metadata)", "name", name, "errno", "EPERM")
		return nil, ErrPerm
	}
	return fs.makeSpecial(ctx, dir, name, mode&(syscall.S_IFMT|0o777), rdev, "")
}

// makeSpecial publishes a symlink or special file at once: a conditional
// create, whose answer, if lost, is told by its tag.
func (fs *FS) makeSpecial(ctx context.Context, dir *Node, name string, mode, rdev uint32, target string) (_ *Node, err error) {
	defer fs.touchDirs(&err, dir)
	if err := fs.checkNewName(dir, name, false); err != nil {
		return nil, err
	}
	if _, err := fs.Lookup(ctx, dir, name); err == nil {
		return nil, ErrExists
	} else if err != ErrNotFound {
		return nil, err
	}
	p := join(dir.Path(), name)
	if err := fs.checkObjectFree(ctx, p, false); err != nil {
		return nil, err
	}
	unlock := fs.lockPaths(p)
	defer unlock()
	fs.mu.Lock()
	taken := fs.byPath.get(p) != nil
	fs.mu.Unlock()
	if taken {
		return nil, ErrExists // created here meanwhile
	}
	now := time.Now()
	key, tag := fs.key(p), newCreateTag()
	uid, gid := fs.ownerFor(ctx, dir)
	u, g := fs.ownerOr(uid, gid)
	attrs := &s3store.Attrs{Mode: mode, UID: u, GID: g, Mtime: now, Rdev: rdev}
	info, err := fs.st.Put(ctx, key, strings.NewReader(target), int64(len(target)),
		s3store.Cond{IfNoneMatch: true, Tag: tag, Attrs: attrs})
	if err != nil {
		// An answer lost in transit, or a retry refused because the
		// first attempt had landed: the tag tells whether S3 holds ours.
		if h, herr := fs.st.Head(ctx, key); herr == nil && h.Tag == tag {
			info, err = h, nil
		} else if s3store.IsConflict(err) {
			return nil, ErrExists
		}
	}
	if err != nil {
		return nil, err
	}
	fs.mu.Lock()
	n := fs.newNodeLocked(p, false)
	n.mu.Lock()
	la := n.attrsLocked()
	n.ftype, la.rdev = mode&syscall.S_IFMT, rdev
	la.mode, la.modeSet = ModeFromStat(mode), true
	la.uid, la.gid = uid, gid
	n.mtime, n.metaKnown = now, true
	n.wroteLocked(int64(len(target)), info.ETag)
	if target != "" {
		la.target, la.targetETag = target, info.ETag
	}
	n.mu.Unlock()
	fs.mu.Unlock()
	fs.markParentsPublished(p)
	return n, nil
}

// Readlink returns a symlink's target: the object's body, read once per
// version (one GET, pinned to the ETag the node knows).
func (fs *FS) Readlink(ctx context.Context, n *Node) (string, error) {
	n.mu.Lock()
	ftype, etag, size, p := n.ftype, n.etag, n.size, n.path
	if la := n.la; ftype == syscall.S_IFLNK && la != nil && la.target != "" && la.targetETag == etag {
		t := la.target
		n.mu.Unlock()
		return t, nil
	}
	n.mu.Unlock()
	if ftype != syscall.S_IFLNK {
		return "", syscall.EINVAL
	}
	if size == 0 || size > maxTarget {
		fs.log.Warn("a symlink object's body is not a target", "key", fs.key(p), "size", size, "errno", "EIO")
		return "", ErrIO
	}
	rc, err := fs.st.Get(ctx, fs.key(p), 0, size, etag)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxTarget+1))
	if err != nil {
		return "", err
	}
	if len(b) == 0 || len(b) > maxTarget || strings.IndexByte(string(b), 0) >= 0 {
		fs.log.Warn("a symlink object's body is not a target", "key", fs.key(p), "size", len(b), "errno", "EIO")
		return "", ErrIO
	}
	t := string(b)
	n.mu.Lock()
	if n.etag == etag {
		la := n.attrsLocked()
		la.target, la.targetETag = t, etag
	}
	n.mu.Unlock()
	return t, nil
}

// newCreateTag is the tag of one create of a symlink, special file or
// directory marker, which tells a lost answer (see
// s3store.TagMetadataKey).
func newCreateTag() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(errors.Join(errors.New("crypto/rand"), err))
	}
	return "mk-" + hex.EncodeToString(b[:])
}
