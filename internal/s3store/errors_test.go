package s3store

import (
	"errors"
	"testing"

	"github.com/aws/smithy-go"
)

// S3 Express answers an append at a stale offset (another writer appended
// first) with 400 InvalidWriteOffset: a conflict, like a refused If-Match,
// so that the publisher rebases instead of retrying for ever.
func TestExpressErrorCodes(t *testing.T) {
	for _, c := range []struct {
		code string
		want error
	}{
		{"InvalidWriteOffset", ErrPrecondition},
		{"TooManyParts", ErrTooManyParts},
	} {
		err := wrapErr("PutObject", "x.log", &smithy.GenericAPIError{Code: c.code, Message: "m"})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v does not match %v", c.code, err, c.want)
		}
	}
	if err := wrapErr("PutObject", "x.log", &smithy.GenericAPIError{Code: "InvalidWriteOffset"}); !IsConflict(err) {
		t.Errorf("InvalidWriteOffset is not a conflict: %v", err)
	}
}

// versitygw's POSIX backend refuses a CopyObject from one directory's
// marker onto another's with 400 DirectoryObjectContainsData: its own
// sentinel, so that a directory rename puts the marker anew instead.
func TestDirectoryDataCode(t *testing.T) {
	err := wrapErr("CopyObject", "e/", &smithy.GenericAPIError{Code: "DirectoryObjectContainsData", Message: "m"})
	if !errors.Is(err, ErrDirectoryData) {
		t.Errorf("%v does not match ErrDirectoryData", err)
	}
}
