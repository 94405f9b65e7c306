package vfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/s3mount/s3mount/internal/publish"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/spool"
)

// RenameNoReplace is RENAME_NOREPLACE.
const RenameNoReplace = 1

// maxDirRenameKeys bounds a directory rename; above it rename answers
// EXDEV and mv falls back to copying.
const maxDirRenameKeys = 100

// Rename moves a file: server-side CopyObject + DeleteObject (needs
// --allow-delete, since the old key is deleted). Open handles and
// unpublished bytes follow the file to its new name.
func (fs *FS) Rename(ctx context.Context, odir *Node, oname string, ndir *Node, nname string, flags uint32) (err error) {
	defer fs.touchDirs(&err, odir, ndir)
	if fs.opt.ReadOnly {
		return ErrReadOnly
	}
	if flags&^RenameNoReplace != 0 {
		return syscall.EINVAL
	}
	src, err := fs.Lookup(ctx, odir, oname)
	if err != nil {
		return err
	}
	defer fs.touchDirs(&err, src) // a rename changes the file's ctime
	defer func(p string) {
		if err == nil && !src.dir {
			fs.releaseHeld(p)
		}
	}(src.Path())
	if err := fs.checkNewName(ndir, nname, src.dir); err != nil {
		return err
	}
	if err := fs.learnAttrs(ctx, src); err != nil {
		return err
	}
	dst, err := fs.Lookup(ctx, ndir, nname)
	if err != nil && err != ErrNotFound {
		return err
	}
	if dst == src {
		return nil
	}
	if dst != nil && flags&RenameNoReplace != 0 {
		return ErrExists
	}
	newPath := join(ndir.Path(), nname)
	if src.dir {
		return fs.renameDir(ctx, src, dst, newPath)
	}
	if dst != nil && dst.dir {
		return ErrIsDir
	}
	if err := fs.checkObjectFree(ctx, newPath, fs.compressedAfterRename(src, newPath)); err != nil {
		return err
	}

	// Both names are held, and the rename acts on the nodes that have
	// them now (a create or another rename may have come in between).
	unlockPaths := fs.lockPaths(src.Path(), newPath)
	defer unlockPaths()
	fs.mu.Lock()
	cur, curDst := fs.byPath.get(src.Path()), fs.byPath.get(newPath)
	fs.mu.Unlock()
	if cur != src {
		return ErrNotFound
	}
	switch {
	case curDst != nil:
		dst = curDst
	case dst != nil && dst.isUnlinked():
		dst = nil // unlinked or renamed away since the lookup
	}
	if dst == src {
		return nil
	}
	if dst != nil && (flags&RenameNoReplace != 0 || dst.dir) {
		if dst.dir {
			return ErrIsDir
		}
		return ErrExists
	}
	// The replaced file's publication must not land after ours: both
	// files' jobs are held, in inode order.
	unlock := lockJobs(src, dst)
	defer unlock()
	src.ws().wmu.Lock()
	defer src.ws().wmu.Unlock()
	src.mu.Lock()
	f := src.file
	oldPath := src.path
	srcExists, srcETag, srcSize := src.state == stateInS3, src.etag, src.size
	src.mu.Unlock()
	srcOldETag := srcETag
	var dstExists bool
	var dstETag string
	if dst != nil {
		// The replaced file's publication whose answer was lost is
		// settled first: the object this file replaces may be that one.
		if dst.spoolFile() != nil {
			dst.ws().wmu.Lock()
			err := dst.settle(ctx, true)
			if err == nil {
				// Its earlier renames' old keys go first, as for an
				// unlink: the replaced journal would forget them, and
				// their objects would be back under their old names
				// for good.
				err = dst.finishMove(ctx, true, false)
			}
			dst.ws().wmu.Unlock()
			if err != nil {
				return err
			}
		}
		dst.mu.Lock()
		dstExists, dstETag = dst.state == stateInS3, dst.etag
		dst.mu.Unlock()
	}
	if (srcExists || dstExists) && !fs.opt.AllowDelete {
		fs.log.Warn("refused to rename: it deletes the old key (mount with --allow-delete)", "key", fs.key(oldPath), "errno", "EPERM")
		return ErrPerm
	}
	newKey, oldKey := fs.key(newPath), fs.key(oldPath)
	renamed := false           // set once the rename happened: undo nothing after
	var unfinished *spool.File // the journal of a move whose old key is still to delete
	// A stream to the old key must not complete there.
	src.abortStream()
	if dst != nil {
		// Open handles of the replaced file read on from the spool, and
		// its spool file is never published once replaced.
		// Its opens wait until it is replaced: an open between the copy
		// for open handles and the replacement would read nothing.
		dst.ws().wmu.Lock()
		defer dst.ws().wmu.Unlock()
		dst.keepReadableLocked(ctx)
		undo, err := dst.markUnlinked(true)
		if err != nil {
			return err
		}
		defer func() {
			if !renamed {
				undo()
			}
		}()
	}
	// A file with a publication whose answer was lost is settled first:
	// the copy below is pinned to what S3 holds.
	if f != nil {
		if err := src.settle(ctx, true); err != nil {
			return err
		}
		if err := src.finishMove(ctx, true, true); err != nil {
			return err
		}
		src.mu.Lock()
		srcExists, srcETag, srcSize = src.state == stateInS3, src.etag, src.size
		src.mu.Unlock()
		srcOldETag = srcETag
		if srcExists && !fs.opt.AllowDelete {
			// The settled publication (its answer lost) is in S3 after
			// all: as above, its old key cannot be deleted.
			fs.log.Warn("refused to rename: it deletes the old key (mount with --allow-delete)", "key", oldKey, "errno", "EPERM")
			return ErrPerm
		}
	}
	if srcExists {
		// Copy what S3 has; local bytes past it move with the journal.
		src.mu.Lock()
		attrs := src.s3AttrsLocked()
		src.mu.Unlock()
		rec := f
		if rec == nil {
			var err error
			if rec, err = fs.moveRecord(oldKey, srcETag, srcSize); err != nil {
				return err
			}
		}
		etag, err := fs.pub.Move(ctx, rec, oldKey, srcETag, srcSize, newKey, attrs)
		if errors.Is(err, s3store.ErrPrecondition) && src.followAttrsCopy(ctx, srcETag, srcSize) {
			// The object is an attributes copy of the version copied (a
			// chmod's, its answer lost): the same bytes, copied from there.
			src.mu.Lock()
			srcETag = src.etag
			src.mu.Unlock()
			srcOldETag = srcETag
			etag, err = fs.pub.Move(ctx, rec, oldKey, srcETag, srcSize, newKey, attrs)
		}
		if errors.Is(err, publish.ErrMoveUnfinished) {
			// Moved; the old key's delete failed: the journal keeps it
			// for the file's next publication, which the job runs soon.
			fs.log.Warn("renamed; the old key is deleted later", "key", newKey, "old_key", oldKey, "err", err)
			unfinished, err = rec, nil
		}
		if errors.Is(err, publish.ErrMoveInDoubt) {
			fs.log.Warn("rename failed; S3 may have applied it: undone by the file's next publication", "key", oldKey, "new_key", newKey, "err", err, "errno", "EIO")
			if dstExists {
				// The copy may have replaced the other file's object:
				// deleting it would take that name too. Left as is.
				_ = rec.Update(func(j *spool.Journal) { j.MoveDoubt = nil })
			} else {
				fs.keepMoveDoubt(src, rec)
				rec = f // kept
			}
		}
		if rec != f && unfinished == nil {
			rec.Remove()
		}
		if err != nil {
			return err
		}
		srcETag = etag
	} else if f != nil {
		if !dstExists {
			// What S3 holds under the new name decides the publication's
			// condition, whatever this host knew of it.
			if info, err := fs.st.Head(ctx, newKey); err == nil {
				if !fs.opt.AllowDelete {
					fs.log.Warn("refused to rename over an object (mount with --allow-delete)", "key", newKey, "errno", "EPERM")
					return ErrPerm
				}
				dstExists, dstETag = true, info.ETag
			} else if !isNotFound(err) {
				return err
			}
		}
		old := f.Journal()
		err := f.Update(func(j *spool.Journal) {
			j.Key = newKey
			j.FormCheck = "" // a look at the old name's other form (publish.settleForms)
			switch {
			case dstExists:
				// Replacing an object: the first publication is a
				// whole-object overwrite of what was there, in its form.
				j.Exists, j.BaseETag, j.Base = true, dstETag, spool.BaseReplaced
				j.Kind, j.Dirty = spool.KindWhole, true
				j.Form = spool.FormByName
			case replacesBase(*j):
				j.Exists, j.BaseETag, j.Base = false, "", spool.BaseOwn
			}
			if !j.Exists {
				j.Form = fs.pub.FormAfterRename(oldKey, newKey)
			}
		})
		if err != nil {
			return err
		}
		fs.pub.KeepForm(f.Journal())
		if old.Exists && replacesBase(old) {
			// The old key holds an object this file was to overwrite
			// (it was renamed over it, or claimed one a rename left
			// there: publish.ClaimLeft): that object goes with the name.
			// If it cannot go, the rename fails: the name kept it, and
			// nothing would delete it later.
			if err := fs.pub.DeleteIfStill(ctx, oldKey, old.BaseETag); err != nil && !fs.pub.Gone(ctx, oldKey) {
				fs.log.Warn("cannot delete the object a renamed file was to replace: rename refused", "key", oldKey, "err", err, "errno", "EIO")
				_ = f.Update(func(j *spool.Journal) {
					j.Key, j.Exists, j.BaseETag, j.Kind, j.Dirty, j.Base = old.Key, old.Exists, old.BaseETag, old.Kind, old.Dirty, old.Base
				})
				return err
			}
		}
		fs.pub.ForgetForm(oldKey) // no file has that name now
	}
	renamed = true
	if dst != nil {
		fs.detachLocked(dst)
	}
	fs.mu.Lock()
	fs.dropLocked(src)
	fs.markGoneLocked(oldPath, time.Now())
	if fs.opt.NegativeTTL > 0 {
		fs.setNegativeLocked(oldPath, time.Now())
	}
	src.mu.Lock()
	src.path = newPath
	if srcExists {
		src.recopiedLocked(srcOldETag, srcETag)
		// S3 has the object under the new name: the node is in S3
		// whatever a lookup of the old name concluded meanwhile (the
		// kernel revalidates a name without the directory's lock; one
		// that asked after the old key's delete made the node new, and
		// the next open here started an empty file over the copy).
		src.state, src.etag = stateInS3, srcETag
	}
	src.checked = time.Now()
	src.ws().changedAt = src.checked
	record := unfinished != nil && src.file == nil
	if record {
		src.file, src.ws().logMode = unfinished, true // a move record, as recovery adopts it
	}
	src.mu.Unlock()
	fs.byPath.set(newPath, src)
	delete(fs.inoOf, oldPath)
	fs.inoOf[newPath] = src.ino
	delete(fs.negative, newPath)
	fs.mu.Unlock()
	fs.keepParents(oldPath) // its directory stays, as on a local file system
	if srcExists {
		fs.markParentsPublished(newPath)
	}
	if record {
		fs.cachedRecord(src, unfinished)
	}
	fs.log.Debug("renamed", "key", oldKey, "new_key", newKey, "in_s3", srcExists, "etag", srcETag, "replaced", dst != nil, "local", f != nil)
	if unfinished != nil {
		src.ws().job.After(0)
	} else if f != nil {
		src.mu.Lock()
		dirty := src.dirtyLocked()
		log := src.ws().logMode
		open := src.ws().writers > 0
		src.mu.Unlock()
		if dirty && (log || !open) {
			src.ws().job.After(fs.timing.CloseDelay)
		}
	}
	return nil
}

