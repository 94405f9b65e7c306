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

// publish makes S3 hold the file's local bytes (its job: one at a time,
// retried with backoff when it fails). final publishes everything;
// otherwise (an open log) it stops at the last newline so readers
// elsewhere never see half a line.
func (n *Node) publish(ctx context.Context, final bool) error {
	err := n.ws().job.Publish(ctx, final)
	if errors.Is(err, publish.ErrGaveUp) {
		return fmt.Errorf("%w: %v", err, ErrIO)
	}
	return err
}

// countPublication adds a publication's result to the mount's statistics.
func (fs *FS) countPublication(res publish.Result, err error) {
	fs.count(func(s *Stats) {
		s.Conflicts += int64(res.Conflicts)
		s.Rebases += int64(res.Rebases)
		switch {
		case errors.Is(err, publish.ErrHeld):
			// A wait, not an error: it publishes once the other file
			// whose object the key is goes.
			s.PublishWaits++
		case err != nil:
			s.PublishErrors++
		case res.Published:
			s.Publications++
			s.LastPublishDur = res.Took
		}
	})
}

// pubFile is a node as its publication job sees it (publish.Subject).
type pubFile struct {
	n *Node
	// writersHeld: the caller holds n's writer lock (a rename or unlink
	// settling a lost answer): HoldWriters must not take it again.
	writersHeld bool
}

func (p pubFile) Next() publish.Work {
	n := p.n
	n.mu.Lock()
	defer n.mu.Unlock()
	f := n.file
	unlinked := n.state == stateUnlinked
	dirty := n.dirtyLocked()
	w := publish.Work{
		Spool:    f,
		Unmarked: n.ws().drops.writes > 0 && f != nil && !unlinked,
		Idle:     n.handles == 0,
		Log:      publish.LogState{DirtySince: n.ws().dirtySince, Size: n.sizeLocked(), Closed: n.ws().writers == 0, LastClose: n.ws().lastClose},
	}
	switch {
	case dirty, f != nil && !unlinked && journalDue(f.Journal()):
		w.Need = publish.NeedData
	case !unlinked && n.state == stateInS3 && (n.attrDirty || n.writtenMtimeDueLocked()):
		w.Need = publish.NeedAttrs
		w.Key, w.ETag, w.Size = n.fs.key(n.path), n.etag, n.sizeLocked()
		if f != nil {
			w.ETag = f.Journal().BaseETag
		}
	}
	return w
}

// journalDue: j's publication has work besides bytes, which keeps the
// file in the spool until it is done: a rename a crash cut to finish or
// undo, a look at the name's other form or a give-up a failure cut,
// multipart uploads whose abort failed (dropping the journal would forget
// them and leave their parts billed).
func journalDue(j spool.Journal) bool { return moveOpen(j) || formDue(j) || j.AbortsDue() }

// moveOpen: j's file has a rename its publication is to finish (old
// keys to delete) or to undo (one reported failed that S3 may have done).
func moveOpen(j spool.Journal) bool {
	return j.RenamedFrom != "" || len(j.LeftKeys) > 0 || j.MoveDoubt != nil
}

// formDue: j's file has a look at its name's other form or a give-up of
// its object still to do after its first publication (publish/forms.go).
func formDue(j spool.Journal) bool { return j.FormCheck != "" || j.Yielding != nil }

func (p pubFile) MarkGap() bool { return p.n.markGapAtEnd() }

func (p pubFile) Clean() { p.n.dropClean() }

func (p pubFile) End(f *spool.File, final bool) (int64, error) {
	p.n.mu.Lock()
	if la := p.n.la; la != nil {
		// A new attempt carries no attributes until it takes them
		// (Attrs): an earlier one that took them did not store them (a
		// new file's put refused by another host's object, then
		// appended to it: a directory bucket's append keeps that
		// object's metadata, and the chmod made here was lost).
		la.attrPubGen, la.pubMtime = -1, time.Time{}
	}
	p.n.mu.Unlock()
	return p.n.takeEnd(f, final)
}

func (p pubFile) HoldWriters() func() {
	if p.writersHeld {
		return func() {}
	}
	p.n.ws().wmu.Lock()
	return p.n.ws().wmu.Unlock
}

func (p pubFile) Stream(to int64) *publish.Stream { return p.n.takeStream(to) }

func (p pubFile) HeldBy() string {
	h, ok := p.n.fs.st.(objectHolders)
	if !ok {
		return ""
	}
	return p.n.fs.localHolder(p.n.Path(), false, h.Codec())
}

func (p pubFile) SelfCopy() (done func()) {
	n := p.n
	n.mu.Lock()
	n.ws().selfCopies++
	n.mu.Unlock()
	return func() {
		n.mu.Lock()
		n.ws().selfCopies--
		n.mu.Unlock()
	}
}

func (p pubFile) MapOpen() bool {
	p.n.mu.Lock()
	defer p.n.mu.Unlock()
	return p.n.ws().mapOpens > 0
}

func (p pubFile) Attrs() *s3store.Attrs {
	p.n.mu.Lock()
	defer p.n.mu.Unlock()
	a := p.n.s3AttrsLocked()
	if la := p.n.la; la != nil || a != nil {
		la = p.n.attrsLocked()
		la.attrPubGen = la.attrGen
		if a != nil {
			la.pubMtime = a.Mtime
		}
	}
	return a
}

func (p pubFile) Recopied(from, to string) {
	p.n.mu.Lock()
	p.n.recopiedLocked(from, to)
	p.n.mu.Unlock()
}

