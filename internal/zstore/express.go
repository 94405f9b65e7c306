package zstore

import (
	"context"
	"errors"

	"github.com/s3mount/s3mount/internal/s3store"
)

// RenameObject is a rename on a directory bucket (RenameObject through
// ex, which also removes the old key), in file keys: a compressed file's
// object moves to the new name's object (access.log.gz ->
// access.log.1.gz), a plain one stays plain; the object of the other
// kind under the new name goes, as with Copy. It returns the file's view
// of the object at its new name.
func (z *Store) RenameObject(ctx context.Context, ex s3store.Express, srcKey, dstKey string) (s3store.ObjectInfo, error) {
	obj, comp := z.Compressed(srcKey)
	// The replaced file's object in the other form goes after the move:
	// its ETag now, so that a late delete takes only it; a failure to
	// look is one before anything moved.
	other := dstKey // a compressed file replaces a plain one
	if !comp {
		other, _ = z.Compressed(dstKey)
		if other == dstKey {
			other = "" // nothing of the other form to replace
		}
	}
	var replaced string
	if other != "" && srcKey != dstKey {
		h, err := z.Store.Head(ctx, other)
		switch {
		case err == nil && (comp || z.ours(h)):
			replaced = h.ETag
		case err != nil && !errors.Is(err, s3store.ErrNotFound):
			return s3store.ObjectInfo{}, err
		}
	}
	var info s3store.ObjectInfo
	var err error
	if !comp {
		if err := ex.Rename(ctx, srcKey, dstKey); err != nil && !z.renamed(ctx, srcKey, dstKey, "") {
			return s3store.ObjectInfo{}, err
		}
		z.stored(dstKey, false)
		z.forget(srcKey)
		info, err = z.Store.Head(ctx, dstKey)
	} else {
		h, herr := z.Store.Head(ctx, obj)
		if herr != nil {
			return s3store.ObjectInfo{}, herr
		}
		dst := dstKey + z.codec.Ext()
		if err := ex.Rename(ctx, obj, dst); err != nil && !z.renamed(ctx, obj, dst, h.ETag) {
			return s3store.ObjectInfo{}, err
		}
		z.stored(dstKey, true)
		if srcKey != dstKey {
			z.forget(srcKey)
		}
		z.idx.Move(srcKey, dstKey, h.ETag, h.ETag) // RenameObject keeps the ETag
		info, err = z.Head(ctx, dstKey)
	}
	if err != nil || replaced == "" {
		return info, err
	}
	if derr := z.deleteAt(ctx, other, replaced); derr != nil {
		return info, &s3store.LeftObjectError{Object: other, ETag: replaced, Err: derr}
	}
	return info, nil
}

// renamed reports whether a RenameObject of raw objects that reported a
// failure (its answer lost) took effect; etag "" for a plain file's, which
// is not pinned to a version. Then the other kind's object under the new
// name must still go.
func (z *Store) renamed(ctx context.Context, from, to, etag string) bool {
	_, ok := s3store.RenameLanded(ctx, z.Store, from, to, etag)
	return ok
}