// replacesBase: none of j's base is the file's (a whole file, or an
// append with no base bytes: one that claimed an object a rename left,
// publish.ClaimLeft): its first publication overwrites that object, which
// belongs to the key, not to the file.
func replacesBase(j spool.Journal) bool { return j.Kind == spool.KindWhole || j.BaseSize == 0 }

// keepMoveDoubt gives src the spool file rec whose journal records a
// rename S3 may have applied though it failed (rec is src's own file or a
// move record), and runs its publication soon: it undoes what landed.
func (fs *FS) keepMoveDoubt(src *Node, rec *spool.File) {
	src.mu.Lock()
	if src.file == nil {
		src.file, src.ws().logMode = rec, true // a move record, as recovery adopts it
	}
	src.mu.Unlock()
	src.ws().job.After(0)
}

// compressedAfterRename: src renamed to newPath is stored compressed.
// One in S3 keeps its object's form; one not yet is compressed when
// either name is (publish.FormAfterRename).
func (fs *FS) compressedAfterRename(src *Node, newPath string) bool {
	oldKey := fs.key(src.Path())
	src.mu.Lock()
	local := src.file != nil && src.state != stateInS3
	src.mu.Unlock()
	if !local {
		return fs.pub.Compressed(oldKey)
	}
	return fs.pub.FormAfterRename(oldKey, fs.key(newPath)) == spool.FormCompressed
}

