package publish

import (
	"context"

	"github.com/s3mount/s3mount/internal/s3store"
)

// Copy copies the whole object src (pinned to etag, size bytes) to dst, for
// a rename: one CopyObject up to 5 GiB, above that a multipart upload of
// UploadPartCopy parts (aborted on failure). The copy carries meta's tag,
// so that recovery can tell whether a copy a crash interrupted landed, and
// its attributes (replacing the source's metadata).
func Copy(ctx context.Context, st s3store.Store, src, etag string, size int64, dst string, meta s3store.Cond) (s3store.ObjectInfo, error) {
	meta = s3store.Cond{Tag: meta.Tag, Attrs: meta.Attrs}
	if size <= s3store.MaxCopySize {
		return st.Copy(ctx, src, etag, dst, meta)
	}
	return copyParts(ctx, st, src, etag, size, dst, meta, 1<<30)
}

// copyParts is Copy by UploadPartCopy parts of chunk bytes.
func copyParts(ctx context.Context, st s3store.Store, src, etag string, size int64, dst string, meta s3store.Cond, chunk int64) (s3store.ObjectInfo, error) {
	id, err := st.CreateMultipart(ctx, dst, meta)
	if err != nil {
		return s3store.ObjectInfo{}, err
	}
	abort := func() { _ = st.AbortMultipart(context.WithoutCancel(ctx), dst, id) }
	var parts []s3store.Part
	num := int32(1)
	for off := int64(0); off < size; off += chunk {
		p, err := st.UploadPartCopy(ctx, dst, id, num, src, etag, off, min(chunk, size-off))
		if err != nil {
			abort()
			return s3store.ObjectInfo{}, err
		}
		parts = append(parts, p)
		num++
	}
	info, err := st.CompleteMultipart(ctx, dst, id, parts, s3store.Cond{})
	if err != nil {
		abort()
	}
	return info, err
}
