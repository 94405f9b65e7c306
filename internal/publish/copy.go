package publish

import (
	"context"

	"github.com/s3mount/s3mount/internal/s3store"
)

// Copy copies the whole object src (pinned to etag, size bytes) to dst, for
// a rename: one CopyObject up to 5 GiB, above that a multipart upload of
// UploadPartCopy parts (aborted on failure). The copy carries meta's tag,
// so that recovery can tell whether a copy a crash interrupted landed, and
// its attributes (replacing the source's metadata). A compressed file's
// object is copied by its store view, which knows its stored size (size
// is the uncompressed one).
func Copy(ctx context.Context, st s3store.Store, src, etag string, size int64, dst string, meta s3store.Cond) (s3store.ObjectInfo, error) {
	meta = s3store.Cond{Tag: meta.Tag, Attrs: meta.Attrs}
	if z, ok := st.(Compressing); ok {
		if _, comp := z.Compressed(src); comp {
			return st.Copy(ctx, src, etag, dst, meta)
		}
	}
	if size <= s3store.MaxCopySize {
		return st.Copy(ctx, src, etag, dst, meta)
	}
	return copyParts(ctx, st, src, etag, size, dst, meta, 1<<30)
}

// copyParts is Copy by UploadPartCopy parts of chunk bytes.
func copyParts(ctx context.Context, st s3store.Store, src, etag string, size int64, dst string, meta s3store.Cond, chunk int64) (s3store.ObjectInfo, error) {
	return s3store.CopyParts(ctx, st, src, etag, size, dst, meta, chunk)
}
