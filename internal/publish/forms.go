package publish

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/spool"
)

// Two hosts, one name, two forms (--compress): before a file's first
// publication adoptForm looks for the name's other form, but S3 has no
// transaction over two keys, and another host may create it between that
// look and this host's create-only write. So every host looks again after
// its write has created its object (journal FormCheck), and a host that
// sees both applies one rule:
//
//   - it gives its own object up: it deletes it while it still holds only
//     its own bytes (If-Match on the ETag its creation had; all of them
//     are still in the spool), and the file joins the other object, its
//     bytes published again after that object's (journal Yielding until
//     then, so that a crash or a lost answer in between loses nothing);
//   - if the other object is gone too, its host gave it up at the same
//     moment: then both store the name plain (the tie's rule, the same on
//     every host), one creating it, the other joining it.
//
// Of two hosts whose writes both landed, at least one sees both (each
// looks after its own write). Each host deletes only an object of its own
// bytes, and publishes them once elsewhere: nothing is lost or written
// twice. An object another host has already joined is not given up (its
// bytes are in it): that host looks after its own first publication too,
// and the file's host warns. A whole file is not merged: both objects stay,
// with a warning.

// maxFormRounds bounds the looks and give-ups of one publication (each
// round another host gave its object up at the same moment); a look
// still due is taken before the next publication.
const maxFormRounds = 4

// formCheckDue is the check f's first publication leaves to ask (journal
// j as the publication began): its kind when it created the object and
// the view asks S3 about that name, else "".
func (p *Publisher) formCheckDue(j spool.Journal) spool.Kind {
	z, ok := p.st.(Compressing)
	if !ok || j.Exists || !z.AsksOtherForm(j.Key, j.Kind == spool.KindAppend) {
		return ""
	}
	return j.Kind
}

// settleForms asks, after f's first publication created its object,
// whether another host created the name in the other form meanwhile, and
// gives this host's object up if so (see above); it finishes a give-up a
// crash or a failure left. moved: the file's bytes are to be published
// again, in the other form.
func (p *Publisher) settleForms(ctx context.Context, f *spool.File, t File) (moved bool, err error) {
	z, ok := p.st.(Compressing)
	j := f.Journal()
	if !ok || (j.FormCheck == "" && j.Yielding == nil) {
		return false, nil
	}
	if j.Yielding == nil {
		asked := time.Now()
		other, there, err := z.OtherForm(ctx, j.Key, j.FormCheck == spool.KindAppend)
		if err != nil {
			return false, fmt.Errorf("asking whether another host created %s in the other form: %w", j.Key, err)
		}
		if !there || p.ownLeftover(j.Key, other.ETag, asked) {
			// (A rename on this host left that object; its delete
			// is due: no other host's copy.)
			return false, f.Update(func(jj *spool.Journal) { jj.FormCheck = "" })
		}
		obj, compressed := z.Compressed(j.Key)
		ours, theirs := formName(compressed), formName(!compressed)
		switch {
		case j.FormCheck != spool.KindAppend:
			p.log.Warn(fmt.Sprintf("%s is in S3 both %s (written whole by this host) and %s (another host's, created at the same time): a whole file is not merged, both objects stay", j.Key, ours, theirs), "key", j.Key, "ours", obj, "theirs", other.Key)
			return false, f.Update(func(jj *spool.Journal) { jj.FormCheck = "" })
		case j.LocalStart > 0 || !j.Exists:
			p.log.Warn(fmt.Sprintf("%s is in S3 both %s (this host's) and %s (another host's, created at the same time): this file's published bytes are no longer in the spool to move, both objects stay", j.Key, ours, theirs), "key", j.Key, "ours", obj, "theirs", other.Key)
			return false, f.Update(func(jj *spool.Journal) { jj.FormCheck = "" })
		}
		if err := f.Update(func(jj *spool.Journal) {
			jj.FormCheck = ""
			jj.Yielding = &spool.Yielding{Object: obj, ETag: j.BaseETag}
		}); err != nil {
			return false, err
		}
	}
	return p.yield(ctx, f, t)
}

func formName(compressed bool) string {
	if compressed {
		return "compressed"
	}
	return "plain"
}

