package s3store

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// Error is what every Store method returns on failure. It matches the
// sentinel it maps to (errors.Is) and still unwraps to the SDK error.
// Its text names the operation, the key and the S3 code, never credentials.
type Error struct {
	Op       string // S3 operation, e.g. "GetObject"
	Key      string
	Code     string // S3 error code, "" for transport errors
	Status   int    // HTTP status, 0 for transport errors
	Sentinel error  // one of the Err* values, or nil
	Err      error  // the SDK error
	detail   string
}

func (e *Error) Error() string {
	s := "s3 " + e.Op
	if e.Key != "" {
		s += fmt.Sprintf(" %q", e.Key)
	}
	return s + ": " + e.detail
}

func (e *Error) Unwrap() []error {
	if e.Sentinel == nil {
		return []error{e.Err}
	}
	return []error{e.Sentinel, e.Err}
}

// wrapErr maps an SDK error onto the sentinels. nil stays nil.
func wrapErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Key: key, Err: err}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		e.Status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		e.Code = ae.ErrorCode()
		e.detail = e.Code
		if m := ae.ErrorMessage(); m != "" {
			e.detail += ": " + m
		}
		if e.Status != 0 {
			e.detail += fmt.Sprintf(" (HTTP %d)", e.Status)
		}
	} else {
		e.detail = transportDetail(err)
	}
	e.Sentinel = sentinelFor(e.Code, e.Status, err)
	return e
}

// transportDetail is the innermost useful text of a non-API error. The
// url.Error's URL is dropped: it carries the endpoint and key, no secrets,
// but it is long and repeats what Error already says.
func transportDetail(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	var oe *smithy.OperationError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

func sentinelFor(code string, status int, err error) error {
	switch code {
	case "NoSuchBucket":
		return ErrNoSuchBucket
	case "NoSuchUpload":
		return ErrNoSuchUpload
	case "NoSuchKey", "NotFound":
		return ErrNotFound
	case "PreconditionFailed",
		// S3 Express: an append's write offset is no longer the object's
		// size (another writer appended first), a 400.
		"InvalidWriteOffset":
		return ErrPrecondition
	case "ConditionalRequestConflict", "OperationAborted":
		return ErrConflict
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden",
		"AllAccessDisabled", "InvalidToken", "ExpiredToken":
		return ErrAccessDenied
	case "TooManyParts":
		return ErrTooManyParts
	case "DirectoryObjectContainsData":
		return ErrDirectoryData
	}
	switch status {
	case 404:
		return ErrNotFound
	case 412:
		return ErrPrecondition
	case 409:
		return ErrConflict
	case 403:
		return ErrAccessDenied
	}
	if status == 0 && unreachable(err) {
		return ErrUnreachable
	}
	return nil
}

// unreachable reports connection refused, DNS failures and failed dials.
func unreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// checkError is a New failure: one sentence for the user, matching a sentinel.
type checkError struct {
	msg      string
	sentinel error
	cause    error
}

func (e *checkError) Error() string   { return e.msg }
func (e *checkError) Unwrap() []error { return []error{e.sentinel, e.cause} }