// moveRecord journals the move of an object that has no spool file, so
// that a crash between the copy to the new key and the delete of the old
// one is finished by recovery (publish.Publisher.FinishRename) instead of
// leaving the file under both names: a spool file with no local bytes
// (an append with nothing to add) whose journal Move fills in.
func (fs *FS) moveRecord(key, etag string, size int64) (*spool.File, error) {
	f, err := fs.newSpoolFile(appendJournal(key, etag, size))
	if err != nil {
		return nil, fs.spoolErr(err, strings.TrimPrefix(key, fs.opt.Prefix))
	}
	return f, nil
}

// appendJournal is the journal of the object at key (etag, size bytes)
// as a published append with no local bytes yet: an O_APPEND open's, and
// a move record's.
func appendJournal(key, etag string, size int64) spool.Journal {
	return spool.Journal{Key: key, Kind: spool.KindAppend, Exists: true, BaseSize: size, BaseETag: etag, Shift: size, LocalStart: size, Size: size}
}

// lockJobs takes the job tokens of a and b (b may be nil) in inode order,
// so that two renames never deadlock.
func lockJobs(a, b *Node) (unlock func()) {
	var bj *publish.Job
	if b != nil {
		bj = b.ws().job
	}
	return publish.HoldBoth(a.ws().job, bj)
}

