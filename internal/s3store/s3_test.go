package s3store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var bg = context.Background()

func setup(t *testing.T) (*testenv.Server, string, *s3store.S3) {
	t.Helper()
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	return srv, b, srv.StoreWith(t, s3store.Options{Bucket: b})
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func readAll(t *testing.T, rc io.ReadCloser, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func put(t *testing.T, st s3store.Store, key string, data []byte, c s3store.Cond) (s3store.ObjectInfo, error) {
	t.Helper()
	return st.Put(bg, key, bytes.NewReader(data), int64(len(data)), c)
}

func TestNewErrors(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)

	_, err := s3store.New(bg, s3store.Options{Bucket: "nope-" + b, EndpointURL: srv.Endpoint,
		ForcePathStyle: true, Region: srv.Region, Credentials: srv.Credentials()})
	if !errors.Is(err, s3store.ErrNoSuchBucket) || err.Error() != fmt.Sprintf("bucket %q does not exist", "nope-"+b) {
		t.Errorf("missing bucket: %v", err)
	}

	_, err = s3store.New(bg, s3store.Options{Bucket: b, EndpointURL: srv.Endpoint, ForcePathStyle: true,
		Region: srv.Region, Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, "wrong-secret-key", "")})
	if !errors.Is(err, s3store.ErrAccessDenied) || err.Error() != fmt.Sprintf("access to bucket %q was denied: check credentials", b) {
		t.Errorf("wrong secret: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "wrong-secret-key") {
		t.Errorf("error shows the secret: %v", err)
	}

	// A closed port: refused at once, two attempts at most.
	p := testenv.NewProxy(t, srv.Endpoint)
	p.SetOutage(true)
	_, err = s3store.New(bg, s3store.Options{Bucket: b, EndpointURL: p.URL, ForcePathStyle: true,
		Region: srv.Region, Credentials: srv.Credentials()})
	if !errors.Is(err, s3store.ErrUnreachable) || !strings.HasPrefix(err.Error(), "cannot reach S3 endpoint "+p.URL) {
		t.Errorf("unreachable: %v", err)
	}
}

func TestRegionAutoDetect(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	st, err := s3store.New(bg, s3store.Options{Bucket: b, EndpointURL: srv.Endpoint, ForcePathStyle: true,
		Credentials: srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := put(t, st, "k", []byte("v"), s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
}

// AWS_CA_BUNDLE must not break the client (a bare http.Client would).
func TestCABundleKeepsWorking(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
	_, b, st := setup(t)
	if st.Bucket() != b {
		t.Fatalf("Bucket() = %q", st.Bucket())
	}
	if _, err := put(t, st, "ca", []byte("ok"), s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
}

func TestPutHeadGet(t *testing.T) {
	srv, b, st := setup(t)
	data := randBytes(100_000)
	info, err := put(t, st, "dir/obj", data, s3store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(data)) || info.ETag == "" || info.Key != "dir/obj" {
		t.Fatalf("Put info %+v", info)
	}
	if !bytes.Equal(srv.Get(t, b, "dir/obj"), data) {
		t.Fatal("server has other bytes")
	}
	h, err := st.Head(bg, "dir/obj")
	if err != nil {
		t.Fatal(err)
	}
	if h.Size != int64(len(data)) || h.ETag != info.ETag || h.LastModified.IsZero() {
		t.Fatalf("Head %+v, Put ETag %s", h, info.ETag)
	}

	rc, err := st.Get(bg, "dir/obj", 0, -1, "")
	if got := readAll(t, rc, err); !bytes.Equal(got, data) {
		t.Fatal("whole Get differs")
	}
	rc, err = st.Get(bg, "dir/obj", 1000, 500, info.ETag)
	if got := readAll(t, rc, err); !bytes.Equal(got, data[1000:1500]) {
		t.Fatalf("ranged Get: %d bytes", len(got))
	}
	rc, err = st.Get(bg, "dir/obj", 99_990, -1, "")
	if got := readAll(t, rc, err); !bytes.Equal(got, data[99_990:]) {
		t.Fatalf("tail Get: %d bytes", len(got))
	}
	before := st.Stats()["GetObject"].Requests
	rc, err = st.Get(bg, "dir/obj", 5, 0, "")
	if got := readAll(t, rc, err); len(got) != 0 {
		t.Fatal("n=0 Get returned bytes")
	}
	if st.Stats()["GetObject"].Requests != before {
		t.Fatal("n=0 Get sent a request")
	}

	_, err = st.Get(bg, "dir/obj", 0, 10, `"0123456789abcdef0123456789abcdef"`)
	if !errors.Is(err, s3store.ErrPrecondition) || !s3store.IsConflict(err) {
		t.Fatalf("Get with stale ETag: %v", err)
	}
	_, err = st.Get(bg, "missing", 0, -1, "")
	if !errors.Is(err, s3store.ErrNotFound) || !strings.Contains(err.Error(), `"missing"`) {
		t.Fatalf("Get missing: %v", err)
	}
	_, err = st.Head(bg, "missing")
	if !errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("Head missing: %v", err)
	}
	if !strings.Contains(err.Error(), "HeadObject") {
		t.Fatalf("error without the operation: %v", err)
	}
}

func TestConditionalPut(t *testing.T) {
	_, _, st := setup(t)
	first, err := put(t, st, "c", []byte("one"), s3store.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = put(t, st, "c", []byte("two"), s3store.Cond{IfNoneMatch: true})
	if !s3store.IsConflict(err) {
		t.Fatalf("If-None-Match on existing key: %v", err)
	}
	_, err = put(t, st, "c", []byte("two"), s3store.Cond{IfMatch: `"0123456789abcdef0123456789abcdef"`})
	if !errors.Is(err, s3store.ErrPrecondition) {
		t.Fatalf("If-Match mismatch: %v", err)
	}
	if !strings.Contains(err.Error(), "PreconditionFailed") || !strings.Contains(err.Error(), `"c"`) {
		t.Fatalf("error text lacks code or key: %v", err)
	}
	second, err := put(t, st, "c", []byte("two"), s3store.Cond{IfMatch: first.ETag})
	if err != nil {
		t.Fatalf("If-Match with the right ETag: %v", err)
	}
	if second.ETag == first.ETag {
		t.Fatal("ETag did not change")
	}
}

func TestMultipartCompose(t *testing.T) {
	srv, b, st := setup(t)
	base := randBytes(s3store.MinPartSize + 1234)
	old, err := put(t, st, "log", base, s3store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	tail := []byte("appended line\n")

	id, err := st.CreateMultipart(bg, "log", s3store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	// MinIO lists uploads only for a prefix that is the whole key.
	ups, err := st.ListMultipartUploads(bg, "log")
	if err != nil || len(ups) != 1 || ups[0].UploadID != id || ups[0].Key != "log" {
		t.Fatalf("ListMultipartUploads = %+v, %v", ups, err)
	}
	if _, err := st.UploadPartCopy(bg, "log", id, 1, "log", `"0123456789abcdef0123456789abcdef"`, 0, int64(len(base))); !errors.Is(err, s3store.ErrPrecondition) {
		t.Fatalf("UploadPartCopy with stale ETag: %v", err)
	}
	p1, err := st.UploadPartCopy(bg, "log", id, 1, "log", old.ETag, 0, int64(len(base)))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := st.UploadPart(bg, "log", id, 2, bytes.NewReader(tail), int64(len(tail)))
	if err != nil {
		t.Fatal(err)
	}
	if p1.ETag == "" || p2.ETag == "" || p2.Number != 2 {
		t.Fatalf("parts %+v %+v", p1, p2)
	}
	parts := []s3store.Part{p1, p2}
	if _, err := st.CompleteMultipart(bg, "log", id, parts, s3store.Cond{IfMatch: `"0123456789abcdef0123456789abcdef"`}); !s3store.IsConflict(err) {
		t.Fatalf("CompleteMultipart with stale If-Match: %v", err)
	}
	// A refused completion may or may not keep the upload (servers differ):
	// start again if it is gone.
	if _, err := st.UploadPart(bg, "log", id, 2, bytes.NewReader(tail), int64(len(tail))); errors.Is(err, s3store.ErrNoSuchUpload) {
		id, _ = st.CreateMultipart(bg, "log", s3store.Cond{})
		p1, _ = st.UploadPartCopy(bg, "log", id, 1, "log", old.ETag, 0, int64(len(base)))
		p2, _ = st.UploadPart(bg, "log", id, 2, bytes.NewReader(tail), int64(len(tail)))
		parts = []s3store.Part{p1, p2}
	}
	info, err := st.CompleteMultipart(bg, "log", id, parts, s3store.Cond{IfMatch: old.ETag})
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag == "" || info.ETag == old.ETag {
		t.Fatalf("complete info %+v", info)
	}
	want := append(append([]byte{}, base...), tail...)
	if got := srv.Get(t, b, "log"); !bytes.Equal(got, want) {
		t.Fatalf("composed object: %d bytes, want %d", len(got), len(want))
	}
}

func TestMultipartNewKeyAndAbort(t *testing.T) {
	srv, b, st := setup(t)
	id, err := st.CreateMultipart(bg, "new", s3store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	part := randBytes(s3store.MinPartSize)
	p1, err := st.UploadPart(bg, "new", id, 1, bytes.NewReader(part), int64(len(part)))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := st.UploadPart(bg, "new", id, 2, bytes.NewReader([]byte("end")), 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CompleteMultipart(bg, "new", id, []s3store.Part{p1, p2}, s3store.Cond{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Get(t, b, "new"); len(got) != len(part)+3 {
		t.Fatalf("size %d", len(got))
	}

	id, err = st.CreateMultipart(bg, "aborted", s3store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AbortMultipart(bg, "aborted", id); err != nil {
		t.Fatal(err)
	}
	_, err = st.UploadPart(bg, "aborted", id, 1, bytes.NewReader([]byte("x")), 1)
	if !errors.Is(err, s3store.ErrNoSuchUpload) {
		t.Fatalf("UploadPart to aborted upload: %v", err)
	}
	_, err = st.CompleteMultipart(bg, "aborted", id, []s3store.Part{p1}, s3store.Cond{})
	if !errors.Is(err, s3store.ErrNoSuchUpload) {
		t.Fatalf("Complete of aborted upload: %v", err)
	}
	if ups, err := st.ListMultipartUploads(bg, "aborted"); err != nil || len(ups) != 0 {
		t.Fatalf("uploads left: %+v, %v", ups, err)
	}
}

func TestCopyAndDelete(t *testing.T) {
	srv, b, st := setup(t)
	src := "dir/a b+c&ü.txt"
	info, err := put(t, st, src, []byte("copy me"), s3store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Copy(bg, src, `"0123456789abcdef0123456789abcdef"`, "dst", s3store.Cond{}); !errors.Is(err, s3store.ErrPrecondition) {
		t.Fatalf("Copy with stale source ETag: %v", err)
	}
	if _, err := st.Copy(bg, src, info.ETag, "dst", s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Get(t, b, "dst"); string(got) != "copy me" {
		t.Fatalf("copy = %q", got)
	}
	if _, err := st.Copy(bg, "missing", "", "dst2", s3store.Cond{}); !errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("Copy of missing key: %v", err)
	}
	if err := st.Delete(bg, src); err != nil {
		t.Fatal(err)
	}
	if srv.Exists(t, b, src) {
		t.Fatal("Delete left the key")
	}
	if err := st.Delete(bg, src); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
}

func TestList(t *testing.T) {
	srv, b, st := setup(t)
	for _, k := range []string{"d/a", "d/b", "d/c", "d/sub/x", "d/sub/y", "e"} {
		srv.Put(t, b, k, []byte(k))
	}
	p, err := st.List(bg, "d/", "/", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Objects) != 3 || len(p.Prefixes) != 1 || p.Prefixes[0] != "d/sub/" || p.NextToken != "" {
		t.Fatalf("page %+v", p)
	}
	if o := p.Objects[1]; o.Key != "d/b" || o.Size != 3 || o.ETag == "" || o.LastModified.IsZero() {
		t.Fatalf("object %+v", o)
	}
	var keys []string
	tok := ""
	for pages := 0; ; pages++ {
		p, err := st.List(bg, "d/", "", tok, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range p.Objects {
			keys = append(keys, o.Key)
		}
		if tok = p.NextToken; tok == "" {
			if pages < 2 {
				t.Fatalf("5 keys by 2 came in %d pages", pages+1)
			}
			break
		}
	}
	if strings.Join(keys, ",") != "d/a,d/b,d/c,d/sub/x,d/sub/y" {
		t.Fatalf("paged keys %q", keys)
	}
}

func TestBucketGoneAfterNew(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	st := srv.StoreWith(t, s3store.Options{Bucket: b})
	if _, err := srv.Client().DeleteBucket(bg, &s3sdk.DeleteBucketInput{Bucket: &b}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Head(bg, "k"); !errors.Is(err, s3store.ErrNoSuchBucket) && !errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("Head in deleted bucket: %v", err)
	}
	if _, err := put(t, st, "k", []byte("v"), s3store.Cond{}); !errors.Is(err, s3store.ErrNoSuchBucket) {
		t.Fatalf("Put in deleted bucket: %v", err)
	}
}

func TestStatsCount(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	p := testenv.NewProxy(t, srv.Endpoint)
	st := srv.StoreWith(t, s3store.Options{Bucket: b, EndpointURL: p.URL, MaxAttempts: 5})
	data := randBytes(10_000)
	if _, err := put(t, st, "s", data, s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
	rc, err := st.Get(bg, "s", 0, -1, "")
	readAll(t, rc, err)
	st.Head(bg, "missing")
	s := st.Stats()
	if s["PutObject"].Requests != 1 || s["PutObject"].BytesOut < int64(len(data)) {
		t.Fatalf("PutObject %+v", s["PutObject"])
	}
	if s["GetObject"].Requests != 1 || s["GetObject"].BytesIn != int64(len(data)) {
		t.Fatalf("GetObject %+v", s["GetObject"])
	}
	if s["HeadObject"].Errors != 1 {
		t.Fatalf("HeadObject %+v", s["HeadObject"])
	}
	if st.Retries() != 0 {
		t.Fatalf("retries %d without faults", st.Retries())
	}

	// Every 2nd request answered SlowDown: each call takes two attempts.
	p.SetSlowDown(2)
	n0 := p.Requests()
	for p.Requests()%2 != 1 { // make the next request an odd, refused one
		st.Head(bg, "s")
		n0 = p.Requests()
	}
	before := st.Stats()["HeadObject"].Requests
	if _, err := st.Head(bg, "s"); err != nil {
		t.Fatal(err)
	}
	if got := st.Stats()["HeadObject"].Requests - before; got != 2 || p.Requests()-n0 != 2 {
		t.Fatalf("HeadObject behind SlowDown: %d attempts counted, proxy saw %d", got, p.Requests()-n0)
	}
	if st.Retries() == 0 {
		t.Fatal("no retry counted")
	}
	if st.Stats().Total() < 5 {
		t.Fatalf("Total %d", st.Stats().Total())
	}
}

// A CreateMultipartUpload whose answer is lost after S3 made the upload
// is not retried by the SDK: a retry that succeeded would hide the first
// upload (billed until a lifecycle rule). The error tells the caller to
// abort what the lost answer left, and ListMultipartUploads finds it.
func TestCreateMultipartLostAnswerIsNotRetried(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	p := testenv.NewProxy(t, srv.Endpoint)
	st := srv.StoreWith(t, s3store.Options{Bucket: b, EndpointURL: p.URL, MaxAttempts: 5})
	p.SetLostAnswers(2) // the first write is answered, the second lost, ...
	if _, err := put(t, st, "first", []byte("x"), s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateMultipart(bg, "big", s3store.Cond{}); err == nil {
		t.Fatal("CreateMultipartUpload with its answer lost reported success: the SDK retried it")
	}
	p.SetLostAnswers(0)
	ups, err := st.ListMultipartUploads(bg, "big")
	if err != nil || len(ups) != 1 {
		t.Fatalf("uploads after the lost answer: %+v, %v (want the one S3 made)", ups, err)
	}
	if err := st.AbortMultipart(bg, "big", ups[0].UploadID); err != nil {
		t.Fatal(err)
	}
}
