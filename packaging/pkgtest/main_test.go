//go:build debinstall

package pkgtest

import (
	"testing"

	"github.com/s3mount/s3mount/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
