package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/spool"
)

// Compressing is the store view of compressed files (internal/zstore): a
// file's key maps to its object's key, and the object's raw bytes are
// written through Raw.
type Compressing interface {
	Compressed(key string) (object string, ok bool)
	Raw() s3store.Store
	Codec() compress.Codec
	Index() *compress.Index
	// Published records a publication of key: raw bytes compressed to
	// comp, its object now objectSize bytes (status, metrics), marked
	// "size in the trailer" when trailer.
	Published(key, etag string, raw, comp, objectSize int64, trailer bool)
	// ObjectSize is the size of key's object at etag and whether its mark
	// says the size is in its trailer, if known.
	ObjectSize(key, etag string) (size int64, trailer, ok bool)
	// Learn makes sure Compressed(key) tells the form key's existing
	// object is stored in.
	Learn(ctx context.Context, key string) error
	// Keep makes Compressed(key) say compressed: the form of a file not
	// yet in S3, decided under another name (spool.Journal.Form).
	Keep(key string, compressed bool)
	// Unkeep ends key's kept form: its file is published (its object
	// tells the form now) or its name is gone.
	Unkeep(key string, published bool)
	// OtherForm reports whether S3 holds key's file in the other form
	// than Compressed(key) says (another host's copy of it) and that
	// object's raw HEAD, its Key the object's. A plain file that is no
	// log (log false) and whose name no glob matches is not asked for.
	OtherForm(ctx context.Context, key string, log bool) (s3store.ObjectInfo, bool, error)
	// AsksOtherForm reports whether OtherForm(key, log) asks S3.
	AsksOtherForm(key string, log bool) bool
	// Holder is the key of another file whose object a new file at key
	// (stored compressed or not) would write over, or "".
	Holder(ctx context.Context, key string, compressed bool) (string, error)
	// Stat is the file's view of key's object (uncompressed size) and
	// the object's stored size, at one ETag.
	Stat(ctx context.Context, key string) (s3store.ObjectInfo, int64, error)
	// RenameObject renames a file on a directory bucket (RenameObject
	// through ex, of the file's object) and returns its view there.
	RenameObject(ctx context.Context, ex s3store.Express, src, dst string) (s3store.ObjectInfo, error)
}

// errNoStream: a compressed file is not streamed while written (its bytes
// are compressed at publication).
var errNoStream = errors.New("publish: compressed files are uploaded at publication, not streamed")

// FormAfterRename is the form a file not yet in S3 keeps when renamed
// from oldKey to newKey: compressed when either name says so (a log
// rotated to access.log.1; a temporary file renamed to its .log name, as
// rsync does). FormByName without --compress.
func (p *Publisher) FormAfterRename(oldKey, newKey string) spool.Form {
	if _, ok := p.st.(Compressing); !ok {
		return spool.FormByName
	}
	if p.Compressed(oldKey) || p.Compressed(newKey) {
		return spool.FormCompressed
	}
	return spool.FormPlain
}

// KeepForm tells the store view the form j's file was given before it
// had its key (nothing when it is in S3: its object's form rules), or
// that S3 holds its name in both forms, the other a rename's leftover
// whose delete is due: only the journal tells which object is the file's
// (after a crash the view knows nothing, and a HEAD of the name's form
// by the globs would find the leftover).
func (p *Publisher) KeepForm(j spool.Journal) {
	z, ok := p.st.(Compressing)
	if !ok {
		return
	}
	if compressed, left := leftOtherForm(j); left {
		z.Keep(j.Key, compressed)
		return
	}
	if j.Form == spool.FormByName || j.Exists {
		return
	}
	z.Keep(j.Key, j.Form == spool.FormCompressed)
}

// formPublished: once j's file is in S3 its object tells its form, which
// the view need not keep any more (unless a leftover of the other form
// still holds the name too).
func (p *Publisher) formPublished(j spool.Journal) {
	if _, left := leftOtherForm(j); left {
		return
	}
	if z, ok := p.st.(Compressing); ok && j.Form != spool.FormByName && j.Exists {
		z.Unkeep(j.Key, true)
	}
}

// leftFormGone: the leftover of the other form that held j's name beside
// its file was deleted (before: the journal then; after: now): the file's
// object alone tells its form from here on.
func (p *Publisher) leftFormGone(before, after spool.Journal) {
	z, ok := p.st.(Compressing)
	if !ok {
		return
	}
	if _, was := leftOtherForm(before); !was {
		return
	}
	if _, still := leftOtherForm(after); !still {
		z.Unkeep(after.Key, true)
	}
}

// leftOtherForm reports whether j's file replaced an object of its own
// name in the other form whose delete is still due (a rename of a plain
// file over a compressed one, or the reverse: replacedLeft), and then
// whether the file itself is stored compressed (the leftover is plain).
func leftOtherForm(j spool.Journal) (compressed, left bool) {
	for _, k := range j.LeftKeys {
		if k.Key == j.Key && k.Object != "" {
			return k.Object == k.Key, true
		}
	}
	return false, false
}

