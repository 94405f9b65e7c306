package s3store_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/testenv"
)

// BenchmarkSequentialRead reads one object through the Store, whole and in
// 8 MiB ranges, and reports each against a plain net/http GET of a presigned
// URL of the same object (ratio 1.0 = the server's raw speed).
// S3MOUNT_BENCH_MB sets the object size (default 256).
func BenchmarkSequentialRead(b *testing.B) {
	mb := 256
	if v, err := strconv.Atoi(os.Getenv("S3MOUNT_BENCH_MB")); err == nil && v > 0 {
		mb = v
	}
	size := int64(mb) << 20
	srv := testenv.StartServer(b)
	bucket := srv.NewBucket(b)
	st := srv.StoreWith(b, s3store.Options{Bucket: bucket})
	if _, err := st.Put(bg, "big", bytes.NewReader(make([]byte, size)), size, s3store.Cond{}); err != nil {
		b.Fatal(err)
	}
	info, err := st.Head(bg, "big")
	if err != nil {
		b.Fatal(err)
	}
	pre, err := s3sdk.NewPresignClient(srv.Client()).PresignGetObject(bg, &s3sdk.GetObjectInput{Bucket: &bucket, Key: &info.Key})
	if err != nil {
		b.Fatal(err)
	}
	raw := func() {
		resp, err := http.Get(pre.URL)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != size {
			b.Fatalf("raw GET read %d", n)
		}
	}
	whole := func() {
		rc, err := st.Get(bg, "big", 0, -1, info.ETag)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, rc)
		rc.Close()
		if n != size {
			b.Fatalf("Store.Get read %d", n)
		}
	}
	ranged := func() {
		const part = 8 << 20
		for off := int64(0); off < size; off += part {
			rc, err := st.Get(bg, "big", off, min(part, size-off), info.ETag)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, rc)
			rc.Close()
		}
	}
	timeIt := func(f func()) time.Duration {
		t0 := time.Now()
		f()
		return time.Since(t0)
	}
	b.SetBytes(size)
	b.ResetTimer()
	var tRaw, tWhole, tRanged time.Duration
	for i := 0; i < b.N; i++ {
		tRaw += timeIt(raw)
		tWhole += timeIt(whole)
		tRanged += timeIt(ranged)
	}
	b.ReportMetric(float64(tRaw)/float64(tWhole), "whole/raw")
	b.ReportMetric(float64(tRaw)/float64(tRanged), "ranged8M/raw")
	b.ReportMetric(float64(size*int64(b.N))/tWhole.Seconds()/(1<<20), "whole-MiB/s")
}
