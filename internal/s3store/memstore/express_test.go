package memstore_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

func appendAt(st *memstore.Store, key string, off int64, data string) (s3store.ObjectInfo, error) {
	return st.AppendAt(bg, key, off, bytes.NewReader([]byte(data)), int64(len(data)))
}

func TestAppendAtOffsets(t *testing.T) {
	st := memstore.NewExpress("b--x-s3")
	if _, err := appendAt(st, "log", 0, "a"); !errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("append to a missing key: %v", err)
	}
	base := mustPut(t, st, "log", []byte("head\n"))
	info, err := appendAt(st, "log", 5, "one\n")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != 9 || info.ETag == base.ETag || info.Key != "log" {
		t.Fatalf("AppendAt info %+v", info)
	}
	for _, off := range []int64{5, 8, 10, 0} {
		_, err := appendAt(st, "log", off, "x")
		var se *s3store.Error
		if !errors.Is(err, s3store.ErrPrecondition) || !s3store.IsConflict(err) || !errors.As(err, &se) ||
			se.Code != "InvalidWriteOffset" || se.Status != 400 {
			t.Errorf("append at %d of 9 bytes: %v", off, err)
		}
	}
	if data, etag, _ := st.Object("log"); string(data) != "head\none\n" || etag != info.ETag || st.Parts("log") != 2 {
		t.Fatalf("object %q %s, %d parts", data, etag, st.Parts("log"))
	}
}

func TestAppendAtNeedsADirectoryBucket(t *testing.T) {
	st := memstore.New("b")
	st.PutObject("log", []byte("x"))
	if _, err := appendAt(st, "log", 1, "y"); err == nil || isSentinel(err) {
		t.Fatalf("AppendAt on a general-purpose bucket: %v", err)
	}
	st.PutObject("a", nil)
	if err := st.Rename(bg, "a", "b"); err == nil || isSentinel(err) {
		t.Fatalf("Rename on a general-purpose bucket: %v", err)
	}
}

// The limit is the real 10,000: a Put is part 1, 9,999 appends fill it.
func TestAppendAtTenThousandParts(t *testing.T) {
	st := memstore.NewExpress("b--x-s3")
	mustPut(t, st, "log", []byte("p"))
	for i := 1; i < s3store.MaxParts; i++ {
		if _, err := appendAt(st, "log", int64(i), "p"); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if st.Parts("log") != s3store.MaxParts {
		t.Fatalf("%d parts", st.Parts("log"))
	}
	_, etag, _ := st.Object("log")
	_, err := appendAt(st, "log", s3store.MaxParts, "p")
	if !errors.Is(err, s3store.ErrTooManyParts) || errors.Is(err, s3store.ErrPrecondition) {
		t.Fatalf("append 10,001: %v", err)
	}
	if data, e, _ := st.Object("log"); len(data) != s3store.MaxParts || e != etag {
		t.Fatalf("refused append changed the object: %d bytes", len(data))
	}
	// A Copy onto itself resets the count (publish's compaction).
	info, err := st.Copy(bg, "log", etag, "log", s3store.Cond{IfMatch: etag})
	if err != nil {
		t.Fatal(err)
	}
	if st.Parts("log") != 1 || info.ETag == etag {
		t.Fatalf("after Copy: %d parts, ETag %s", st.Parts("log"), info.ETag)
	}
	if _, err := appendAt(st, "log", s3store.MaxParts, "p"); err != nil {
		t.Fatalf("append after compaction: %v", err)
	}
}

func TestPartsCount(t *testing.T) {
	st := memstore.NewExpress("b--x-s3")
	big := bytes.Repeat([]byte("x"), s3store.MinPartSize)
	id, _ := st.CreateMultipart(bg, "k", s3store.Cond{})
	p1, err1 := st.UploadPart(bg, "k", id, 1, bytes.NewReader(big), int64(len(big)))
	p2, err2 := st.UploadPart(bg, "k", id, 2, bytes.NewReader([]byte("x")), 1)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := st.CompleteMultipart(bg, "k", id, []s3store.Part{p1, p2}, s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
	if st.Parts("k") != 2 {
		t.Fatalf("multipart object: %d parts, want 2 (each counts toward 10,000)", st.Parts("k"))
	}
	if _, err := appendAt(st, "k", int64(len(big)+1), "y"); err != nil {
		t.Fatal(err)
	}
	st.AppendObject("k", []byte("z"))
	if st.Parts("k") != 4 {
		t.Fatalf("after two appends: %d parts", st.Parts("k"))
	}
	mustPut(t, st, "k", []byte("new"))
	if st.Parts("k") != 1 {
		t.Fatalf("after Put: %d parts", st.Parts("k"))
	}
}

func TestRename(t *testing.T) {
	st := memstore.NewExpress("b--x-s3")
	etag := st.PutObject("a", []byte("data"))
	st.PutObject("b", []byte("old b"))
	if err := st.Rename(bg, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := st.Object("a"); ok {
		t.Fatal("source left behind")
	}
	data, e, _ := st.Object("b")
	if string(data) != "data" || e != etag {
		t.Fatalf("b = %q %s", data, e)
	}
	if err := st.Rename(bg, "a", "c"); !errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("Rename of a missing key: %v", err)
	}
	if k := st.Keys(); len(k) != 1 || k[0] != "b" {
		t.Fatalf("keys %v", k)
	}
}