// yield deletes the object the journal's Yielding names while it is still
// the one this file created, then moves the file onto the name's other
// object (or, that one gone too, to the plain form, not yet in S3).
func (p *Publisher) yield(ctx context.Context, f *spool.File, t File) (bool, error) {
	z := p.st.(Compressing)
	j := f.Journal()
	y := *j.Yielding
	if y.Object != j.Key && y.Object != j.Key+z.Codec().Ext() {
		// Renamed since: the object left the name with the rename, which
		// deletes it at the old key.
		return false, f.Update(func(jj *spool.Journal) { jj.Yielding = nil })
	}
	gone, err := p.deleteOwn(ctx, z.Raw(), y)
	compressed := y.Object != j.Key // the object to give up is compressed
	ours, theirs := formName(compressed), formName(!compressed)
	if errors.Is(err, s3store.ErrAccessDenied) {
		// A bucket that refuses deletes: asking again cannot change that,
		// and would hold the file's publications back for good.
		p.log.Warn(fmt.Sprintf("another host created %s %s while this host created it %s; the bucket refused to delete this host's object %s, so both objects stay", j.Key, theirs, ours, y.Object), "key", j.Key, "object", y.Object, "err", err)
		return false, f.Update(func(jj *spool.Journal) { jj.Yielding = nil })
	}
	if err != nil {
		return false, fmt.Errorf("giving up %s for the other form: %w", y.Object, err)
	}
	if !gone {
		p.log.Warn(fmt.Sprintf("another host created %s %s while this host created it %s, and another host joined this host's object %s since: it is kept (their lines are in it); a host that joined it looks for the other form after its own first publication", j.Key, theirs, ours, y.Object), "key", j.Key, "object", y.Object)
		return false, f.Update(func(jj *spool.Journal) { jj.Yielding = nil })
	}
	p.log.Info(fmt.Sprintf("another host created %s %s while this host created it %s: this host gave its object up and stores the file %s", j.Key, theirs, ours, theirs), "key", j.Key, "given_up", y.Object)
	defer t.HoldWriters()()
	j = f.Journal()
	z.Keep(j.Key, !compressed)
	info, err := p.st.Head(ctx, j.Key)
	exists := true
	switch {
	case errors.Is(err, s3store.ErrNotFound):
		// The other host gave its object up at the same moment: the
		// tie's rule, plain, which it applies too.
		exists, compressed = false, true
		z.Keep(j.Key, false)
		p.log.Info(fmt.Sprintf("the other host gave its object of %s up too: the file is stored plain", j.Key), "key", j.Key)
	case err != nil:
		return false, fmt.Errorf("looking at %s's other form: %w", j.Key, err)
	}
	form := spool.FormCompressed
	if compressed {
		form = spool.FormPlain
	}
	var size int64
	var etag string
	if exists {
		size, etag = info.Size, info.ETag
	}
	// Every byte of the file is published again, after the other
	// object's (the file's bytes are all local: LocalStart was 0).
	err = t.Rebased(exists, size, etag, info.Attrs, func() error {
		return f.Update(func(jj *spool.Journal) {
			jj.Shift += size
			jj.LocalStart += size
			jj.Size += size
			jj.Exists, jj.BaseSize, jj.BaseETag = exists, size, etag
			jj.Pending, jj.PendingTag, jj.PendingSince = 0, "", 0
			jj.Form = form
			jj.Yielding = nil
		})
	})
	if exists {
		// In S3 now: the object's form rules from here on, as the view
		// learns it (kept, it would outlive that object if its host gives
		// it up in turn).
		z.Unkeep(j.Key, true)
	}
	return true, err
}

// deleteOwn deletes y's object while it is still at y's ETag (a HEAD
// first for servers that ignore If-Match on DELETE). gone: it is no more
// (deleted now, or before a crash or a lost answer); false with no error:
// it changed (another host joined it).
func (p *Publisher) deleteOwn(ctx context.Context, raw s3store.Store, y spool.Yielding) (gone bool, err error) {
	gone, err = s3store.DeleteAtETag(ctx, raw, y.Object, y.ETag)
	if err == nil {
		return gone, nil
	}
	// The answer may be lost while S3 deleted it.
	if _, herr := raw.Head(ctx, y.Object); errors.Is(herr, s3store.ErrNotFound) {
		return true, nil
	}
	return false, err
}
