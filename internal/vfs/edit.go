package vfs

import (
	"context"
	"errors"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/spool"
)

// truncateLocal sets a spooled file's size (n.wmu held).
func (n *Node) truncateLocal(ctx context.Context, size int64) error {
	n.mu.Lock()
	f := n.file
	pinned := n.readLocallyLocked()
	n.mu.Unlock()
	if size == 0 && !pinned {
		// ftruncate(0) (logrotate copytruncate) keeps no old byte: no need
		// to fetch the published part, however large the log is.
		// (A file the kernel reads directly keeps its data file: it has
		// every byte, so it is cut in place, as for a size above 0.)
		if err := n.fs.emptied(n, f); err != nil {
			return err
		}
	} else if err := n.makeWhole(ctx); err != nil {
		return err
	}
	n.mu.Lock()
	f = n.file
	n.mu.Unlock()
	n.abortStream()
	if err := f.Truncate(size); err != nil {
		return n.fs.spoolErr(err, n.Path())
	}
	n.mu.Lock()
	now := time.Now()
	n.attrsLocked().localMtime = now
	if n.ws().dirtySince.IsZero() {
		n.ws().dirtySince = now
	}
	log := n.ws().logMode
	n.mu.Unlock()
	if log {
		n.ws().job.After(n.fs.timing.Interval)
	}
	return nil
}

// makeWhole turns an append file into a whole-file edit: every byte must be
// local, so the published part not in the spool is fetched (n.wmu held).
func (n *Node) makeWhole(ctx context.Context) error {
	n.mu.Lock()
	f := n.file
	n.mu.Unlock()
	j := f.Journal()
	if j.Kind == spool.KindWhole {
		return nil
	}
	if j.LocalStart > 0 {
		if j.Shift != 0 {
			// Bytes sit at an offset; move them so data offset = logical.
			if err := n.fs.relocate(ctx, n, f); err != nil {
				return err
			}
			// relocate replaced the spool file: go on with the new one.
			n.mu.Lock()
			f = n.file
			n.mu.Unlock()
			j = f.Journal()
		}
		if j.LocalStart > 0 {
			if j.BaseSize > n.fs.opt.MaxEditSize {
				return ErrTooBig
			}
			if err := f.Update(func(jj *spool.Journal) { jj.LocalStart = 0 }); err != nil {
				return err
			}
			err := n.fs.fill(ctx, f, n.Path(), 0, j.LocalStart, j.BaseETag)
			if errors.Is(err, s3store.ErrPrecondition) && n.followAttrsCopy(ctx, j.BaseETag, j.BaseSize) {
				// The base is an attributes copy now: the same bytes.
				err = n.fs.fill(ctx, f, n.Path(), 0, j.LocalStart, f.Journal().BaseETag)
			}
			if err != nil {
				// Not all fetched (a full spool disk, a failed GET): the
				// bytes below LocalStart are not local after all, or reads
				// and the next edit would take the data file's holes for
				// them (zeros, published whole).
				if uerr := f.Update(func(jj *spool.Journal) { jj.LocalStart = j.LocalStart }); uerr != nil {
					n.fs.log.Error("cannot undo a failed fetch of a file's published bytes", "key", j.Key, "err", uerr)
				}
				if (isNotFound(err) || errors.Is(err, s3store.ErrPrecondition)) && n.isUnlinked() {
					// Deleted (or renamed over) while open, its published
					// bytes not kept (a full spool disk at the unlink): not
					// ENOENT or ESTALE, which write(2) never means.
					n.fs.log.Warn("cannot edit a file deleted while open: its published bytes were not kept", "key", j.Key, "errno", "EIO")
					return ErrIO
				}
				return err
			}
		}
	}
	return f.Update(func(jj *spool.Journal) { jj.Kind = spool.KindWhole; jj.Dirty = true })
}

// relocate rewrites a shifted spool file so that data offsets equal logical
// offsets (needed before an edit of an appended file).
func (fs *FS) relocate(ctx context.Context, n *Node, f *spool.File) error {
	j := f.Journal()
	// The copy is born unlinked (recovery drops a half-made copy and keeps
	// the original) and comes alive, as the newer of the two, once whole.
	// (Exists is false until then: recovery deletes the object of an
	// unlinked file that still exists, and this one is no unlink.)
	nf, err := fs.newSpoolFile(spool.Journal{Key: j.Key, Kind: j.Kind, BaseSize: j.BaseSize, BaseETag: j.BaseETag, LocalStart: j.LocalStart, Size: j.LocalStart, Unlinked: true})
	if err != nil {
		return fs.spoolErr(err, n.Path())
	}
	buf := make([]byte, 1<<20)
	for off := j.LocalStart; off < j.Size; {
		m, err := f.ReadAt(buf[:min(int64(len(buf)), j.Size-off)], off)
		if m > 0 {
			if _, err := nf.WriteAt(buf[:m], off); err != nil {
				nf.Remove()
				return fs.spoolErr(err, n.Path())
			}
			off += int64(m)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			nf.Remove()
			return err
		}
		if m == 0 {
			break
		}
	}
	// It comes alive as f was, in all but its bytes' layout (attributes
	// not yet published, a rename's old keys to delete, a publication in
	// flight, uploads to abort, forms): a file unlinked (or replaced)
	// while open stays unlinked, or recovery would publish it again.
	if err := nf.Update(func(jj *spool.Journal) {
		created := jj.Created
		*jj = j
		jj.Shift, jj.Created = 0, created
	}); err != nil {
		nf.Remove()
		return err
	}
	n.mu.Lock()
	n.file = nf
	n.mu.Unlock()
	return f.Remove()
}

