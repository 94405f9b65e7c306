package publish

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/spool"
)

// Renames: an object moved to its new key, crash-safe through the spool journal.

// FinishRename (run first by every publication) completes a rename a crash
// interrupted (Move): the journal already names the new key; the copy may
// or may not have landed there (its tag tells; on S3 Express the new key
// exists once RenameObject ran), and the old key may still be there. The
// old key is deleted only while it is still the object that was copied.
// A rename reported failed that S3 may have applied is undone first
// (resolveMoveDoubt).
func (p *Publisher) FinishRename(ctx context.Context, f *spool.File, t File) error {
	if err := p.resolveMoveDoubt(ctx, f); err != nil {
		return err
	}
	if err := p.deleteLeftKeys(ctx, f); err != nil {
		return err
	}
	j := f.Journal()
	if j.RenamedFrom == "" {
		return nil
	}
	if j.RenameTag != renameCopied {
		if err := p.finishCopy(ctx, f, t); err != nil {
			return err
		}
	}
	// Also on a directory bucket: RenameObject removed the old key, but a
	// directory rename's moves are copies (and their deletes may not
	// have run). The file is under its new name: a delete that fails
	// does not hold its publications back (a bucket may refuse deletes
	// for good); it is tried again before each of them.
	if err := p.deleteLeft(ctx, j.RenamedFrom, j.RenamedFromETag); err != nil {
		p.log.Warn("renamed; cannot delete the old key yet (tried again at the next publication)", "key", j.Key, "old_key", j.RenamedFrom, "err", err)
		return nil
	}
	return f.Update(func(jj *spool.Journal) { jj.RenamedFrom, jj.RenamedFromETag, jj.RenameTag = "", "", "" })
}

// deleteLeftKeys deletes the old keys earlier renames of f handed on
// (Journal.LeftKeys, HandOnOldKey); those S3 still will not delete stay.
func (p *Publisher) deleteLeftKeys(ctx context.Context, f *spool.File) error {
	j := f.Journal()
	if len(j.LeftKeys) == 0 {
		return nil
	}
	var still []spool.LeftKey
	for _, k := range j.LeftKeys {
		if err := p.deleteLeftKey(ctx, k); err != nil {
			p.log.Warn("renamed; cannot delete an old key yet (tried again at the next publication)", "key", j.Key, "old_key", k.Key, "err", err)
			still = append(still, k)
		}
	}
	if len(still) == len(j.LeftKeys) {
		return nil
	}
	if err := f.Update(func(jj *spool.Journal) { jj.LeftKeys = still }); err != nil {
		return err
	}
	p.leftFormGone(j, f.Journal())
	return nil
}

// deleteLeftKey deletes one of LeftKeys: an old key as deleteLeft does,
// an object of the other form by its raw key. An object another writer
// changed since (another host appended to it, not knowing of the
// rename) is theirs and stays, as an old key does; for the other form
// that leaves the name in both forms, which the log says (README: not
// merged, with a warning).
func (p *Publisher) deleteLeftKey(ctx context.Context, k spool.LeftKey) error {
	if k.Object == "" {
		return p.deleteLeft(ctx, k.Key, k.ETag)
	}
	raw := p.st
	if z, ok := p.st.(Compressing); ok {
		raw = z.Raw()
	}
	defer p.lockKey(k.Key)()
	gone, err := s3store.DeleteAtETag(ctx, raw, k.Object, k.ETag)
	if err == nil && !gone {
		p.log.Warn("renamed over a file stored in the other form: another writer changed that file's object before it could be deleted, so it stays and S3 holds the name in both forms", "key", k.Key, "object", k.Object)
	}
	return err
}

// replacedLeft records in f's journal the object of the other form a
// rename's copy replaced but could not delete (s3store.LeftObjectError),
// for later publications to delete (LeftKeys); meanwhile the spool's
// index hides it.
func (p *Publisher) replacedLeft(f *spool.File, key string, left *s3store.LeftObjectError) error {
	p.log.Warn("renamed; cannot delete the replaced file's object in the other form yet (tried again at the next publication)", "key", key, "object", left.Object, "err", left.Err)
	if f == nil {
		return nil
	}
	err := f.Update(func(j *spool.Journal) {
		j.LeftKeys = append(slices.Clip(j.LeftKeys), spool.LeftKey{Key: key, ETag: left.ETag, Object: left.Object})
	})
	if err == nil {
		p.KeepForm(f.Journal()) // S3 holds the name in both forms meanwhile
	}
	return err
}