// renameDir moves a directory: a local (mkdir'd, empty) one by name only; a
// small one key by key; a large one is EXDEV so that mv copies instead.
func (fs *FS) renameDir(ctx context.Context, src, dst *Node, newPath string) error {
	if strings.HasPrefix(newPath, src.Path()+"/") {
		// Into its own subtree (the kernel answers so before asking a
		// FUSE file system; the core's other callers get the same).
		return syscall.EINVAL
	}
	if dst != nil {
		if !dst.dir {
			return ErrNotDir
		}
		empty := true
		if err := fs.ReadDir(ctx, dst, func(DirEntry) bool { empty = false; return false }); err != nil {
			return err
		}
		if !empty {
			return ErrNotEmpty
		}
	}
	oldPath := src.Path()
	prefix := fs.dirKey(oldPath)
	var keys []s3store.ObjectInfo
	token := ""
	for {
		page, err := fs.st.List(ctx, prefix, "", token, 1000)
		if err != nil {
			return err
		}
		keys = append(keys, page.Objects...)
		if len(keys) > maxDirRenameKeys {
			return ErrCrossDev
		}
		if page.NextToken == "" {
			break
		}
		token = page.NextToken
	}
	// Files of this tree with local state would have to move too.
	fs.mu.Lock()
	for _, n := range fs.byPath.under(oldPath) {
		n.mu.Lock()
		busy := n.file != nil || n.handles > 0
		n.mu.Unlock()
		if busy {
			fs.mu.Unlock()
			return ErrCrossDev
		}
	}
	fs.mu.Unlock()
	if len(keys) > 0 && !fs.opt.AllowDelete && !(fs.opt.PosixMetadata && onlyMarkers(keys)) {
		return ErrPerm
	}
	newPrefix := fs.dirKey(newPath)
	for _, k := range keys {
		// Checked before anything moves: a key too long half-way would
		// leave the tree split between both names.
		if len(newPrefix)+len(k.Key)-len(prefix) > maxKeyLen {
			return ErrNameTooLong
		}
	}
	// The empty directory replaced may have a marker (its mode, owner and
	// mtime): the source's is copied over it, and what it held is kept
	// first, for a failed rename to put back (restoreMarker); a source
	// with none deletes it once renamed.
	var dstMarker *s3store.ObjectInfo
	srcMarker := slices.ContainsFunc(keys, func(k s3store.ObjectInfo) bool { return k.Key == prefix })
	if dst != nil {
		info, err := fs.st.Head(ctx, newPrefix)
		switch {
		case err == nil:
			dstMarker = &info
		case !isNotFound(err):
			return err
		}
	}
	// Every file key's move is journaled before the first copy: a crash
	// anywhere is finished by the next mount (the whole tree ends under
	// the new name), never left under both. (Not a directory's marker:
	// no file's; a marker whose delete fails leaves the old directory,
	// empty.)
	recs := make([]*spool.File, len(keys))
	removeRecs := func() {
		for _, r := range recs {
			if r != nil {
				r.Remove()
			}
		}
	}
	for i, k := range keys {
		if strings.HasSuffix(k.Key, "/") {
			continue
		}
		newKey := newPrefix + strings.TrimPrefix(k.Key, prefix)
		j := appendJournal(newKey, k.ETag, k.Size)
		j.RenamedFrom, j.RenamedFromETag = k.Key, k.ETag
		rec, err := fs.newSpoolFile(j)
		if err != nil {
			removeRecs()
			return fs.spoolErr(err, oldPath)
		}
		recs[i] = rec
	}
	copied := map[string]string{}
	for i, k := range keys {
		newKey := newPrefix + strings.TrimPrefix(k.Key, prefix)
		info, err := fs.copyDirKey(ctx, k, newKey)
		if left := (*s3store.LeftObjectError)(nil); errors.As(err, &left) {
			copied[newKey] = info.ETag // landed over an object it could not delete
		}
		if err != nil {
			// A copy whose answer was lost may have landed: the new
			// names were free, so an object of the source's size there
			// is it (but for the marker of the empty directory replaced,
			// which stays, its attributes put back).
			uctx := context.WithoutCancel(ctx)
			if _, ok := copied[newKey]; !ok {
				if h, herr := fs.st.Head(uctx, newKey); herr == nil && h.Size == k.Size {
					copied[newKey] = h.ETag
				}
			}
			if dstMarker != nil {
				delete(copied, newPrefix)
			}
			fs.undoDirCopies(uctx, keys[:i+1], recs, prefix, newPrefix, copied)
			if dstMarker != nil && srcMarker && slices.ContainsFunc(keys[:i+1], func(k s3store.ObjectInfo) bool { return k.Key == prefix }) {
				if rerr := fs.restoreMarker(uctx, newPrefix, *dstMarker); rerr != nil {
					fs.log.Error("rename of a directory failed, and the directory it was to replace may now show the renamed one's mode, owner and mtime: set them again", "key", newPrefix, "old_key", prefix, "err", rerr)
					dst.mu.Lock()
					dst.metaKnown = false // the next lookup reads what the marker has
					dst.mu.Unlock()
				}
			}
			return err
		}
		copied[newKey] = info.ETag
	}
	// Every copy landed: the tree is under its new name. An old key S3
	// will not delete now (down, or a policy refusing deletes) keeps its
	// record, hidden under the old name as a renamed file's is; the
	// file's job deletes it later.
	var left []*spool.File
	for i, k := range keys {
		err := fs.pub.DeleteIfStill(ctx, k.Key, k.ETag)
		newKey := newPrefix + strings.TrimPrefix(k.Key, prefix)
		switch {
		case err != nil && recs[i] == nil:
			fs.log.Warn("renamed a directory; the old directory stays, empty: its marker could not be deleted", "key", newKey, "old_key", k.Key, "err", err)
		case err != nil:
			fs.log.Warn("renamed a directory; an old key is deleted later", "key", newKey, "old_key", k.Key, "err", err)
			if cerr := publish.Copied(recs[i], copied[newKey]); cerr == nil {
				left = append(left, recs[i])
				continue
			}
		}
		if recs[i] != nil {
			recs[i].Remove()
		}
	}
	if dstMarker != nil && !srcMarker && (fs.opt.AllowDelete || fs.opt.PosixMetadata) {
		// The renamed directory has no marker: the replaced one's would
		// give it that directory's attributes (deleted as rmdir would).
		if err := fs.pub.DeleteIfStill(ctx, newPrefix, dstMarker.ETag); err != nil {
			fs.log.Warn("renamed a directory over an empty one whose marker could not be deleted: it shows that one's mode and owner", "key", newPrefix, "old_key", prefix, "err", err)
		}
	}
	for _, n := range fs.moveTree(src, dst, oldPath, newPath, copied, left) {
		n.ws().job.After(0)
	}
	fs.keepParents(oldPath) // its parent stays, as on a local file system
	return nil
}

