package memstore_test

import (
	"bytes"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
)

// The compression mark is written by Put and CreateMultipart, shown by
// Head, kept by a copy that sets nothing and replaced by one that sets it.
func contractEncoding(t *testing.T, st s3store.Store, q quirks) {
	enc := func(key string) *s3store.Encoding {
		t.Helper()
		h, err := st.Head(bg, key)
		if err != nil {
			t.Fatal(err)
		}
		return h.Encoding
	}
	want := func(what string, got *s3store.Encoding, name string, size int64) {
		t.Helper()
		if got == nil || got.Name != name || got.Size != size {
			t.Fatalf("%s: encoding %+v, want %s/%d", what, got, name, size)
		}
	}
	if _, err := putBytes(st, "enc/put.gz", []byte("x"), s3store.Cond{Tag: "t", Encoding: &s3store.Encoding{Name: "gzip", Size: 12345}}); err != nil {
		t.Fatal(err)
	}
	want("Put", enc("enc/put.gz"), "gzip", 12345)
	mustPut(t, st, "enc/plain.gz", []byte("x"))
	if e := enc("enc/plain.gz"); e != nil {
		t.Fatalf("unmarked object shows encoding %+v", e)
	}
	id, err := st.CreateMultipart(bg, "enc/mp.zst", s3store.Cond{Encoding: &s3store.Encoding{Name: "zstd", Size: 1 << 40}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.UploadPart(bg, "enc/mp.zst", id, 1, bytes.NewReader([]byte("part")), 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CompleteMultipart(bg, "enc/mp.zst", id, []s3store.Part{p}, s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
	want("multipart", enc("enc/mp.zst"), "zstd", 1<<40)
	src, _ := st.Head(bg, "enc/put.gz")
	if _, err := st.Copy(bg, "enc/put.gz", src.ETag, "enc/copy.gz", s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
	want("copy keeping metadata", enc("enc/copy.gz"), "gzip", 12345)
	if _, err := st.Copy(bg, "enc/put.gz", src.ETag, "enc/moved.gz", s3store.Cond{Tag: "m", Encoding: &s3store.Encoding{Name: "gzip", Size: 12345}}); err != nil {
		t.Fatal(err)
	}
	want("copy replacing metadata", enc("enc/moved.gz"), "gzip", 12345)
	// A directory bucket's mark: the size is in the object's trailer.
	if _, err := putBytes(st, "enc/express.gz", []byte("x"), s3store.Cond{Encoding: &s3store.Encoding{Name: "gzip", Trailer: true}}); err != nil {
		t.Fatal(err)
	}
	if e := enc("enc/express.gz"); e == nil || e.Name != "gzip" || !e.Trailer || e.Size != 0 {
		t.Fatalf("trailer mark: %+v", e)
	}
}
