package vfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/s3mount/s3mount/internal/publish"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/spool"
)

// maxRebases bounds how often one publication re-reads the object after
// another writer got in first, before it gives up until the next interval.
const maxRebases = 10

var errGaveUp = errors.New("publication refused: data kept in the spool")

// publish makes S3 hold the file's local bytes. final publishes everything;
// otherwise (a scheduled publication of an open log) it stops at the last
// newline so readers elsewhere never see half a line.
func (n *Node) publish(ctx context.Context, final bool) error {
	// An interrupted close or fsync (a signal, even Go's preemption
	// SIGURG) must not abandon a publication S3 may already have applied:
	// the journal would miss it and the next write conflict with ourselves.
	ctx = context.WithoutCancel(ctx)
	n.pubMu.Lock()
	defer n.pubMu.Unlock()
	unmarked := final && n.markGapAtEnd()
	err := n.publishLocked(ctx, final)
	if err == nil && unmarked && !n.markGapAtEnd() {
		// The drop marker needed the room this publication freed.
		err = n.publishLocked(ctx, final)
	}
	return err
}

// publishLocked is publish with n.pubMu held.
func (n *Node) publishLocked(ctx context.Context, final bool) error {
	fs := n.fs
	n.mu.Lock()
	f := n.file
	unlinked := n.unlinked
	dirty := n.dirtyLocked()
	n.mu.Unlock()
	if f == nil || unlinked || !dirty {
		return nil
	}
	if fs.sp.SyncPublish() {
		_ = f.Sync()
	}
	start := time.Now()
	var err error
	var did bool
	for attempt := 0; ; attempt++ {
		did, err = n.publishOnce(ctx, f, final)
		if !errors.Is(err, publish.ErrConflict) {
			break
		}
		fs.count(func(s *Stats) { s.Conflicts++ })
		j := f.Journal()
		if fs.opt.Express != nil && j.Kind == spool.KindAppend {
			// A lost Express append: S3 may have taken our bytes and
			// refused the retry's offset. (Other buckets tell by the
			// publication's tag: settlePending.)
			if aerr := fs.alreadyOurs(ctx, n, f); aerr == nil {
				if jj := f.Journal(); jj.BaseSize != j.BaseSize || jj.BaseETag != j.BaseETag {
					fs.count(func(s *Stats) { s.Conflicts-- })
					continue
				}
			}
		}
		if j.Kind == spool.KindAppend && attempt >= maxRebases {
			// Another writer keeps appending first: nothing is wrong with
			// our bytes, try again at the next interval.
			err = fmt.Errorf("%w (lost %d rebase races in a row)", err, attempt+1)
			break
		}
		if j.Kind != spool.KindAppend {
			// Not a pure append: never overwrite another writer's change.
			msg := fmt.Sprintf("%v; the file's data is kept in %s", err, f.DataPath())
			f.Update(func(j *spool.Journal) { j.Conflict = msg })
			fs.log.Error("publication refused: another writer changed the object", "key", j.Key, "spool_file", f.DataPath(), "errno", "EIO")
			n.setPubErr(err)
			return fmt.Errorf("%w: %v", errGaveUp, ErrIO)
		}
		if rerr := n.rebase(ctx, f); rerr != nil {
			err = rerr
			break
		}
		fs.count(func(s *Stats) { s.Rebases++ })
	}
	if err != nil {
		fs.count(func(s *Stats) { s.PublishErrors++ })
		fs.log.Warn("publication failed; data kept in the spool", "key", f.Journal().Key, "err", err)
		n.setPubErr(err)
		return err
	}
	if did {
		fs.count(func(s *Stats) { s.Publications++; s.LastPublishDur = time.Since(start) })
	}
	n.setPubErr(nil)
	return nil
}

func (n *Node) setPubErr(err error) {
	n.mu.Lock()
	n.pubErr = err
	if err == nil {
		n.lastPub = time.Now()
	}
	n.mu.Unlock()
}