// undoDirCopies undoes a directory rename whose copy failed: the copies
// it made (copied: new key -> ETag) are deleted, and the tree stays under
// its old name. A copy S3 will not delete now stays in the journal of
// its old key's file (its record, now keeping the copy to delete as a
// left key, hidden from listings), whose job deletes it later; a copied
// marker stays (an empty directory under the new name).
func (fs *FS) undoDirCopies(ctx context.Context, keys []s3store.ObjectInfo, recs []*spool.File, prefix, newPrefix string, copied map[string]string) {
	var kept []*Node
	for i, k := range keys {
		newKey := newPrefix + strings.TrimPrefix(k.Key, prefix)
		etag, ok := copied[newKey]
		if ok {
			err := fs.pub.DeleteIfStill(ctx, newKey, etag)
			if err == nil || recs[i] == nil {
				if err != nil {
					fs.log.Warn("rename of a directory failed; the directory marker it copied stays", "key", newKey, "err", err)
				}
				if recs[i] != nil {
					recs[i].Remove()
				}
				continue
			}
			fs.log.Warn("rename of a directory failed; a copy it made is deleted later", "key", newKey, "err", err)
			err = recs[i].Update(func(j *spool.Journal) {
				*j = appendJournal(k.Key, k.ETag, k.Size)
				j.LeftKeys = []spool.LeftKey{{Key: newKey, ETag: etag}}
			})
			if err == nil {
				fs.mu.Lock()
				n := fs.keepRecordLocked(strings.TrimPrefix(k.Key, fs.opt.Prefix), recs[i])
				fs.mu.Unlock()
				if n != nil {
					kept = append(kept, n)
					continue
				}
			}
			if err == nil {
				continue // the next mount deletes it
			}
		}
		if recs[i] != nil {
			recs[i].Remove()
		}
	}
	for _, r := range recs[len(keys):] {
		if r != nil {
			r.Remove()
		}
	}
	for _, n := range kept {
		n.ws().job.After(0)
	}
}

