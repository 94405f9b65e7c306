package s3store

import "context"

// CopyParts copies the whole object src (pinned to etag, size bytes) to
// dst by a multipart upload of UploadPartCopy parts of chunk bytes (a
// CopyObject takes at most MaxCopySize), aborted on failure. meta is the
// new object's metadata; its IfMatch / IfNoneMatch condition the
// completion (S3 takes none on the upload's other requests).
func CopyParts(ctx context.Context, st Store, src, etag string, size int64, dst string, meta Cond, chunk int64) (ObjectInfo, error) {
	id, err := st.CreateMultipart(ctx, dst, meta)
	if err != nil {
		return ObjectInfo{}, err
	}
	abort := func() { _ = st.AbortMultipart(context.WithoutCancel(ctx), dst, id) }
	var parts []Part
	num := int32(1)
	for off := int64(0); off < size; off += chunk {
		p, err := st.UploadPartCopy(ctx, dst, id, num, src, etag, off, min(chunk, size-off))
		if err != nil {
			abort()
			return ObjectInfo{}, err
		}
		parts = append(parts, p)
		num++
	}
	info, err := st.CompleteMultipart(ctx, dst, id, parts, Cond{IfMatch: meta.IfMatch, IfNoneMatch: meta.IfNoneMatch})
	if err != nil {
		abort()
	}
	return info, err
}