// HandOnOldKey lets f be renamed again while the old key of its last
// rename is still to delete (its copy landed; S3 failed or refused the
// delete): that delete moves to the journal's LeftKeys, which later
// publications do, and RenamedFrom is free for the new rename. A rename
// whose copy is not known to have landed, or undone in doubt, is not
// handed on (FinishRename first); nor past maxLeftKeys old keys.
func HandOnOldKey(f *spool.File) error {
	j := f.Journal()
	switch {
	case j.RenamedFrom == "":
		return nil
	case j.RenameTag != renameCopied || j.MoveDoubt != nil:
		return fmt.Errorf("its rename from %s is not finished", j.RenamedFrom)
	case len(j.LeftKeys) >= maxLeftKeys:
		return fmt.Errorf("%d old keys of earlier renames are still to delete", len(j.LeftKeys)+1)
	}
	return f.Update(func(jj *spool.Journal) {
		jj.LeftKeys = append(slices.Clip(jj.LeftKeys), spool.LeftKey{Key: jj.RenamedFrom, ETag: jj.RenamedFromETag})
		jj.RenamedFrom, jj.RenamedFromETag, jj.RenameTag = "", "", ""
	})
}

// maxLeftKeys bounds a journal's LeftKeys: logrotate's rotate N renames
// a file N times; a bucket that keeps refusing deletes beyond this many
// makes the next rename fail (EIO) rather than grow the journal.
const maxLeftKeys = 64

// renameCopied, as a journal's RenameTag, says the rename's copy is known
// to have landed: only the old key's delete is due. (The copy's own tag
// cannot tell once the file has been published again under its new key.)
const renameCopied = "copied"

// Copied records in a move record's journal that its copy landed at etag
// (a directory rename's, whose old key S3 would not delete yet): only the
// old key's delete is due, at the file's next publication.
func Copied(f *spool.File, etag string) error {
	return f.Update(func(j *spool.Journal) { j.BaseETag, j.Exists, j.RenameTag = etag, true, renameCopied })
}

// finishCopy makes sure the copy of an interrupted rename is at the
// journal's key (copying it again if it did not land) and records it.
func (p *Publisher) finishCopy(ctx context.Context, f *spool.File, t File) error {
	j := f.Journal()
	warn := func(err error) error {
		p.log.Warn("recovered spool file: cannot finish its rename yet", "key", j.Key, "old_key", j.RenamedFrom, "err", err)
		return fmt.Errorf("finishing the rename from %s: %w", j.RenamedFrom, err)
	}
	info, err := p.st.Head(ctx, j.Key)
	landed := err == nil && (p.express != nil || info.Tag == j.RenameTag)
	if err != nil && !errors.Is(err, s3store.ErrNotFound) {
		return warn(err)
	}
	if !landed {
		info, err = p.copyObject(ctx, j.RenamedFrom, j.RenamedFromETag, j.BaseSize, j.Key, s3store.Cond{Tag: j.RenameTag, Attrs: t.Attrs()})
		var left *s3store.LeftObjectError
		if errors.As(err, &left) {
			if err = p.replacedLeft(f, j.Key, left); err != nil {
				return warn(err)
			}
		}
		if errors.Is(err, s3store.ErrPrecondition) || errors.Is(err, s3store.ErrNotFound) {
			// Another writer replaced or deleted the old object before
			// our copy landed: the move cannot be finished as journaled,
			// and trying again cannot change that (before, it was
			// retried for ever). The file becomes a conflict: its local
			// bytes stay in the spool for `s3mount recover`.
			msg := fmt.Sprintf("the rename from %s could not be finished: another writer replaced or deleted it first (%v); the file's local data is kept in %s", j.RenamedFrom, err, f.DataPath())
			_ = f.Update(func(jj *spool.Journal) { jj.Conflict = msg })
			p.log.Error("rename refused: another writer changed the old object first", "key", j.Key, "old_key", j.RenamedFrom, "spool_file", f.DataPath(), "errno", "EIO")
			return fmt.Errorf("%w: %s", ErrGaveUp, msg)
		}
		if err != nil {
			return warn(err)
		}
	}
	if err := Copied(f, info.ETag); err != nil {
		return warn(err)
	}
	t.Wrote(j.BaseSize, info.ETag)
	return nil
}

