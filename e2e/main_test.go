// Package e2e runs the real s3mount binary against a real S3 server on
// 127.0.0.1, through real FUSE mounts, as users run it.
package e2e

import (
	"testing"

	"github.com/s3mount/s3mount/internal/testenv"
)

func TestMain(m *testing.M) {
	if probeChild() { // a child process of the POSIX table, as another user
		return
	}
	testenv.Main(m)
}
