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
	unlinked := n.state == stateUnlinked
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
	n.wroteLocked(nb.Size, j.BaseETag, nb.ETag)
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
	n.state = stateNew
	if exists {
		n.state = stateInS3
	}
	n.size, n.etag, n.checked = remote, info.ETag, time.Now()
	n.changedAt = n.checked
	n.mu.Unlock()
	return nil
}
