package vfs

import (
	"context"
	"errors"
	"time"

	"github.com/s3mount/s3mount/internal/publish"
	"github.com/s3mount/s3mount/internal/spool"
)

// settle settles a publication whose answer was lost before the journal's
// kind or base changes (truncate, edit, unlink, rename), so that what S3
// took is known first (the job's token held). writersHeld: the caller
// holds n's writer lock (settling may move the journal's offsets, which
// it does with the writers held off).
func (n *Node) settle(ctx context.Context, writersHeld bool) error {
	f := n.spoolFile()
	if f == nil {
		return nil
	}
	if _, err := n.fs.pub.Settle(ctx, f, pubFile{n: n, writersHeld: writersHeld}, false); err != nil {
		n.fs.log.Warn("cannot change a file whose last publication's outcome is unknown (S3 unreachable)", "path", n.Path(), "err", err, "errno", "EIO")
		return ErrIO
	}
	return nil
}

// finishMove completes earlier renames of n's file whose old keys'
// deletes are still to do (the journal's RenamedFrom and LeftKeys), or
// undoes one S3 may have applied though it failed (MoveDoubt), before the
// journal changes again: an unlink would forget the old keys, leaving
// their objects under their old names for good. For a rename (renaming)
// an old key S3 will not delete yet is handed on to LeftKeys instead
// (publish.HandOnOldKey): the new rename needs RenamedFrom, and a bucket
// that refuses deletes must not stop logrotate's next shift. (The job's
// token held; writersHeld as for settle.)
func (n *Node) finishMove(ctx context.Context, writersHeld, renaming bool) error {
	f := n.spoolFile()
	if f == nil || !moveOpen(f.Journal()) {
		return nil
	}
	err := n.fs.pub.FinishRename(ctx, f, pubFile{n: n, writersHeld: writersHeld})
	if err == nil && renaming {
		err = publish.HandOnOldKey(f)
	}
	if j := f.Journal(); err == nil && (j.RenamedFrom != "" || j.MoveDoubt != nil || (!renaming && len(j.LeftKeys) > 0)) {
		err = errors.New("its old key could not be deleted")
	}
	if err != nil {
		n.fs.log.Warn("cannot change a file whose earlier rename is unfinished (its old key not deleted yet)", "path", n.Path(), "err", err, "errno", "EIO")
		return ErrIO
	}
	return nil
}

// newestPerKey keeps one recovered spool file per key. Two files for one
// key are left by a crash while one replaced the other; recovery hands
// them over oldest first, and the newer one is the file's content.
func (fs *FS) newestPerKey(recovered []*spool.File) []*spool.File {
	last := map[string]int{}
	for i, f := range recovered {
		last[f.Journal().Key] = i
	}
	var keep []*spool.File
	for i, f := range recovered {
		if k := f.Journal().Key; last[k] != i {
			newer := recovered[last[k]]
			fs.log.Warn("recovered two spool files for one key: keeping the newer", "key", k, "dropped", f.DataPath(), "kept", newer.DataPath())
			f.Remove()
			continue
		}
		keep = append(keep, f)
	}
	return keep
}

// adopt takes over a spool file a previous run left (crash, SIGKILL,
// reboot) and publishes it: appends as a rebase, whole files conditionally.
func (fs *FS) adopt(f *spool.File) {
	j := f.Journal()
	p := j.Key[len(fs.opt.Prefix):]
	// The crash may have cut a CreateMultipartUpload's answer.
	var since time.Time
	if j.PendingTag != "" && j.PendingSince != 0 {
		since = time.Unix(0, j.PendingSince)
	}
	fs.pub.RecoverUploads(f, since)
	fs.pub.KeepForm(j)
	fs.mu.Lock()
	n := fs.byPath.get(p)
	if n == nil {
		n = fs.newNodeLocked(p, false)
	}
	fs.mu.Unlock()
	n.mu.Lock()
	n.file = f
	n.ws().logMode = j.Kind == spool.KindAppend
	n.state = stateNew
	n.size = j.BaseSize
	if j.Exists && j.Base == spool.BaseOwn {
		n.state, n.etag = stateInS3, j.BaseETag
	}
	n.ws().dirtySince = time.Now()
	n.mu.Unlock()
	fs.adopting.Add(1)
	go func() {
		defer fs.adopting.Done()
		ctx := context.Background()
		if fs.opt.PosixMetadata && j.Exists && j.Base == spool.BaseOwn {
			// The object's attributes, or the publication would replace
			// them with the mount's defaults. (An object to replace is
			// not the file's: its attributes are not either.)
			info, err := fs.st.Head(ctx, j.Key)
			if isNotFound(err) && j.RenamedFrom != "" {
				// A rename's copy has not landed: it carries the old
				// object's attributes.
				info, err = fs.st.Head(ctx, j.RenamedFrom)
			}
			if err == nil {
				n.mu.Lock()
				n.applyAttrsLocked(info.Attrs)
				n.mu.Unlock()
			}
		}
		n.mu.Lock()
		n.journaledAttrsLocked(j)
		n.mu.Unlock()
		if fs.opt.Express != nil && j.Kind == spool.KindAppend && j.Exists {
			// Under the job's token, as any step of its publication: the
			// look at mapped bytes inside may make the file a whole edit,
			// and it may move the journal's offsets.
			release := n.ws().job.Hold()
			err := fs.pub.AlreadyOurs(ctx, f, pubFile{n: n})
			release()
			if err != nil {
				fs.log.Warn("recovered spool file: cannot check the object", "key", j.Key, "err", err)
			}
		}
		if err := n.publish(ctx, true); err != nil {
			fs.log.Error("recovered spool file could not be published yet", "key", j.Key, "spool_file", f.DataPath(), "err", err)
			return // its job scheduled the retry
		}
		n.mu.Lock()
		idle := n.handles == 0
		n.mu.Unlock()
		if idle {
			n.dropClean()
		}
	}()
}
