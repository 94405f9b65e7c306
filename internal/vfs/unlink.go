package vfs

import (
	"context"
	"time"
)

// Unlink removes a file. A file S3 has needs --allow-delete; a file only
// this host has (never published) can always go. Open handles keep
// working; nothing is published for the file afterwards.
func (fs *FS) Unlink(ctx context.Context, dir *Node, name string) error {
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
	n.pubMu.Lock()
	defer n.pubMu.Unlock()
	n.mu.Lock()
	published := n.exists || (n.file != nil && n.file.Journal().Exists)
	p := n.path
	n.mu.Unlock()
	if published {
		if !fs.opt.AllowDelete {
			fs.log.Warn("refused to delete an object (mount with --allow-delete)", "key", fs.key(p), "errno", "EPERM")
			return ErrPerm
		}
		n.keepReadable(ctx)
		if err := fs.st.Delete(ctx, fs.key(p)); err != nil && !isNotFound(err) {
			return err
		}
		fs.keepParents(p)
	}
	fs.detach(n)
	return nil
}

// keepReadable brings an open file's published bytes into the spool before
// its object is deleted, so that open handles can still read it (POSIX
// unlink semantics), up to --max-edit-size.
func (n *Node) keepReadable(ctx context.Context) {
	n.wmu.Lock()
	defer n.wmu.Unlock()
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

// detach takes n off its name: it is unlinked or replaced.
func (fs *FS) detach(n *Node) {
	fs.sched.Cancel(n.ino)
	n.abortStream()
	fs.mu.Lock()
	fs.dropLocked(n)
	if fs.inoOf[n.path] == n.ino {
		delete(fs.inoOf, n.path) // a new file here is a new inode
	}
	if fs.opt.NegativeTTL > 0 {
		fs.negative[n.path] = time.Now().Add(fs.opt.NegativeTTL)
	}
	fs.mu.Unlock()
	n.mu.Lock()
	n.unlinked = true
	n.exists = false
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