// copyDirKey copies the key k of a renamed directory to newKey. A marker
// the server will not copy (versitygw's POSIX backend refuses a copy
// onto a directory key: s3store.ErrDirectoryData) is put anew there, an
// empty object with the metadata the copy would have kept (the marker's
// attributes and tag, read with a HEAD), unconditional as the copy is; a
// marker changed since it was listed fails as the copy pinned to its ETag
// would. A lost answer is told as the copy's: by what is at newKey.
func (fs *FS) copyDirKey(ctx context.Context, k s3store.ObjectInfo, newKey string) (s3store.ObjectInfo, error) {
	info, err := fs.st.Copy(ctx, k.Key, k.ETag, newKey, s3store.Cond{})
	if !errors.Is(err, s3store.ErrDirectoryData) || !strings.HasSuffix(k.Key, "/") || k.Size != 0 {
		return info, err
	}
	h, herr := fs.st.Head(ctx, k.Key)
	switch {
	case herr != nil:
		return s3store.ObjectInfo{}, herr
	case h.ETag != k.ETag:
		return s3store.ObjectInfo{}, fmt.Errorf("directory marker %s changed since it was listed: %w", k.Key, s3store.ErrPrecondition)
	case h.Size != 0:
		return s3store.ObjectInfo{}, err
	}
	return fs.st.Put(ctx, newKey, bytes.NewReader(nil), 0, s3store.Cond{Tag: h.Tag, Attrs: h.Attrs})
}

