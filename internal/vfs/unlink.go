package vfs

import (
	"context"
	"time"

	"github.com/s3mount/s3mount/internal/spool"
)

// Unlink removes a file. A file S3 has needs --allow-delete; a file only
// this host has (never published) can always go. Open handles keep
// working; nothing is published for the file afterwards.
func (fs *FS) Unlink(ctx context.Context, dir *Node, name string) (err error) {
	defer fs.touchDirs(&err, dir)
	if fs.opt.ReadOnly {
		return ErrReadOnly
	}
	n, err := fs.Lookup(ctx, dir, name)
	if err != nil {
		return err
	}
	if n.dir {
		return ErrIsDir
	}
	defer func(p string) {
		if err == nil {
			fs.releaseHeld(p)
		}
	}(n.Path())
	unlockPath := fs.lockPaths(n.Path())
	defer unlockPath()
	fs.mu.Lock()
	cur := fs.byPath.get(n.Path())
	fs.mu.Unlock()
	if cur != n {
		return ErrNotFound // renamed or unlinked meanwhile
	}
	defer n.ws().job.Hold()()
	// Writers and opens wait until the name is gone: an open that came in
	// between the copy for open handles and the delete would read nothing.
	n.ws().wmu.Lock()
	defer n.ws().wmu.Unlock()
	// A publication whose answer was lost may have made the file exist.
	if err := n.settle(ctx, true); err != nil {
		return err
	}
	if err := n.finishMove(ctx, true, false); err != nil {
		return err
	}
	n.mu.Lock()
	published := n.state == stateInS3 || (n.file != nil && n.file.Journal().Exists)
	p := n.path
	n.mu.Unlock()
	if published {
		if !fs.opt.AllowDelete {
			fs.log.Warn("refused to delete an object (mount with --allow-delete)", "key", fs.key(p), "errno", "EPERM")
			return ErrPerm
		}
		n.keepReadableLocked(ctx)
	}
	// The spool says "unlinked" before the object goes, so that no restart
	// publishes the file again; a failed delete takes that back.
	undo, err := n.markUnlinked(false)
	if err != nil {
		return err
	}
	if published {
		// A delete whose answer was lost happened when the key is gone:
		// undoing the unlink then would show a file S3 no longer has.
		if err := fs.st.Delete(ctx, fs.key(p)); err != nil && !isNotFound(err) && !fs.pub.Gone(ctx, fs.key(p)) {
			undo()
			return err
		}
		n.deletedLocked()
	} else {
		fs.pub.ForgetForm(fs.key(p)) // a new file there takes its own form
	}
	fs.keepParents(p)
	fs.detachLocked(n)
	fs.log.Debug("unlinked", "key", fs.key(p), "in_s3", published)
	return nil
}

// finishUnlink completes an unlink a crash interrupted: the journal said
// "unlinked" before the object was deleted. The object is deleted only
// while it is still the one the file had published.
func (fs *FS) finishUnlink(j spool.Journal) {
	if !j.Exists || j.BaseETag == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := fs.pub.DeleteIfStill(ctx, j.Key, j.BaseETag); err != nil {
		fs.log.Warn("recovery: cannot finish deleting a file unlinked before the crash", "key", j.Key, "err", err)
	}
}

// markUnlinked records in the file's journal that it is gone: its bytes
// leave the buffer and recovery deletes them (and finishes deleting its
// object, unless replaced: a rename over it gave its key to another file).
// undo reverses it.
func (n *Node) markUnlinked(replaced bool) (undo func(), err error) {
	n.mu.Lock()
	f := n.file
	n.mu.Unlock()
	if f == nil {
		return func() {}, nil
	}
	exists := f.Journal().Exists
	mark := f.MarkUnlinked
	if replaced {
		mark = f.MarkReplaced
	}
	if err := mark(); err != nil {
		return nil, n.fs.spoolErr(err, n.Path())
	}
	return func() { _ = f.Update(func(j *spool.Journal) { j.Unlinked, j.Exists = false, exists }) }, nil
}

// deletedLocked: the unlink deleted n's object, so recovery has no delete
// to finish (finishUnlink). Its journal stops naming the object: its
// ETag would name a new file's too if that file had the same bytes (AWS's
// ETag of a single-part object is their MD5), and a crash would then
// delete that file (random seed 133943018). n.wmu held.
func (n *Node) deletedLocked() {
	n.mu.Lock()
	f := n.file
	n.mu.Unlock()
	if f != nil {
		_ = f.Update(func(j *spool.Journal) { j.Exists, j.BaseETag = false, "" })
	}
}

// keepReadableLocked brings an open file's published bytes into the spool
// before its object is deleted or replaced, so that open handles can still
// read it (POSIX unlink semantics), up to --max-edit-size (n.wmu held).
func (n *Node) keepReadableLocked(ctx context.Context) {
	n.mu.Lock()
	open, local := n.handles > 0, n.file != nil
	size, etag := n.size, n.etag
	n.mu.Unlock()
	if !open {
		return
	}
	var err error
	if local {
		err = n.makeWhole(ctx)
	} else {
		err = n.fs.copyIn(ctx, n, size, etag)
	}
	if err != nil {
		n.fs.log.Warn("deleting an open file: its open handles cannot read it any more", "path", n.Path(), "err", err)
	}
}

// detachLocked takes n off its name: it is unlinked or replaced (n.wmu
// held, so that an open or write in progress keeps the file it holds).
func (fs *FS) detachLocked(n *Node) {
	n.ws().job.Cancel()
	n.abortStream()
	fs.mu.Lock()
	fs.dropLocked(n)
	fs.markGoneLocked(n.path, time.Now())
	if fs.inoOf[n.path] == n.ino {
		delete(fs.inoOf, n.path) // a new file here is a new inode
	}
	if fs.opt.NegativeTTL > 0 {
		fs.setNegativeLocked(n.path, time.Now())
	}
	fs.mu.Unlock()
	n.mu.Lock()
	n.state = stateUnlinked
	n.ws().changedAt = time.Now()
	f := n.file
	idle := n.handles == 0
	if idle {
		n.file = nil
	}
	n.mu.Unlock()
	if f != nil && idle {
		f.Remove()
	}
}
