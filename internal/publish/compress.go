package publish

import (
	"context"
	"errors"
	"fmt"

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
	// comp, its object now objectSize bytes (status, metrics).
	Published(key, etag string, raw, comp, objectSize int64)
	// ObjectSize is the size of key's object at etag, if known.
	ObjectSize(key, etag string) (int64, bool)
}

// errNoStream: a compressed file is not streamed while written (its bytes
// are compressed at publication).
var errNoStream = errors.New("publish: compressed files are uploaded at publication, not streamed")

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
// Append), or, for a file published whole, is replaced by members of all
// of it. base is in uncompressed bytes; the mark on the object carries the
// uncompressed size.
func (p *Publisher) publishCompressed(ctx context.Context, f *spool.File, j spool.Journal, to int64, base Base, cfg Config) (Base, error) {
	z := p.st.(Compressing)
	obj, _ := z.Compressed(j.Key)
	raw, codec := z.Raw(), z.Codec()
	cfg.defaults()
	cfg.Encoding = &s3store.Encoding{Name: string(codec), Size: to}
	whole := j.Kind == spool.KindWhole || !base.Exists || base.Size == 0
	from := base.Size
	if whole {
		from = 0
	}
	if !whole && j.LocalStart > from {
		return Base{}, fmt.Errorf("publish %s: nothing local below %d", j.Key, j.LocalStart)
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
	body := out.reader()
	if whole {
		// The object's old bytes (if any) are not kept: condition on it.
		cb := Base{Exists: base.Exists, ETag: base.ETag}
		nb, err := upload(ctx, raw, obj, []segment{{src: body, size: n}}, cb, cfg)
		if err != nil {
			return Base{}, err
		}
		z.Index().Add(j.Key, nb.ETag, bs...)
		z.Published(j.Key, nb.ETag, to-from, n, nb.Size)
		return Base{Exists: true, Size: to, ETag: nb.ETag}, nil
	}
	// Append: the object's compressed size is not in the journal. The
	// view knows it when this mount wrote or read that version; else a
	// HEAD tells it, and that it is still the version we extend. (The
	// writes below are conditional on the ETag either way.)
	cb := Base{Exists: true, ETag: base.ETag}
	if n, ok := z.ObjectSize(j.Key, base.ETag); ok {
		cb.Size = n
	} else {
		h, err := raw.Head(ctx, obj)
		if err != nil {
			return Base{}, conflict(j.Key, err)
		}
		if h.ETag != base.ETag || h.Encoding == nil || h.Encoding.Size != base.Size {
			return Base{}, fmt.Errorf("%w: %s: the object is no longer the one extended", ErrConflict, obj)
		}
		cb.Size = h.Size
	}
	var nb Base
	if cb.Size >= cfg.ComposeMin {
		nb, err = compose(ctx, raw, obj, cb, body, n, cfg)
	} else {
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
	z.Published(j.Key, nb.ETag, to-from, n, nb.Size)
	return Base{Exists: true, Size: to, ETag: nb.ETag}, nil
}

// spillAbove: publications of more uncompressed bytes than this (a
// backlog after an outage, a large edited file) are compressed into an
// unlinked file in the spool directory, not into memory, whatever the
// budget (budget.go).
var spillAbove int64 = 64 << 20
