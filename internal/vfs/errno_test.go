package vfs

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/spool"
)

// Each error the core meets reaches the caller as the errno a local file
// system would give: S3 unreachable is EIO, even when its cause carries a
// network errno (open(2) never returns ECONNREFUSED); so is a connection
// reset mid-request (rename(2) returned ECONNRESET, seen by
// TestFailedDirRenameKeepsTheTargetsAttributes).
func TestErrno(t *testing.T) {
	cases := []struct {
		err  error
		want syscall.Errno
	}{
		{fmt.Errorf("cannot reach S3: %w", fmt.Errorf("%w: dial: %w", s3store.ErrUnreachable, syscall.ECONNREFUSED)), syscall.EIO},
		// A lost answer: the connection reset after S3 had the request.
		{fmt.Errorf("s3 CopyObject: %w", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), syscall.EIO},
		{fmt.Errorf("s3 CopyObject: %w", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}), syscall.EIO},
		{fmt.Errorf("head: %w", s3store.ErrNotFound), syscall.ENOENT},
		{fmt.Errorf("put: %w", s3store.ErrAccessDenied), syscall.EACCES},
		{fmt.Errorf("get: %w", s3store.ErrPrecondition), syscall.ESTALE},
		{fmt.Errorf("write: %w", spool.ErrFull), syscall.ENOSPC},
		{context.Canceled, syscall.EINTR},
		{ErrNameTooLong, syscall.ENAMETOOLONG},
		{fmt.Errorf("rename: %w", ErrCrossDev), syscall.EXDEV},
		{fmt.Errorf("something else"), syscall.EIO},
		{nil, 0},
	}
	for _, c := range cases {
		if got := Errno(c.err); got != c.want {
			t.Errorf("Errno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