// restoreMarker puts back the attributes the marker at key had (was),
// which a failed directory rename may have replaced by copying another
// directory's marker over it (a copy whose answer was lost lands all the
// same). A marker gone since is left gone.
func (fs *FS) restoreMarker(ctx context.Context, key string, was s3store.ObjectInfo) error {
	var err error
	for range 3 {
		var h s3store.ObjectInfo
		h, err = fs.st.Head(ctx, key)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			continue
		}
		if sameAttrs(h.Attrs, was.Attrs) {
			return nil
		}
		tag := newCreateTag()
		_, err = fs.st.Copy(ctx, key, h.ETag, key, s3store.Cond{Tag: tag, Attrs: was.Attrs})
		if err == nil {
			return nil
		}
		if h, herr := fs.st.Head(ctx, key); herr == nil && h.Tag == tag {
			return nil // its answer was lost
		}
	}
	return err
}

// sameAttrs: a and b (nil: none stored) show the same attributes.
func sameAttrs(a, b *s3store.Attrs) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID && a.Rdev == b.Rdev && a.Mtime.Equal(b.Mtime)
}

// keepRecordLocked hands the move record rec to the file at p (a node
// made for it if it has none), whose job then finishes what the record
// says is due; nil when p's node has a spool file of its own (the record
// then waits for the next mount). fs.mu held.
func (fs *FS) keepRecordLocked(p string, rec *spool.File) *Node {
	j := rec.Journal()
	n := fs.byPath.get(p)
	if n == nil {
		n = fs.newNodeLocked(p, false)
		n.mu.Lock()
		n.state, n.etag, n.size, n.checked = stateInS3, j.BaseETag, j.BaseSize, time.Now()
		n.mu.Unlock()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.file != nil || n.dir {
		return nil
	}
	n.file, n.ws().logMode = rec, true // a move record, as recovery adopts it
	return n
}

// moveTree gives the nodes of the tree at oldPath (src its directory)
// their paths under newPath, replacing dst, and the ETags of their copies
// there (copied: new key -> ETag; a copy's may differ from its source's),
// and hands each move record of an old key still to delete to its file's
// node; it returns those nodes (their jobs delete the old keys).
func (fs *FS) moveTree(src, dst *Node, oldPath, newPath string, copied map[string]string, left []*spool.File) []*Node {
	now := time.Now()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if dst != nil {
		fs.dropLocked(dst)
	}
	type moved struct {
		p string
		n *Node
	}
	var tree []moved // (the table must not change while under runs)
	for p, n := range fs.byPath.under(oldPath) {
		tree = append(tree, moved{p, n})
	}
	for _, m := range tree {
		fs.byPath.del(m.p)
		delete(fs.inoOf, m.p)
	}
	for _, m := range tree {
		n := m.n
		n.mu.Lock()
		n.path = newPath + strings.TrimPrefix(m.p, oldPath)
		if etag, ok := copied[fs.key(n.path)]; ok && !n.dir && n.state == stateInS3 {
			n.etag, n.checked = etag, now
			n.ws().changedAt = now
		}
		n.mu.Unlock()
		fs.byPath.set(n.path, n)
		fs.inoOf[n.path] = n.ino
	}
	fs.dropLocked(src)
	delete(fs.inoOf, oldPath)
	src.mu.Lock()
	src.path = newPath
	src.mu.Unlock()
	fs.byPath.set(newPath, src)
	fs.inoOf[newPath] = src.ino
	delete(fs.negative, newPath)
	var jobs []*Node
	for _, rec := range left {
		p := strings.TrimPrefix(rec.Journal().Key, fs.opt.Prefix)
		if n := fs.keepRecordLocked(p, rec); n != nil {
			jobs = append(jobs, n)
		}
	}
	return jobs
}

// onlyMarkers: keys are empty "dir/" markers (a tree of empty directories,
// which mkdir makes with POSIX metadata): moving them destroys no file's
// bytes, so it needs no --allow-delete.
func onlyMarkers(keys []s3store.ObjectInfo) bool {
	for _, k := range keys {
		if !strings.HasSuffix(k.Key, "/") || k.Size != 0 {
			return false
		}
	}
	return true
}