// publishOnce runs one strategy. Whole files hold the writer lock (their
// bytes may change under an upload); appends do not: writers only add bytes
// past what is being published.
func (n *Node) publishOnce(ctx context.Context, f *spool.File, final bool) (bool, error) {
	fs := n.fs
	j := f.Journal()
	if j.Kind == spool.KindWhole {
		n.wmu.Lock()
		defer n.wmu.Unlock()
		j = f.Journal()
	}
	// A publication whose answer was lost (or cut by a crash) is settled
	// first: it may be in S3 already.
	if err := n.finishRename(ctx, f); err != nil {
		return false, err
	}
	settled, err := n.settlePending(ctx, f, false)
	if err != nil {
		return false, err
	}
	to, err := n.takeEnd(f, final)
	if err != nil || to < 0 {
		return settled, err
	}
	j = f.Journal()
	cfg := fs.pcfg
	cfg.Tag = j.PendingTag
	cfg.OnUpload = func(id string) { f.Update(func(jj *spool.Journal) { jj.UploadID = id }) }
	base := publish.Base{Exists: j.Exists, Size: j.BaseSize, ETag: j.BaseETag}
	fs.log.Debug("publishing", "key", j.Key, "kind", j.Kind, "exists", j.Exists, "base_size", j.BaseSize, "base_etag", j.BaseETag, "to", to, "spool_file", f.ID())
	var nb publish.Base
	switch {
	case j.Kind == spool.KindWhole:
		if st := n.takeStream(to); st != nil {
			if err := f.Update(func(jj *spool.Journal) { jj.PendingTag = st.Tag() }); err != nil {
				st.Abort()
				return false, err
			}
			nb, err = st.Finish(ctx, f, to, base)
		} else {
			nb, err = publish.Whole(ctx, fs.st, j.Key, f, to, base, cfg)
		}
	case fs.opt.Express != nil:
		var parts int
		nb, parts, err = publish.ExpressAppend(ctx, fs.st, fs.opt.Express, j.Key, base, f, j.LocalStart, to, j.ExpressParts, cfg)
		if err == nil {
			f.Update(func(jj *spool.Journal) { jj.ExpressParts = parts })
		}
	default:
		nb, err = publish.Append(ctx, fs.st, j.Key, base, f, j.LocalStart, to, cfg)
	}
	if err != nil {
		fs.log.Debug("publication failed", "key", j.Key, "spool_file", f.ID(), "err", err)
		// The answer may be lost while S3 applied it: settle it now, or
		// before the next attempt if S3 cannot be asked.
		if did, serr := n.settlePending(ctx, f, true); did && serr == nil {
			return true, nil
		}
		// A CreateMultipartUpload whose answer was lost left an upload
		// no journal names.
		fs.abortUploads(f.Journal())
		return false, err
	}
	fs.log.Debug("published", "key", j.Key, "etag", nb.ETag, "size", nb.Size, "spool_file", f.ID())
	return true, n.recordPublished(f, j, nb)
}

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
		n.ownETags.add(j.BaseETag)
		n.ownETags.add(nb.ETag)
		n.exists, n.size, n.etag, n.checked = true, nb.Size, nb.ETag, time.Now()
		n.changedAt = n.checked
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

// recordPublished records that S3 holds [0, nb.Size) of the file (j is the
// journal the publication started from).
func (n *Node) recordPublished(f *spool.File, j spool.Journal, nb publish.Base) error {
	fs := n.fs
	pressure := fs.sp.DiskFull() || !fs.sp.Fits(1)
	// Published [0, to): the file continues as an append of that base.
	err := f.Update(func(jj *spool.Journal) {
		jj.Kind = spool.KindAppend
		jj.Exists, jj.BaseSize, jj.BaseETag = true, nb.Size, nb.ETag
		jj.Pending, jj.PendingTag, jj.Conflict, jj.Dirty = 0, "", "", false
	})
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.ownETags.add(j.BaseETag)
	n.ownETags.add(nb.ETag)
	n.exists, n.size, n.etag, n.checked = true, nb.Size, nb.ETag, time.Now()
	n.changedAt = n.checked
	if !n.dirtyLocked() {
		n.dirtySince = time.Time{}
	} else {
		n.dirtySince = time.Now()
	}
	n.mu.Unlock()
	fs.markParentsPublished(n.Path())
	// Bytes S3 now has and that will be composed server-side from now on
	// need not stay on local disk.
	if nb.Size >= s3store.MinPartSize || pressure {
		jj := f.Journal()
		if jj.LocalStart < nb.Size {
			_ = f.Punch(jj.LocalStart, nb.Size-jj.LocalStart)
		}
	}
	return nil
}

