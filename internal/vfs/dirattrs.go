package vfs

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
)

// A directory's attributes (Options.PosixMetadata) live on its "dir/"
// marker object, in the same metadata as a file's: mkdir makes the marker
// with the directory's mode; chmod/chown/utimes of a directory store them
// on it at once (creating it for an implicit directory, one that exists
// only as the prefix of keys), since a directory has no publication to
// carry them. A lookup or listing reads them back with a HEAD of the
// marker; a directory without one shows the mount's defaults.

// storesDirAttrs: p's directory attributes can be stored (the root of a
// mount without --prefix has no marker key).
func (fs *FS) storesDirAttrs(p string) bool {
	return fs.opt.PosixMetadata && fs.dirKey(p) != ""
}

// mkdirMarker makes directory p in S3: its marker, created with
// If-None-Match: * (EEXIST if another made it first; a lost answer is
// told by the tag, as for a symlink).
// uid and gid: its owner (nil: the mount's --uid, --gid).
func (fs *FS) mkdirMarker(ctx context.Context, p string, mode os.FileMode, uid, gid *uint32) (*Node, error) {
	now := time.Now()
	u, g := fs.ownerOr(uid, gid)
	key, tag := fs.dirKey(p), newCreateTag()
	attrs := &s3store.Attrs{Mode: syscall.S_IFDIR | statPerm(mode), UID: u, GID: g, Mtime: now}
	_, err := fs.st.Put(ctx, key, bytes.NewReader(nil), 0, s3store.Cond{IfNoneMatch: true, Tag: tag, Attrs: attrs})
	if err != nil {
		if h, herr := fs.st.Head(ctx, key); herr == nil && h.Tag == tag {
			err = nil
		} else if s3store.IsConflict(err) {
			return nil, ErrExists
		}
	}
	if err != nil {
		return nil, err
	}
	fs.mu.Lock()
	n := fs.newNodeLocked(p, true)
	n.mu.Lock()
	n.state, n.marker, n.metaKnown = stateInS3, true, true
	n.mtime, n.checked, n.ws().changedAt = now, now, now
	la := n.attrsLocked()
	la.mode, la.modeSet = permOf(mode), true
	la.uid, la.gid = uid, gid
	n.mu.Unlock()
	fs.mu.Unlock()
	fs.markParentsPublished(p)
	return n, nil
}

// markerRefused: err is the server refusing p's marker key as a name
// (MinIO stores "dir/" as a file name 9 bytes longer, so a component over
// 246 bytes cannot have a marker there). The directory then lives as
// without POSIX metadata: local until a file is written in it, its
// attributes for the mount's life.
func (fs *FS) markerRefused(err error, p string) bool {
	var se *s3store.Error
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest || se.Sentinel != nil {
		return false
	}
	fs.log.Warn("the server refuses this directory's marker key: its attributes last for the mount's life", "key", fs.dirKey(p), "err", err)
	return true
}

// setDirAttrs stores a directory's chmod/chown/utimes on its marker
// (HEAD, then a conditional self-copy with the new metadata or a create),
// then shows them.
func (fs *FS) setDirAttrs(ctx context.Context, n *Node, a SetAttr) error {
	n.mu.Lock()
	cur := n.attrLocked()
	p := n.path
	n.mu.Unlock()
	want := &s3store.Attrs{Mode: StatMode(cur.Mode), UID: cur.UID, GID: cur.GID, Mtime: cur.Mtime}
	if a.Mode != nil {
		want.Mode = syscall.S_IFDIR | statPerm(*a.Mode)
	}
	if a.UID != nil {
		want.UID = *a.UID
	}
	if a.GID != nil {
		want.GID = *a.GID
	}
	if a.Mtime != nil {
		want.Mtime = *a.Mtime
	}
	if err := fs.putMarkerAttrs(ctx, fs.dirKey(p), want); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	la := n.attrsLocked()
	la.mode, la.modeSet = ModeFromStat(want.Mode), true
	u, g := want.UID, want.GID
	la.uid, la.gid = &u, &g
	la.localMtime = want.Mtime
	if a.Atime != nil {
		la.atime = *a.Atime
	}
	n.marker, n.metaKnown, n.attrSet = true, true, true
	if n.state == stateNew {
		n.state = stateInS3 // the marker makes it exist in S3
	}
	n.ws().changedAt = time.Now()
	return nil
}

// putMarkerAttrs writes attrs on the marker key: a copy onto itself pinned
// to its ETag (its body, if any, is kept), or a create when there is none;
// retried when another writer changed it in between. A write whose answer
// was lost is told by its tag (as a file's SetAttrs): else chmod failed
// though S3 had the new mode, which the next lookup showed.
func (fs *FS) putMarkerAttrs(ctx context.Context, key string, attrs *s3store.Attrs) error {
	var err error
	for range 3 {
		var info s3store.ObjectInfo
		info, err = fs.st.Head(ctx, key)
		if err != nil && !isNotFound(err) {
			return err
		}
		tag := newCreateTag()
		if err == nil {
			_, err = fs.st.Copy(ctx, key, info.ETag, key, s3store.Cond{Tag: tag, Attrs: attrs})
		} else {
			_, err = fs.st.Put(ctx, key, bytes.NewReader(nil), 0, s3store.Cond{IfNoneMatch: true, Tag: tag, Attrs: attrs})
		}
		if err != nil {
			if h, herr := fs.st.Head(ctx, key); herr == nil && h.Tag == tag {
				return nil
			}
		}
		if !s3store.IsConflict(err) {
			return err
		}
	}
	return err
}

// learnDirAttrs reads a directory's attributes from its marker (one
// HEAD); without a marker it shows the defaults.
func (fs *FS) learnDirAttrs(ctx context.Context, n *Node) {
	asked := time.Now()
	info, err := fs.st.Head(ctx, fs.dirKey(n.Path()))
	if err != nil && !isNotFound(err) {
		return // unknown still: the next lookup asks again
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if asked.Before(n.changedAtLocked()) {
		return
	}
	n.marker = err == nil
	if err == nil {
		n.applyAttrsLocked(info.Attrs)
	} else {
		n.applyAttrsLocked(nil)
	}
}

// rootAttrs reads the root's attributes from its marker (the --prefix's
// "prefix/" object, where chmod/chown/utimes of the root store them): one
// HEAD at mount. Without --prefix the root has no marker.
func (fs *FS) rootAttrs(root *Node) {
	if !fs.storesDirAttrs("") {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := fs.st.Head(ctx, fs.dirKey(""))
	if err != nil {
		if !isNotFound(err) {
			fs.log.Warn("cannot read the mount root's attributes from its marker; showing the defaults", "key", fs.dirKey(""), "err", err)
		}
		return
	}
	root.mu.Lock()
	root.marker = true
	root.applyAttrsLocked(info.Attrs)
	root.mu.Unlock()
}
