package publish

import (
	"context"
	"errors"
	"io"

	"github.com/s3mount/s3mount/internal/s3store"
)

// ExpressCompactAt: on S3 Express One Zone every append adds a part, and an
// object cannot have more than 10,000. Before an append would reach this
// many, the object is compacted by copying it onto itself (a CopyObject
// writes a one-part object; above 5 GiB a multipart copy one part per GiB),
// so users never see TooManyParts.
const ExpressCompactAt = 9000

// ExpressAppend publishes logical [base.Size, to) of src on a directory
// bucket: one PutObject with x-amz-write-offset-bytes per publication.
// parts is how many parts the object has now; it returns the new count.
func ExpressAppend(ctx context.Context, st s3store.Store, ex s3store.Express, key string, base Base, src Source, localStart, to int64, parts int, cfg Config) (Base, int, error) {
	cfg.defaults()
	if !base.Exists || base.Size == 0 {
		cfg.takeAttrs()
		nb, err := Append(ctx, st, key, base, src, localStart, to, cfg)
		return nb, 1, err
	}
	if to <= base.Size {
		return base, parts, nil
	}
	n := to - base.Size
	body := func() io.ReadSeeker { return src.Section(base.Size, n) }
	etag, parts, err := appendCompacting(ctx, st, ex, key, base, body, n, parts, cfg.takeAttrs, nil)
	if err != nil {
		return Base{}, parts, err
	}
	return Base{Exists: true, Size: to, ETag: etag}, parts, nil
}

// appendCompacting appends the n bytes body gives (from their start, each
// time it is called) at base.Size of key on a directory bucket: one
// PutObject with x-amz-write-offset-bytes. It compacts the object first
// when the append would near the part limit, and once more if S3 says it
// has too many parts anyway. parts is the object's part count; it returns
// the new ETag and count. enc, when not nil, is a compressed object's mark
// (kept by compaction). attrs gives the file's attributes, taken only when
// the object is compacted: the append alone keeps the object's metadata.
func appendCompacting(ctx context.Context, st s3store.Store, ex s3store.Express, key string, base Base, body func() io.ReadSeeker, n int64, parts int, attrs func() *s3store.Attrs, enc *s3store.Encoding) (string, int, error) {
	if needsCompaction(parts) {
		nb, np, err := compact(ctx, st, key, base, attrs(), enc)
		if err != nil {
			return "", parts, err
		}
		base, parts = nb, np
	}
	info, err := ex.AppendAt(ctx, key, base.Size, body(), n)
	if errors.Is(err, s3store.ErrTooManyParts) {
		// The object has more parts than counted (a new spool file of an
		// existing object starts at 0; another host appends too).
		nb, np, cerr := compact(ctx, st, key, base, attrs(), enc)
		if cerr != nil {
			return "", parts, cerr
		}
		base, parts = nb, np
		info, err = ex.AppendAt(ctx, key, base.Size, body(), n)
	}
	if err != nil {
		return "", parts, conflict(key, err)
	}
	return info.ETag, parts + 1, nil
}

// compact copies the object onto itself (If-Match on base), which makes it
// one part: one CopyObject, or above CopyObject's 5 GiB a multipart upload
// of UploadPartCopy parts (one part per compactPart bytes) completed with
// If-Match. It writes no tag (S3 drops the old one): the copy is not a
// publication, and the append after it must not look applied when only the
// copy was. enc, when not nil, is a compressed object's mark (the copy
// replaces the metadata). It returns the new base and its part count.
func compact(ctx context.Context, st s3store.Store, key string, base Base, attrs *s3store.Attrs, enc *s3store.Encoding) (Base, int, error) {
	c := s3store.Cond{IfMatch: base.ETag, Attrs: attrs, Encoding: enc}
	var info s3store.ObjectInfo
	var err error
	parts := 1
	if base.Size <= compactByCopyUpTo {
		info, err = st.Copy(ctx, key, base.ETag, key, c)
	} else {
		info, err = s3store.CopyParts(ctx, st, key, base.ETag, base.Size, key, c, compactPart)
		parts = int((base.Size + compactPart - 1) / compactPart)
	}
	if err != nil {
		return Base{}, parts, conflict(key, err)
	}
	base.ETag = info.ETag
	return base, parts, nil
}

// compactByCopyUpTo: the largest object one CopyObject compacts (S3's
// limit; tests lower it). compactPart: the part size above it.
var (
	compactByCopyUpTo int64 = s3store.MaxCopySize
	compactPart       int64 = 1 << 30
)

// needsCompaction: the next append would take the object to the limit.
func needsCompaction(parts int) bool { return parts+1 >= ExpressCompactAt }