// Move moves a published object to newKey for a rename and returns its
// ETag there. A spooled file's journal (f, if not nil) says where it is
// going before the copy starts (the copy carries a tag that names it), and
// remembers the old key until it is deleted: a crash anywhere in between
// is finished by FinishRename, never republished under the old name nor
// left under both.
func (p *Publisher) Move(ctx context.Context, f *spool.File, oldKey, etag string, size int64, newKey string, attrs *s3store.Attrs) (string, error) {
	tag := ""
	if f != nil {
		tag = fmt.Sprintf("%s:rename:%d", f.ID(), time.Now().UnixNano())
		err := f.Update(func(j *spool.Journal) {
			j.Key, j.RenamedFrom, j.RenamedFromETag, j.RenameTag = newKey, oldKey, etag, tag
			// The object leaves the name: no look at its other form.
			j.FormCheck = ""
		})
		if err != nil {
			return "", err
		}
	}
	info, err := p.copyObject(ctx, oldKey, etag, size, newKey, s3store.Cond{Tag: tag, Attrs: attrs})
	var left *s3store.LeftObjectError
	if errors.As(err, &left) {
		// The copy landed; the replaced file's object in the other
		// form is deleted later.
		err = p.replacedLeft(f, newKey, left)
	}
	unknown := false // S3 could not tell whether a failed move took effect
	if err != nil {
		// A copy (RenameObject) S3 applied can still fail here (its
		// answer lost, or a request after it): reverting the journal to
		// the old key would leave the copy under the new name (over the
		// file it replaced), and on a directory bucket send the file's
		// next appends to a key that is gone.
		moved, res := p.moveOutcome(ctx, oldKey, newKey, etag, tag)
		if res == moveApplied {
			info, err = moved, nil
		}
		unknown = res == moveUnknown
	}
	if err != nil {
		var doubt *spool.MoveDoubt
		if f != nil && unknown {
			// Neither landed nor refused as far as S3 says now: the next
			// publication looks again (resolveMoveDoubt).
			doubt = &spool.MoveDoubt{Key: newKey, Tag: tag, ETag: etag}
			err = fmt.Errorf("%w: %v", ErrMoveInDoubt, err)
		}
		if f != nil {
			_ = f.Update(func(j *spool.Journal) {
				j.Key, j.RenamedFrom, j.RenamedFromETag, j.RenameTag = oldKey, "", "", ""
				j.MoveDoubt = doubt
			})
		}
		return "", err
	}
	if f != nil {
		if err := f.Update(func(j *spool.Journal) { j.BaseETag, j.Exists, j.RenameTag = info.ETag, true, renameCopied }); err != nil {
			return "", err
		}
	}
	if p.express == nil {
		if err := p.deleteOld(ctx, oldKey, etag); err != nil {
			if f == nil {
				return "", err
			}
			// The copy stands: the file is under its new name. The
			// journal keeps the old key, which the file's next
			// publication deletes (FinishRename).
			return info.ETag, fmt.Errorf("%w: deleting the old key %s: %v", ErrMoveUnfinished, oldKey, err)
		}
	}
	if f != nil {
		_ = f.Update(func(j *spool.Journal) { j.RenamedFrom, j.RenamedFromETag, j.RenameTag = "", "", "" })
		if left != nil {
			// The journal keeps the replaced object to delete.
			return info.ETag, fmt.Errorf("%w: %v", ErrMoveUnfinished, left)
		}
	}
	return info.ETag, nil
}

// ErrMoveUnfinished: Move copied the object to its new key, but the old
// key (or the replaced file's object in the other form) is still to be
// deleted; the file's journal says so, and its next publication finishes
// the move.
var ErrMoveUnfinished = errors.New("rename: the old key is still to be deleted")

// ErrMoveInDoubt: a rename failed and S3 could not be asked whether it
// took effect all the same; the file's journal says where its object may
// be (Journal.MoveDoubt), and its next publication undoes what landed.
var ErrMoveInDoubt = errors.New("rename failed; whether S3 applied it is not known yet")

// resolveMoveDoubt undoes a rename of f that was reported failed though
// S3 may have applied it (Journal.MoveDoubt): a copy at the new key is
// deleted; on a directory bucket an object RenameObject moved there is
// moved back. Until S3 can tell, the publication waits (an error).
func (p *Publisher) resolveMoveDoubt(ctx context.Context, f *spool.File) error {
	j := f.Journal()
	d := j.MoveDoubt
	if d == nil {
		return nil
	}
	info, res := p.moveOutcome(ctx, j.Key, d.Key, d.ETag, d.Tag)
	switch {
	case res == moveUnknown:
		return fmt.Errorf("a failed rename to %s: %w", d.Key, ErrMoveInDoubt)
	case res == moveApplied && p.express != nil:
		p.log.Warn("a rename reported failed had moved the object: moving it back", "key", j.Key, "new_key", d.Key)
		if _, err := p.copyObject(ctx, d.Key, d.ETag, -1, j.Key, s3store.Cond{}); err != nil {
			if _, back := p.moveOutcome(ctx, d.Key, j.Key, d.ETag, ""); back != moveApplied {
				return fmt.Errorf("moving %s back from %s: %w", j.Key, d.Key, err)
			}
		}
	case res == moveApplied:
		p.log.Warn("a rename reported failed had copied the object: deleting the copy", "key", j.Key, "new_key", d.Key)
		if err := p.DeleteIfStill(ctx, d.Key, info.ETag); err != nil {
			return fmt.Errorf("deleting the copy a failed rename left at %s: %w", d.Key, err)
		}
	}
	return f.Update(func(jj *spool.Journal) { jj.MoveDoubt = nil })
}