// emptied replaces f by a new, empty spool file of the same key
// (ftruncate to 0). Rewriting f's journal as an empty whole file and then
// cutting its data is two steps: a crash between them left a journal
// calling the punched (zeroed) published bytes local, and recovery
// published the zeros. The new file is born unlinked and comes alive, as
// the newer of the two, in one journal write; the old one is removed
// after. A crash anywhere leaves f as it was or the empty file (n.wmu
// held). Like relocate's copy, it comes alive unlinked when f was.
func (fs *FS) emptied(n *Node, f *spool.File) error {
	j := f.Journal()
	// All of f's journal but its bytes: attributes not yet published, a
	// rename's old keys to delete or one in doubt to undo, uploads to
	// abort, forms.
	nj := j
	nj.Kind, nj.Dirty, nj.Shift, nj.LocalStart, nj.Size = spool.KindWhole, true, 0, 0, 0
	nj.Exists, nj.Unlinked = false, true
	nf, err := fs.newSpoolFile(nj)
	if err != nil {
		return fs.spoolErr(err, n.Path())
	}
	if err := nf.Update(func(jj *spool.Journal) { jj.Unlinked, jj.Exists = j.Unlinked, j.Exists }); err != nil {
		nf.Remove()
		return fs.spoolErr(err, n.Path())
	}
	n.mu.Lock()
	n.file = nf
	n.mu.Unlock()
	return f.Remove()
}

func (fs *FS) truncate(ctx context.Context, n *Node, size int64) error {
	// An append publication in flight rewrites the journal when it ends and
	// does not hold wmu: let it finish first (copytruncate of a busy log).
	unlockPub := sync.OnceFunc(n.ws().job.Hold())
	defer unlockPub()
	if err := n.settle(ctx, false); err != nil {
		return err
	}
	n.ws().wmu.Lock()
	n.mu.Lock()
	local := n.file != nil
	exists, cur, etag, handles := n.state == stateInS3, n.sizeLocked(), n.etag, n.ws().writers
	n.mu.Unlock()
	if !local {
		if size == cur && exists {
			n.ws().wmu.Unlock()
			return nil
		}
		if exists && !fs.opt.AllowOverwrite {
			n.ws().wmu.Unlock()
			fs.log.Warn("refused to truncate an existing object (mount with --allow-overwrite)", "key", fs.key(n.Path()), "errno", "EPERM")
			return ErrPerm
		}
		var err error
		if exists && fs.takeCached(ctx, n, cur, etag, size > 0) {
			// The kernel reads the cache file for an open: the cut
			// (truncateLocal, below) is made in it.
		} else if size == 0 || !exists {
			err = fs.attachFile(n, spool.Journal{Key: fs.key(n.Path()), Kind: spool.KindWhole, Dirty: true, Exists: exists, BaseETag: etag})
		} else {
			err = fs.copyIn(ctx, n, cur, etag)
		}
		if err != nil {
			n.ws().wmu.Unlock()
			return err
		}
	}
	if local && n.cutsPublished(size) {
		n.ws().wmu.Unlock()
		fs.log.Warn("refused to truncate bytes S3 already has (mount with --allow-overwrite)", "key", fs.key(n.Path()), "errno", "EPERM")
		return ErrPerm
	}
	err := n.truncateLocal(ctx, size)
	n.ws().wmu.Unlock()
	unlockPub()
	if err != nil {
		return err
	}
	if handles == 0 {
		// truncate(2) by path: nobody will close the file, publish now.
		if err := n.publish(ctx, true); err != nil {
			return ErrIO
		}
		n.dropClean()
	}
	return nil
}

// cutsPublished: truncating the spooled file to size would cut bytes S3
// already has, which needs --allow-overwrite as for an idle object.
func (n *Node) cutsPublished(size int64) bool {
	n.mu.Lock()
	f := n.file
	n.mu.Unlock()
	if f == nil || n.fs.opt.AllowOverwrite {
		return false
	}
	j := f.Journal()
	return j.Exists && size < j.BaseSize
}

// Allocate is fallocate(2), where it is cheap: FALLOC_FL_KEEP_SIZE reserves
// nothing (S3 has no space to reserve) and succeeds; mode 0 extends the
// file with zeros like ftruncate upwards. Punching holes and the other
// modes are EOPNOTSUPP.
func (h *Handle) Allocate(ctx context.Context, off, n int64, mode uint32) error {
	const keepSize = 0x01
	h.settled()
	if !h.write {
		return syscall.EBADF
	}
	switch mode {
	case keepSize:
		return nil
	case 0:
	default:
		return syscall.EOPNOTSUPP
	}
	node := h.node
	node.mu.Lock()
	size := node.sizeLocked()
	node.mu.Unlock()
	if off+n <= size {
		return nil
	}
	end := off + n
	return node.fs.Setattr(ctx, node, h, SetAttr{Size: &end})
}
