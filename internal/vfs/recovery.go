package vfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/s3mount/s3mount/internal/publish"
	"github.com/s3mount/s3mount/internal/spool"
)

// settlePending asks S3 whether the publication the journal has in flight
// (its tag) is the object now. If so it is recorded as published; if not,
// it never happened and the next publication starts anew. did: it was
// ours. A HEAD that fails leaves it unsettled (err): publishing again
// without knowing could put the same bytes in twice. unchanged: nothing was
// written since the publication started; else a whole file is published
// again over the settled object (its bytes may have changed since).
func (n *Node) settlePending(ctx context.Context, f *spool.File, unchanged bool) (did bool, err error) {
	j := f.Journal()
	if n.fs.opt.Express != nil && j.Kind == spool.KindAppend && j.Exists && j.BaseSize > 0 {
		// Express appends keep the object's first tag: a lost append is
		// told by its bytes (alreadyOurs).
		if j.Pending <= j.BaseSize {
			return false, nil
		}
		if err := n.fs.alreadyOurs(ctx, n, f); err != nil {
			return false, fmt.Errorf("cannot tell whether the last publication landed: %w", err)
		}
		return f.Journal().BaseSize != j.BaseSize, nil
	}
	if j.PendingTag == "" {
		return false, nil
	}
	info, err := n.fs.st.Head(ctx, j.Key)
	switch {
	case isNotFound(err):
	case err != nil:
		return false, fmt.Errorf("cannot tell whether the last publication landed: %w", err)
	case info.Tag == j.PendingTag:
		n.fs.log.Info("a publication whose answer was lost is in S3", "key", j.Key, "size", info.Size)
		nb := publish.Base{Exists: true, Size: info.Size, ETag: info.ETag}
		if j.Kind == spool.KindAppend || unchanged {
			return true, n.recordPublished(f, j, nb)
		}
		err := f.Update(func(jj *spool.Journal) {
			jj.Exists, jj.BaseSize, jj.BaseETag = true, nb.Size, nb.ETag
			jj.Pending, jj.PendingTag = 0, ""
		})
		n.mu.Lock()
		n.wroteLocked(nb.Size, j.BaseETag, nb.ETag)
		n.mu.Unlock()
		return false, err
	}
	return false, f.Update(func(jj *spool.Journal) { jj.Pending, jj.PendingTag = 0, "" })
}

// settle settles a publication whose answer was lost before the journal's
// kind or base changes (truncate, edit, unlink, rename), so that what S3
// took is known first (n.pubMu held).
func (n *Node) settle(ctx context.Context) error {
	f := n.spoolFile()
	if f == nil {
		return nil
	}
	if _, err := n.settlePending(ctx, f, false); err != nil {
		n.fs.log.Warn("cannot change a file whose last publication's outcome is unknown (S3 unreachable)", "path", n.Path(), "err", err, "errno", "EIO")
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
	if j.UploadID != "" || j.PendingTag != "" {
		fs.abortUploads(j)
		f.Update(func(jj *spool.Journal) { jj.UploadID = "" })
	}
	fs.mu.Lock()
	n := fs.byPath[p]
	if n == nil {
		n = fs.newNodeLocked(p, false)
	}
	fs.mu.Unlock()
	n.mu.Lock()
	n.file = f
	n.logMode = j.Kind == spool.KindAppend
	n.state = stateNew
	if j.Exists {
		n.state = stateInS3
	}
	n.size, n.etag = j.BaseSize, j.BaseETag
	n.dirtySince = time.Now()
	n.mu.Unlock()
	go func() {
		ctx := context.Background()
		if fs.opt.Express != nil && j.Kind == spool.KindAppend && j.Exists {
			if err := fs.alreadyOurs(ctx, n, f); err != nil {
				fs.log.Warn("recovered spool file: cannot check the object", "key", j.Key, "err", err)
			}
		}
		if err := n.publish(ctx, true); err != nil {
			fs.log.Error("recovered spool file could not be published yet", "key", j.Key, "spool_file", f.DataPath(), "err", err)
			fs.schedule(n, time.Now().Add(fs.opt.UploadInterval))
			return
		}
		n.mu.Lock()
		idle := n.handles == 0
		n.mu.Unlock()
		if idle {
			n.dropClean()
		}
	}()
}

// abortUploads aborts the multipart uploads a crash left for a journal's
// key: the one it recorded, and any other of that key, since a crash right
// after CreateMultipartUpload left no id in the journal. (Another host's
// upload of the same key in flight fails and is retried by that host.)
func (fs *FS) abortUploads(j spool.Journal) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if j.UploadID != "" {
		_ = fs.st.AbortMultipart(ctx, j.Key, j.UploadID)
	}
	ups, err := fs.st.ListMultipartUploads(ctx, j.Key)
	if err != nil {
		fs.log.Warn("recovery: cannot list multipart uploads to abort", "key", j.Key, "err", err)
		return
	}
	for _, u := range ups {
		if u.Key == j.Key && u.UploadID != j.UploadID {
			_ = fs.st.AbortMultipart(ctx, u.Key, u.UploadID)
		}
	}
}

