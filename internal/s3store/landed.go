package s3store

import (
	"context"
	"errors"
)

// RenameLanded reports whether a rename (RenameObject) of from to to that
// reported a failure took effect all the same (its answer lost): from is
// gone and to holds an object, at etag unless etag is "" (RenameObject
// keeps the ETag; "": the rename was not pinned to a version, any object
// at to is its). It returns what to holds.
func RenameLanded(ctx context.Context, st Store, from, to, etag string) (ObjectInfo, bool) {
	if _, err := st.Head(ctx, from); !errors.Is(err, ErrNotFound) {
		return ObjectInfo{}, false
	}
	info, err := st.Head(ctx, to)
	if err != nil || (etag != "" && info.ETag != etag) {
		return ObjectInfo{}, false
	}
	return info, true
}