// moveResult is what S3 says became of a move (a copy, RenameObject) that
// reported a failure.
type moveResult int

const (
	moveUnknown    moveResult = iota // S3 could not be asked, or cannot tell
	moveApplied                      // it took effect all the same (its answer lost)
	moveNotApplied                   // nothing moved
)

// moveOutcome asks S3 what became of a move of oldKey (at etag) to newKey
// that reported a failure; applied: info is what newKey holds. On a
// directory bucket the old key still at etag, or gone with the new one at
// etag, tell; elsewhere whether the new key holds a copy carrying tag. A
// move of no known version (directory bucket) or with no tag (elsewhere)
// is never told applied: any object at newKey is no proof of ours.
func (p *Publisher) moveOutcome(ctx context.Context, oldKey, newKey, etag, tag string) (s3store.ObjectInfo, moveResult) {
	if p.express != nil {
		old, err := s3store.HeadSettled(ctx, p.st, oldKey)
		switch {
		case err == nil && old.ETag == etag:
			return s3store.ObjectInfo{}, moveNotApplied
		case !errors.Is(err, s3store.ErrNotFound) || etag == "":
			return s3store.ObjectInfo{}, moveUnknown
		}
		info, err := s3store.HeadSettled(ctx, p.st, newKey)
		if err == nil && info.ETag == etag {
			return info, moveApplied
		}
		return s3store.ObjectInfo{}, moveUnknown
	}
	if tag == "" {
		return s3store.ObjectInfo{}, moveUnknown
	}
	info, err := s3store.HeadSettled(ctx, p.st, newKey)
	switch {
	case err == nil && info.Tag == tag:
		return info, moveApplied
	case err == nil, errors.Is(err, s3store.ErrNotFound):
		return s3store.ObjectInfo{}, moveNotApplied
	}
	return s3store.ObjectInfo{}, moveUnknown
}

// Gone reports whether S3 says key does not exist: a delete that reported
// a failure (its answer lost) took effect.
func (p *Publisher) Gone(ctx context.Context, key string) bool {
	_, err := s3store.HeadSettled(ctx, p.st, key)
	return errors.Is(err, s3store.ErrNotFound)
}

// deleteOld deletes a moved object's old key while it holds the version
// copied (another host's append since is theirs to keep). A delete whose
// answer was lost is one that happened when the key is gone.
func (p *Publisher) deleteOld(ctx context.Context, key, etag string) error {
	err := p.deleteLeft(ctx, key, etag)
	if err == nil {
		return nil
	}
	if p.Gone(ctx, key) {
		return nil
	}
	return err
}

// copyObject copies a whole object server side (RenameObject on directory
// buckets, which also removes the old key; through the compressed view,
// which renames a compressed file's object).
func (p *Publisher) copyObject(ctx context.Context, oldKey, etag string, size int64, newKey string, meta s3store.Cond) (s3store.ObjectInfo, error) {
	if z, ok := p.st.(Compressing); ok && p.express != nil {
		return z.RenameObject(ctx, p.express, oldKey, newKey)
	}
	if p.express != nil {
		if err := p.express.Rename(ctx, oldKey, newKey); err != nil {
			return s3store.ObjectInfo{}, err
		}
		return p.st.Head(ctx, newKey)
	}
	return Copy(ctx, p.st, oldKey, etag, size, newKey, meta)
}

// DeleteIfStill deletes key while its object is still at etag; gone or
// someone else's object now is no error. The DELETE carries the
// condition (If-Match: S3 decides atomically); the HEAD before it is for
// servers that ignore that header (MinIO does). The deletes of one key
// from this host take turns with each other and with a new file taking
// over an object a rename left there (deleteMu): a HEAD then a DELETE
// could otherwise take the new file's bytes.
func (p *Publisher) DeleteIfStill(ctx context.Context, key, etag string) error {
	if etag == "" {
		return nil // no version known: nothing of ours to delete
	}
	defer p.lockKey(key)()
	return p.deleteIfStillLocked(ctx, key, etag)
}