// takeEnd chooses where this publication ends and records it as the
// journal's Pending (-1: nothing to publish). An open log's publication
// ends at its last newline, so readers elsewhere never see half a line.
func (n *Node) takeEnd(f *spool.File, final bool) (int64, error) {
	n.pendMu.Lock()
	defer n.pendMu.Unlock()
	j := f.Journal()
	to := j.Size
	n.mu.Lock()
	appenders := n.appenders > 0
	n.mu.Unlock()
	switch {
	case final:
	case j.Kind == spool.KindAppend:
		to = lastLineEnd(f, j.BaseSize, j.Size)
		if to <= j.BaseSize {
			return -1, nil // no whole line yet
		}
	case appenders:
		// A log made whole (truncated under its writers): still whole
		// lines only while they write.
		// Never below what S3 has (an extending truncate keeps it as a
		// prefix): then it waits for a whole line, or the close.
		to = lastLineEnd(f, 0, j.Size)
		if to == 0 || j.Exists && to < min(j.BaseSize, j.Size) {
			return -1, nil
		}
	}
	if j.Kind == spool.KindAppend && j.Exists && to <= j.BaseSize {
		return -1, nil // nothing new
	}
	if err := f.Update(func(jj *spool.Journal) {
		jj.Pending = to
		jj.PubSeq++
		jj.PendingTag = fmt.Sprintf("%s:%d", f.ID(), jj.PubSeq)
	}); err != nil {
		return -1, err
	}
	return to, nil
}

// lastLineEnd is the offset just past the last '\n' in [from, to), or from.
func lastLineEnd(f *spool.File, from, to int64) int64 {
	start := max(from, f.Journal().LocalStart)
	buf := make([]byte, 64<<10)
	for end := to; end > start; {
		off := max(start, end-int64(len(buf)))
		b := buf[:end-off]
		if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
			return from
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return off + int64(i) + 1
		}
		end = off
	}
	return from
}

// rebase: another writer extended (or replaced) the object. Our unpublished
// bytes move to after whatever S3 holds now, so both writers' lines
// survive. Writers are held off while offsets move.
func (n *Node) rebase(ctx context.Context, f *spool.File) error {
	fs := n.fs
	j := f.Journal()
	info, err := fs.st.Head(ctx, j.Key)
	exists := true
	if isNotFound(err) {
		exists, err = false, nil
	}
	if err != nil {
		return err
	}
	n.wmu.Lock()
	defer n.wmu.Unlock()
	j = f.Journal()
	remote := info.Size
	if !exists {
		remote = 0
	}
	if j.LocalStart < j.BaseSize && exists {
		// Local copies of the old base are no longer the object's bytes.
		if err := f.Punch(j.LocalStart, j.BaseSize-j.LocalStart); err != nil {
			return err
		}
		j = f.Journal()
	}
	delta := remote - j.BaseSize
	fs.log.Info("object changed by another writer: appending after it", "key", j.Key, "remote_size", remote, "our_base", j.BaseSize)
	err = f.Update(func(jj *spool.Journal) {
		jj.Shift += delta
		jj.LocalStart = remote
		jj.Size += delta
		jj.BaseSize = remote
		jj.BaseETag = info.ETag
		jj.Exists = exists
		jj.Pending = 0
	})
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.exists, n.size, n.etag, n.checked = exists, remote, info.ETag, time.Now()
	n.changedAt = n.checked
	n.mu.Unlock()
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
	n.exists, n.size, n.etag = j.Exists, j.BaseSize, j.BaseETag
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
		old, err := fs.st.Head(ctx, j.RenamedFrom)
		switch {
		case isNotFound(err):
		case err != nil:
			return warn(err)
		case old.ETag == j.RenamedFromETag:
			if err := fs.st.Delete(ctx, j.RenamedFrom); err != nil && !isNotFound(err) {
				return warn(err)
			}
		}
	}
	n.mu.Lock()
	n.ownETags.add(info.ETag)
	n.exists, n.size, n.etag, n.checked = true, j.BaseSize, info.ETag, time.Now()
	n.changedAt = n.checked
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
	n.ownETags.add(j.BaseETag) // extended by our bytes: readers follow
	n.ownETags.add(info.ETag)
	n.exists, n.size, n.etag, n.checked = true, info.Size, info.ETag, time.Now()
	n.changedAt = n.checked
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