// ForgetForm: no file has key's name any more (an unpublished file
// unlinked or renamed away): its kept form goes with it.
func (p *Publisher) ForgetForm(key string) {
	if z, ok := p.st.(Compressing); ok {
		z.Unkeep(key, false)
	}
}

// adoptForm: the first object wins. A file not yet in S3 whose name
// another host has meanwhile created in the other form (plain NAME where
// this host would write NAME.gz, or the reverse) takes that object's form
// before its first publication, which then joins the object as any file
// whose name another host created first: an append rebases onto it, a
// whole file is a conflict. (A twin that is another name's file is no
// copy: checkHeld, and vfs's EEXIST at create, rule on those.) The other
// host may create it between this look and this host's write: the look
// after the write (settleForms, forms.go) rules on that.
func (p *Publisher) adoptForm(ctx context.Context, f *spool.File) error {
	z, ok := p.st.(Compressing)
	j := f.Journal()
	if !ok || j.Exists || j.PendingTag != "" {
		// (A first publication whose answer was lost may be in S3 in
		// this form: Settle asks first, and the look after it, if it
		// landed, rules on the other form.)
		return nil
	}
	asked := time.Now()
	other, there, err := z.OtherForm(ctx, j.Key, false)
	if err != nil || !there {
		return err
	}
	compressed := p.Compressed(j.Key)
	form, name := spool.FormPlain, "plain"
	if !compressed {
		form, name = spool.FormCompressed, "compressed"
	}
	if err := f.Update(func(jj *spool.Journal) { jj.Form = form }); err != nil {
		return err
	}
	p.KeepForm(f.Journal())
	if p.ownLeftover(j.Key, other.ETag, asked) {
		p.log.Info(fmt.Sprintf("%s holds the object a rename on this host moved away from %s (its delete still due), %s: this file is stored %s", other.Key, j.Key, name, name), "key", j.Key, "form", name)
		return nil
	}
	p.log.Info(fmt.Sprintf("another host created %s first, %s: this file is stored %s", j.Key, name, name), "key", j.Key, "form", name)
	return nil
}

// ownLeftover: key's object at etag (either form), as S3 described it when
// asked, is one a rename on this host moved away, its delete due or done
// since: no other host's copy of the name.
func (p *Publisher) ownLeftover(key, etag string, asked time.Time) bool {
	return p.sp != nil && etag != "" && p.sp.LeavingAt(key, etag, asked)
}

// ErrHeld: a new file's object key is another file's object (with
// --compress, the plain file NAME.gz written beside the compressed file
// NAME: logrotate's compress). Its publication waits, its bytes kept in
// the spool, until that file is gone (logrotate unlinks it next).
var ErrHeld = errors.New("publication waits: the object's key is another file's")

// checkHeld is ErrHeld when the new plain file f (NAME.gz) is the
// compressed file NAME's object: in S3, or NAME's on this host not yet
// published (logrotate renamed a log whose last lines were not
// published, then gzip wrote NAME.gz: the plain put took NAME's key).
func (p *Publisher) checkHeld(ctx context.Context, f *spool.File, t File) error {
	z, ok := p.st.(Compressing)
	j := f.Journal()
	if !ok || j.Exists {
		return nil // an object of its own already: it extends or replaces it
	}
	if p.Compressed(j.Key) { // its form: Publish told the view (KeepForm)
		return nil // refused at create when another file's (vfs); no HEAD here
	}
	other := t.HeldBy()
	if other == "" {
		var err error
		if other, err = z.Holder(ctx, j.Key, false); err != nil || other == "" { // a request only for NAME.gz
			return err
		}
	}
	return fmt.Errorf("%w: %s is the object of the file %s; published once that file is unlinked or renamed", ErrHeld, j.Key, other)
}

// Compressed reports whether key's file is published compressed.
func (p *Publisher) Compressed(key string) bool {
	z, ok := p.st.(Compressing)
	if !ok {
		return false
	}
	_, c := z.Compressed(key)
	return c
}

