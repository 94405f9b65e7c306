package memstore_test

import (
	"testing"

	"github.com/s3mount/s3mount/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestContractRealServer runs the semantics table against a real server,
// so memstore cannot drift from what S3 does.
func TestContractRealServer(t *testing.T) {
	srv := testenv.StartServer(t)
	st := srv.Store(t, srv.NewBucket(t))
	// versitygw and MinIO both ignore conditions on CopyObject's
	// destination; MinIO ignores If-Match on DeleteObject (skipped: the
	// publisher HEADs first, publish.DeleteIfStill), versitygw answers 204
	// to one of a missing key.
	q := quirks{copyIgnoresDestCond: true, deleteIfMissingOK: true}
	if srv.Kind == "minio" {
		q.deleteIgnoresIfMatch = true
	}
	checkSemantics(t, st, q)
}