// finishRename (run first by every publication) completes a rename a crash interrupted (moveObject): the
// journal already names the new key; the copy may or may not have landed
// there (its tag tells; on S3 Express the new key exists once RenameObject
// ran), and the old key may still be there. The old key is deleted only
// while it is still the object that was copied.
func (n *Node) finishRename(ctx context.Context, f *spool.File) error {
	fs := n.fs
	j := f.Journal()
	if j.RenamedFrom == "" {
		return nil
	}
	warn := func(err error) error {
		fs.log.Warn("recovered spool file: cannot finish its rename yet", "key", j.Key, "old_key", j.RenamedFrom, "err", err)
		return fmt.Errorf("finishing the rename from %s: %w", j.RenamedFrom, err)
	}
	info, err := fs.st.Head(ctx, j.Key)
	landed := err == nil && (fs.opt.Express != nil || info.Tag == j.RenameTag)
	if err != nil && !isNotFound(err) {
		return warn(err)
	}
	if !landed {
		info, err = fs.copyObject(ctx, j.RenamedFrom, j.RenamedFromETag, j.BaseSize, j.Key, j.RenameTag)
		if err != nil {
			return warn(err)
		}
	}
	if err := f.Update(func(jj *spool.Journal) { jj.BaseETag, jj.Exists = info.ETag, true }); err != nil {
		return warn(err)
	}
	if fs.opt.Express == nil {
		if err := fs.deleteIfStill(ctx, j.RenamedFrom, j.RenamedFromETag); err != nil {
			return warn(err)
		}
	}
	n.mu.Lock()
	n.wroteLocked(j.BaseSize, info.ETag)
	n.mu.Unlock()
	return f.Update(func(jj *spool.Journal) { jj.RenamedFrom, jj.RenamedFromETag, jj.RenameTag = "", "", "" })
}

// alreadyOurs (S3 Express only: appends keep the object's first tag, so
// settlePending cannot tell) handles a crash between S3 accepting a publication and the
// journal recording it: if the object's bytes past our base are our own
// pending bytes, they are published already and must not be appended twice.
func (fs *FS) alreadyOurs(ctx context.Context, n *Node, f *spool.File) error {
	j := f.Journal()
	if j.Pending <= j.BaseSize {
		return nil // nothing was in flight
	}
	info, err := fs.st.Head(ctx, j.Key)
	if err != nil || info.ETag == j.BaseETag || info.Size <= j.BaseSize {
		return err
	}
	m := min(info.Size-j.BaseSize, j.Size-j.BaseSize)
	if j.Pending > j.BaseSize {
		m = min(m, j.Pending-j.BaseSize)
	}
	rc, err := fs.st.Get(ctx, j.Key, j.BaseSize, m, info.ETag)
	if err != nil {
		return err
	}
	theirs, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return err
	}
	ours := make([]byte, m)
	if _, err := f.ReadAt(ours, j.BaseSize); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if !bytes.Equal(theirs, ours) {
		return nil // someone else's bytes: publish will rebase
	}
	fs.log.Info("recovered spool file: S3 already has its first bytes", "key", j.Key, "bytes", m)
	n.mu.Lock()
	n.wroteLocked(info.Size, j.BaseETag, info.ETag) // extended by our bytes
	n.mu.Unlock()
	return f.Update(func(jj *spool.Journal) {
		jj.BaseSize += m
		jj.BaseETag = info.ETag
		jj.Exists = true
		jj.Pending = 0
		if info.Size > jj.BaseSize {
			// More bytes after ours (another host): move the rest after them.
			delta := info.Size - jj.BaseSize
			jj.Shift += delta
			jj.Size += delta
			jj.BaseSize = info.Size
			jj.LocalStart = info.Size
		}
	})
}
