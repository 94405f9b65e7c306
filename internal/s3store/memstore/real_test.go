package memstore_test

import (
	"os"
	"testing"

	"github.com/s3mount/s3mount/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestContractRealServer runs the semantics table against a real server,
// so memstore cannot drift from what S3 does.
func TestContractRealServer(t *testing.T) {
	srv := testenv.StartServer(t)
	st := srv.Store(t, srv.NewBucket(t))
	server := os.Getenv("S3MOUNT_TEST_SERVER")
	if server == "" {
		server = "versitygw"
	}
	checkSemantics(t, st, quirks{server: server})
}