// publishCompressed publishes logical [0, to) of a compressed file: its
// object grows by members holding [base.Size, to) (compose or re-put, as
// Append; on a directory bucket one append at the object's stored size),
// or, for a file published whole, is replaced by members of all of it.
// base is in uncompressed bytes; the mark on the object carries the
// uncompressed size, or, on a directory bucket, says that a trailer at
// the end of each publication's bytes does (compress.Trailer).
func (p *Publisher) publishCompressed(ctx context.Context, f *spool.File, j spool.Journal, to int64, base Base, cfg Config) (Base, error) {
	z := p.st.(Compressing)
	obj, _ := z.Compressed(j.Key)
	raw, codec := z.Raw(), z.Codec()
	express := p.express != nil
	cfg.defaults()
	cfg.Encoding = &s3store.Encoding{Name: string(codec), Size: to}
	if express {
		cfg.Encoding = &s3store.Encoding{Name: string(codec), Trailer: true}
	}
	whole := j.Kind == spool.KindWhole || !base.Exists || base.Size == 0
	from := base.Size
	if whole {
		from = 0
	}
	if !whole && j.LocalStart > from {
		return Base{}, fmt.Errorf("publish %s: nothing local below %d", j.Key, j.LocalStart)
	}
	// Append: the object's compressed size is not in the journal. The
	// view knows it when this mount wrote or read that version; else a
	// HEAD tells it, and that it is still the version we extend. (The
	// writes below are conditional on the ETag, or the offset, either way.)
	cb := Base{Exists: true, ETag: base.ETag}
	trailed := false // the object's mark says "size in the trailer"
	if !whole {
		if n, tr, ok := z.ObjectSize(j.Key, base.ETag); ok {
			cb.Size, trailed = n, tr
		} else {
			info, stored, err := z.Stat(ctx, j.Key)
			if err != nil {
				return Base{}, conflict(j.Key, err)
			}
			if info.ETag != base.ETag || info.Size != base.Size {
				return Base{}, fmt.Errorf("%w: %s: the object is no longer the one extended", ErrConflict, obj)
			}
			cb.Size, trailed = stored, info.Encoding != nil && info.Encoding.Trailer
		}
	}
	if !express || !trailed {
		cfg.takeAttrs() // not an append that keeps the object's metadata
	}
	out, err := newBuffer(cfg.Budget, cfg.SpillDir, to-from)
	if err != nil {
		return Base{}, fmt.Errorf("compressing a publication: %w", err)
	}
	defer out.release()
	bs, n, err := codec.Encode(out, f, from, to-from)
	if err != nil {
		return Base{}, err
	}
	if express {
		pub := compress.Boundary{Raw: from}
		if !whole {
			pub.Comp = cb.Size
		}
		m, err := out.Write(codec.AppendTrailer(nil, compress.Trailer{Raw: to, Pub: pub}))
		n += int64(m)
		if err != nil {
			return Base{}, err
		}
	}
	body := out.reader()
	if whole {
		// The object's old bytes (if any) are not kept: condition on it.
		wb := Base{Exists: base.Exists, ETag: base.ETag}
		nb, err := upload(ctx, raw, obj, []segment{{src: body, size: n}}, wb, cfg)
		if err != nil {
			return Base{}, err
		}
		if express {
			f.Update(func(jj *spool.Journal) { jj.ExpressParts = 1 })
		}
		z.Index().Add(j.Key, nb.ETag, bs...)
		z.Published(j.Key, nb.ETag, to-from, n, nb.Size, express)
		return Base{Exists: true, Size: to, ETag: nb.ETag}, nil
	}
	var nb Base
	switch {
	case express && trailed:
		nb, err = p.expressAppendCompressed(ctx, f, obj, cb, out, n, cfg)
	// On a directory bucket, an object marked with its size (copied from
	// a general-purpose bucket) is rewritten once, composed or re-put as
	// there, to take the trailer's mark: an append would leave that size
	// stale.
	case cb.Size >= cfg.ComposeMin:
		nb, err = compose(ctx, raw, obj, cb, body, n, cfg)
	default:
		old, ferr := fetchOld(ctx, raw, obj, cb.Size, cb.ETag, cfg)
		if ferr != nil {
			return Base{}, ferr
		}
		defer old.release()
		nb, err = upload(ctx, raw, obj, []segment{{src: old.reader(), size: cb.Size}, {src: body, size: n}}, cb, cfg)
	}
	if err != nil {
		return Base{}, err
	}
	for i := range bs {
		bs[i].Comp += cb.Size
		bs[i].Raw += from
	}
	z.Index().Extend(j.Key, cb.ETag, nb.ETag, bs...)
	z.Published(j.Key, nb.ETag, to-from, n, nb.Size, express)
	return Base{Exists: true, Size: to, ETag: nb.ETag}, nil
}

// expressAppendCompressed appends a compressed publication's n bytes
// (members and trailer, in out) to obj on a directory bucket: one
// PutObject at the object's stored size (cb.Size), compacting it first
// when it nears the part limit, as ExpressAppend does.
func (p *Publisher) expressAppendCompressed(ctx context.Context, f *spool.File, obj string, cb Base, out *buffer, n int64, cfg Config) (Base, error) {
	raw := p.st.(Compressing).Raw()
	body := func() io.ReadSeeker { return out.reader() }
	etag, parts, err := appendCompacting(ctx, raw, p.express, obj, cb, body, n, f.Journal().ExpressParts, cfg.takeAttrs, cfg.Encoding)
	if err != nil {
		return Base{}, err
	}
	f.Update(func(jj *spool.Journal) { jj.ExpressParts = parts })
	return Base{Exists: true, Size: cb.Size + n, ETag: etag}, nil
}

// spillAbove: publications of more uncompressed bytes than this (a
// backlog after an outage, a large edited file) are compressed into an
// unlinked file in the spool directory, not into memory, whatever the
// budget (budget.go).
var spillAbove int64 = 64 << 20
