package publish

import (
	"context"

	"github.com/s3mount/s3mount/internal/s3store"
)

// ExpressCompactAt: on S3 Express One Zone every append adds a part, and an
// object cannot have more than 10,000. Before an append would reach this
// many, the object is compacted by copying it onto itself (CopyObject
// writes a one-part object), so users never see TooManyParts.
const ExpressCompactAt = 9000

// ExpressAppend publishes logical [base.Size, to) of src on a directory
// bucket: one PutObject with x-amz-write-offset-bytes per publication.
// parts is how many parts the object has now; it returns the new count.
func ExpressAppend(ctx context.Context, st s3store.Store, ex s3store.Express, key string, base Base, src Source, localStart, to int64, parts int, cfg Config) (Base, int, error) {
	cfg.defaults()
	if !base.Exists || base.Size == 0 {
		nb, err := Append(ctx, st, key, base, src, localStart, to, cfg)
		return nb, 1, err
	}
	if to <= base.Size {
		return base, parts, nil
	}
	if needsCompaction(parts) {
		info, err := st.Copy(ctx, key, base.ETag, key, s3store.Cond{IfMatch: base.ETag})
		if err != nil {
			return Base{}, parts, conflict(key, err)
		}
		base.ETag, parts = info.ETag, 1
	}
	info, err := ex.AppendAt(ctx, key, base.Size, src.Section(base.Size, to-base.Size), to-base.Size)
	if err != nil {
		return Base{}, parts, conflict(key, err)
	}
	return Base{Exists: true, Size: to, ETag: info.ETag}, parts + 1, nil
}

// needsCompaction: the next append would take the object to the limit.
func needsCompaction(parts int) bool { return parts+1 >= ExpressCompactAt }
