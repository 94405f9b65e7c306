package memstore

import (
	"errors"
	"fmt"

	"github.com/s3mount/s3mount/internal/s3store"
)

// errInjected is the cause of every Fail and LoseAnswer error.
var errInjected = errors.New("injected fault")

// IsInjected reports whether err is a fault a hook asked for (Fail or
// LoseAnswer) rather than an answer S3 would give.
func IsInjected(err error) bool { return errors.Is(err, errInjected) }

// apiErr is an S3 error answer as the real store returns it: errors.As
// finds an *s3store.Error with Code, Status and Sentinel set, errors.Is
// matches the sentinel, and the text reads like the real store's.
func apiErr(op, key, code string, status int, sentinel error, msg string) error {
	detail := fmt.Sprintf("%s: %s (HTTP %d)", code, msg, status)
	return wrap(&s3store.Error{Op: op, Key: key, Code: code, Status: status, Sentinel: sentinel,
		Err: errors.New(detail)}, detail)
}

// wrap adds the text s3store.Error keeps in an unexported field.
func wrap(e *s3store.Error, detail string) error { return fmt.Errorf("%w%s", e, detail) }

// injected is a transient failure: a 500 that matches no sentinel.
func injected(c Call) error {
	detail := fmt.Sprintf("InternalError: %v at call %d (HTTP 500)", errInjected, c.Seq)
	return wrap(&s3store.Error{Op: c.Op, Key: c.Key, Code: "InternalError", Status: 500,
		Err: fmt.Errorf("%w at call %d", errInjected, c.Seq)}, detail)
}

// transportErr is a failure without an answer (a cancelled context).
func transportErr(op, key string, cause error) error {
	return wrap(&s3store.Error{Op: op, Key: key, Err: cause}, cause.Error())
}

func noSuchKey(op, key string) error {
	return apiErr(op, key, "NoSuchKey", 404, s3store.ErrNotFound, "The specified key does not exist.")
}

func preconditionFailed(op, key string) error {
	return apiErr(op, key, "PreconditionFailed", 412, s3store.ErrPrecondition,
		"At least one of the pre-conditions you specified did not hold")
}

func noSuchUpload(op, key string) error {
	return apiErr(op, key, "NoSuchUpload", 404, s3store.ErrNoSuchUpload,
		"The specified multipart upload does not exist.")
}

func badRequest(op, key, code, msg string) error { return apiErr(op, key, code, 400, nil, msg) }