// deleteLeft deletes the object a rename moved away from key (at etag),
// unless a new file there claims it (ClaimLeft): that file replaces it
// at its first publication, or deletes it if it leaves the name before
// (vfs rename and unlink).
func (p *Publisher) deleteLeft(ctx context.Context, key, etag string) error {
	if etag == "" {
		return nil
	}
	defer p.lockKey(key)()
	if p.sp != nil && p.sp.Claimed(key, etag) {
		return nil
	}
	return p.deleteIfStillLocked(ctx, key, etag)
}

func (p *Publisher) deleteIfStillLocked(ctx context.Context, key, etag string) error {
	_, err := s3store.DeleteAtETag(ctx, p.st, key, etag)
	return err
}

// lockKey takes key's turn (deleteMu's stripe) and returns its release.
func (p *Publisher) lockKey(key string) (unlock func()) {
	mu := &p.deleteMu[maphash.String(deleteSeed, key)%deleteStripes]
	mu.Lock()
	return mu.Unlock
}

// deleteStripes is how many locks the keys DeleteIfStill deletes share.
const deleteStripes = 16

var deleteSeed = maphash.MakeSeed()

// ClaimLeft makes j, the journal of a file being created, take over the
// object a rename left at its key, its delete still due
// (spool.Spool.Leaving): the file's first publication replaces it
// (If-Match on its ETag) rather than be refused by it (If-None-Match) and
// rebase onto it — the rotated lines published twice — and the renamed
// file's late delete leaves it alone (deleteLeft), so a bucket that
// refuses deletes does not hold the rename open for good. A replace needs
// no DeleteObject permission. Not on a directory bucket, whose appends
// cannot start over an object (takeOverLeaving deletes it there).
func (p *Publisher) ClaimLeft(j *spool.Journal) {
	if p.express != nil || p.sp == nil || j.Exists {
		return
	}
	if etags := p.sp.Leaving(j.Key); len(etags) == 1 {
		// Replaced even if the file stays empty (else an empty log's
		// object would be the old one's bytes).
		j.Exists, j.BaseETag, j.BaseSize, j.Base = true, etags[0], 0, spool.BaseReplaced
	}
}

// takeOverLeaving runs before a publication of a file whose key has an
// object a rename left there (ClaimLeft), in turn with the renamed file's
// delete of it: once the journal claims the object (under the key's turn)
// that delete leaves it alone, and a delete already under way ends before
// this publication writes (a server that ignores If-Match on DELETE would
// otherwise delete the new bytes between its HEAD and DELETE). A file
// that did not claim it at creation (a spool from before) claims it here.
func (p *Publisher) takeOverLeaving(ctx context.Context, f *spool.File) error {
	if p.sp == nil {
		return nil
	}
	j := f.Journal()
	etags := p.sp.Leaving(j.Key)
	// A claim at creation does not take the key's turn: it may have read
	// the index just before the renamed file's delete finished (the
	// object then gone, or the delete just done and out of the index).
	claim := j.Exists && j.BaseSize == 0 && (j.Base == spool.BaseReplaced || p.sp.LeavingAt(j.Key, j.BaseETag, time.Time{}))
	if !claim && (len(etags) == 0 || (j.Exists && !slices.Contains(etags, j.BaseETag))) {
		return nil
	}
	defer p.lockKey(j.Key)()
	info, err := p.st.Head(ctx, j.Key)
	switch {
	case errors.Is(err, s3store.ErrNotFound) && claim:
		// Deleted: the file starts anew (If-None-Match). Before, a whole
		// file's write met 404 on its If-Match and was refused as
		// another writer's change.
		return f.Update(func(jj *spool.Journal) { jj.Exists, jj.BaseETag, jj.BaseSize = false, "", 0 })
	case errors.Is(err, s3store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("looking at the object a rename moved away from %s: %w", j.Key, err)
	case !slices.Contains(etags, info.ETag):
		return nil // another writer's since: the publication's condition meets it
	}
	if p.express != nil {
		if err := p.deleteIfStillLocked(ctx, j.Key, info.ETag); err != nil {
			return fmt.Errorf("deleting the object a rename moved away from %s: %w", j.Key, err)
		}
		return nil
	}
	if j.Exists && j.BaseETag == info.ETag {
		return nil
	}
	p.log.Info("a new file replaces the object a rename left under its name", "key", j.Key, "etag", info.ETag)
	return f.Update(func(jj *spool.Journal) {
		jj.Exists, jj.BaseETag, jj.BaseSize, jj.Base = true, info.ETag, 0, spool.BaseReplaced
	})
}