// recopiedLocked: S3's object at ETag to has the bytes it had at from (a
// rename's copy, a copy onto itself that stored attributes): a cache file
// the kernel reads for n's opens holds that version too, and a write can
// still take it into the spool for them (takeCached). n.mu held.
func (n *Node) recopiedLocked(from, to string) {
	if b := n.ws().cached; b != nil && b.spool == nil && b.etag == from {
		b.etag = to
	}
	n.ws().ownETags.add(from)
	n.ws().ownETags.add(to)
}

func (p pubFile) Wrote(size int64, etags ...string) {
	p.n.mu.Lock()
	p.n.wroteLocked(size, etags...)
	p.n.mu.Unlock()
}

func (p pubFile) Published(size int64, etags ...string) {
	n := p.n
	n.mu.Lock()
	n.wroteLocked(size, etags...)
	if la := n.attrsOrNoneLocked(); la.attrGen == la.attrPubGen {
		n.attrDirty = false // S3 has the attributes this publication carried
	}
	if la := n.la; la != nil && !la.pubMtime.IsZero() {
		la.storedMtime, la.pubMtime = la.pubMtime, time.Time{}
	}
	n.expressMtimeDueLocked()
	n.metaKnown = true
	// A log written during the publication is dirty again: it gets the
	// next deadline here. Its writes set one only when it goes dirty,
	// and a close's or fsync's publication runs outside the scheduler
	// (which sets the next one itself): its lines would wait for the
	// last close, or for a full buffer, and a write waiting for room
	// that only they hold would wait for good.
	logDue := false
	if !n.dirtyLocked() {
		n.ws().dirtySince = time.Time{}
	} else {
		n.ws().dirtySince = time.Now()
		logDue = n.ws().logMode
	}
	n.mu.Unlock()
	if logDue {
		n.ws().job.After(n.fs.timing.Interval)
	}
	n.fs.markParentsPublished(n.Path())
}

// expressMtimeDueLocked: in a directory bucket an append keeps the
// object's metadata, so the mtime writes stamped since the object's was
// stored is not in S3: once the last writer closed and the data is
// published, it is due as a chmod is (one copy onto itself, as a touch
// costs), not at every append of an open log; at the unmount also with a
// writer still counted (FS.ending). Reports whether it is due. n.mu held.
func (n *Node) expressMtimeDueLocked() bool {
	if n.fs.opt.Express == nil || !n.fs.opt.PosixMetadata || n.state != stateInS3 || n.dirtyLocked() || n.ws().writers > 0 && !n.fs.ending.Load() {
		return false
	}
	la := n.attrsLocked()
	if mt := n.attrLocked().Mtime; !mt.Equal(la.storedMtime) {
		n.attrDirty = true
		la.attrGen++
	}
	return n.attrDirty
}

// writtenMtimeDueLocked: the mtime of writes made here is due (Express)
// though the last close found the data not all in S3 yet: bytes still to
// compare with S3 after a mapping, whose comparison publishes nothing
// when they are the same (random seed 969115649). Only for a file
// written or touched here: an object without a stored mtime is not
// copied for one. n.mu held.
func (n *Node) writtenMtimeDueLocked() bool {
	return n.la != nil && !n.la.localMtime.IsZero() && n.expressMtimeDueLocked()
}

func (p pubFile) Rebased(exists bool, size int64, etag string, attrs *s3store.Attrs, move func() error) error {
	n := p.n
	n.mu.Lock()
	defer n.mu.Unlock()
	// A reader takes the journal's local start and the node's object
	// under n.mu: between the two changes it read the new start with the
	// old object, short (as an empty file, before a new file's first
	// publication).
	if err := move(); err != nil {
		return err
	}
	if exists {
		n.applyAttrsLocked(attrs)
	}
	n.state = stateNew
	if exists {
		n.state = stateInS3
	}
	n.size, n.etag, n.checked = size, etag, time.Now()
	n.ws().changedAt = n.checked
	return nil
}

// takeEnd chooses where this publication ends and records it as the
// journal's Pending (-1: nothing to publish). An open log's publication
// ends at its last newline, so readers elsewhere never see half a line;
// one not final (the schedule's) publishes everything once no writer has
// the file open.
func (n *Node) takeEnd(f *spool.File, final bool) (int64, error) {
	n.ws().pendMu.Lock()
	defer n.ws().pendMu.Unlock()
	j := f.Journal()
	to := j.Size
	n.mu.Lock()
	appenders, log := n.ws().appenders > 0, n.ws().logMode
	// Whether writers are open is asked here, after the journal was read,
	// not when the publication was due: a write in that journal came
	// from a handle counted before it wrote, so an appender that opened
	// since and wrote half a line is seen (random seed 622419381).
	final = final || n.ws().writers == 0
	n.mu.Unlock()
	switch {
	case final:
	case j.Kind == spool.KindAppend && log:
		// A log: whole lines only. (Every file continues as an append
		// once published; one never written through O_APPEND is
		// published as far as it is, a version it had, when a retry
		// or a full buffer publishes it under its writers.)
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
	if j.Kind == spool.KindAppend && j.Exists && to <= j.BaseSize && j.Base != spool.BaseReplaced {
		return -1, nil // nothing new (Dirty: a claimed object to replace)
	}
	if err := f.Update(func(jj *spool.Journal) {
		jj.Pending = to
		jj.PubSeq++
		jj.PendingTag = fmt.Sprintf("%s:%d", f.ID(), jj.PubSeq)
		jj.PendingSince = time.Now().UnixNano()
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
