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
	dobj, dcomp := z.Compressed(dstKey)
	if !comp {
		if err := ex.Rename(ctx, srcKey, dstKey); err != nil && !z.renamed(ctx, srcKey, dstKey, "") {
			return s3store.ObjectInfo{}, err
		}
		z.stored(dstKey, false)
		z.forget(srcKey)
		if dcomp {
			if h, herr := z.Store.Head(ctx, dobj); herr == nil && z.ours(h) {
				_ = z.Store.Delete(ctx, dobj)
			}
		}
		return z.Store.Head(ctx, dstKey)
	}
	h, err := z.Store.Head(ctx, obj)
	if err != nil {
		return s3store.ObjectInfo{}, err
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
	if srcKey != dstKey {
		if perr := z.Store.Delete(ctx, dstKey); perr != nil && !errors.Is(perr, s3store.ErrNotFound) {
			return s3store.ObjectInfo{}, perr
		}
	}
	return z.Head(ctx, dstKey)
}

// renamed reports whether a RenameObject of raw objects that reported a
// failure (its answer lost) took effect; etag "" for a plain file's, which
// is not pinned to a version. Then the other kind's object under the new
// name must still go.
func (z *Store) renamed(ctx context.Context, from, to, etag string) bool {
	_, ok := s3store.RenameLanded(ctx, z.Store, from, to, etag)
	return ok
}
