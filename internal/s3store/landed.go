package s3store

import (
	"context"
	"errors"
)

// headTries: HEADs asked before a transient failure is taken for
// "cannot tell". They settle what a call whose answer was lost did, and
// a transient failure should not leave that unknown (a rename reported
// failed that had landed leaves the object under both names).
const headTries = 3

// HeadSettled is Head tried up to headTries times while it fails with
// anything but ErrNotFound (or ctx ends).
func HeadSettled(ctx context.Context, st Store, key string) (ObjectInfo, error) {
	var info ObjectInfo
	var err error
	for try := 0; try < headTries; try++ {
		info, err = st.Head(ctx, key)
		if err == nil || errors.Is(err, ErrNotFound) || ctx.Err() != nil {
			break
		}
	}
	return info, err
}

// RenameLanded reports whether a rename (RenameObject) of from to to that
// reported a failure took effect all the same (its answer lost): from is
// gone and to holds an object, at etag unless etag is "" (RenameObject
// keeps the ETag; "": the rename was not pinned to a version, any object
// at to is its). It returns what to holds.
func RenameLanded(ctx context.Context, st Store, from, to, etag string) (ObjectInfo, bool) {
	if _, err := HeadSettled(ctx, st, from); !errors.Is(err, ErrNotFound) {
		return ObjectInfo{}, false
	}
	info, err := HeadSettled(ctx, st, to)
	if err != nil || (etag != "" && info.ETag != etag) {
		return ObjectInfo{}, false
	}
	return info, true
}

// CopyLanded reports whether a copy (CopyObject, or one by parts) to key
// that reported a failure took effect all the same (its answer lost): key
// holds an object carrying the copy's tag. A copy with no tag cannot
// tell (false). It returns what key holds.
func CopyLanded(ctx context.Context, st Store, key, tag string) (ObjectInfo, bool) {
	if tag == "" {
		return ObjectInfo{}, false
	}
	info, err := HeadSettled(ctx, st, key)
	if err != nil || info.Tag != tag {
		return ObjectInfo{}, false
	}
	return info, true
}

// DeleteAtETag deletes key from st while its object is still at etag (a
// HEAD first for servers that ignore If-Match on DELETE). gone: it is no
// more; false with no error: it is another object now.
func DeleteAtETag(ctx context.Context, st Store, key, etag string) (gone bool, err error) {
	info, err := st.Head(ctx, key)
	switch {
	case errors.Is(err, ErrNotFound):
		return true, nil
	case err != nil:
		return false, err
	case info.ETag != etag:
		return false, nil
	}
	err = st.DeleteIf(ctx, key, etag)
	switch {
	case err == nil || errors.Is(err, ErrNotFound):
		return true, nil
	case errors.Is(err, ErrPrecondition):
		return false, nil
	}
	return false, err
}
