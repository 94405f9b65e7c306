package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3mount/s3mount/internal/testenv"
)

// uploadsLeft is the number of multipart uploads in flight in bucket.
func uploadsLeft(t *testing.T, srv *testenv.Server, bucket string) int {
	t.Helper()
	out, err := srv.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	return len(out.Uploads)
}

// A log's compose fails (S3 refuses its parts) and so does the abort of
// its multipart upload (deletes refused); the next fsync's publication
// lands while aborts are still refused, and the log is closed. Once S3
// takes deletes again, a clean unmount leaves no upload. Before, the
// closed, published file's spool file, the only record of the upload, was
// dropped, and the upload outlived the unmount with its parts billed
// (random seed 630542629 of the core's model).
func TestUploadWhoseAbortFailedIsGoneAfterTheUnmount(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	// Over 5 MiB: the log's publication is a multipart compose.
	srv.Put(t, b, "app.log", bytes.Repeat([]byte("0123456789abcdef\n"), 6<<20/17))
	m, p := mountVia(t, srv, b, "--upload-interval", "1h", "--close-delay", "1h")
	defer func() {
		if t.Failed() {
			t.Logf("mount log:\n%s", m.Stderr())
		}
	}()
	f, err := os.OpenFile(filepath.Join(m.Dir, "app.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p.SetRefuseDeletes(true)
	p.SetRefuseParts(true)
	if _, err := f.WriteString("line 1\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err == nil {
		t.Fatal("fsync succeeded while S3 refused every part")
	}
	if n := uploadsLeft(t, srv, b); n == 0 {
		t.Fatal("no upload left by a compose whose parts and abort were refused")
	}
	p.SetRefuseParts(false)
	if _, err := f.WriteString("line 2\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("fsync while S3 refuses only aborts: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := srv.Get(t, b, "app.log"); !bytes.HasSuffix(got, []byte("0123456789abcdef\nline 1\nline 2\n")) {
		t.Fatalf("S3 app.log ends %q", got[max(0, len(got)-40):])
	}
	p.SetRefuseDeletes(false)
	m.Unmount(t)
	if n := uploadsLeft(t, srv, b); n != 0 {
		t.Errorf("%d multipart uploads left after a clean unmount", n)
	}
}
