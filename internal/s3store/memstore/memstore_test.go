package memstore_test

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

func TestContractMemstore(t *testing.T) {
	t.Run("General", func(t *testing.T) { checkSemantics(t, memstore.New("b"), quirks{}) })
	t.Run("Express", func(t *testing.T) { checkSemantics(t, memstore.NewExpress("b--x-s3"), quirks{}) })
}

// With SetContentETags a single-part write's ETag is the MD5 of its
// bytes, as AWS's: a rewrite of the same bytes and a copy keep it.
func TestContentETags(t *testing.T) {
	st := memstore.New("b")
	st.SetContentETags(true)
	const empty = `"d41d8cd98f00b204e9800998ecf8427e"`
	if e := st.PutObject("k", nil); e != empty {
		t.Fatalf("ETag of no bytes %s, want %s", e, empty)
	}
	a, b := mustPut(t, st, "k", []byte("same")).ETag, mustPut(t, st, "k2", []byte("same")).ETag
	if a != b {
		t.Fatalf("the same bytes have ETags %s and %s", a, b)
	}
	info, err := st.Copy(bg, "k", "", "k3", s3store.Cond{})
	if err != nil || info.ETag != a {
		t.Fatalf("copy: %+v, %v; want ETag %s", info, err, a)
	}
	if c := mustPut(t, st, "k", []byte("other")).ETag; c == a {
		t.Fatalf("other bytes have the same ETag %s", c)
	}
	x := memstore.NewExpress("b--use1-az4--x-s3")
	x.SetContentETags(true)
	if x.PutObject("k", nil) == x.PutObject("k", nil) {
		t.Fatal("S3 Express ETags repeat: they are not MD5s")
	}
}

// A multipart upload's ETag, with SetContentETags, is AWS's: the MD5 of
// its parts' MD5s and their count. The same parts give the same ETag on
// any key; the same bytes split otherwise do not.
func TestContentETagsMultipart(t *testing.T) {
	st := memstore.New("b")
	st.SetContentETags(true)
	big := bytes.Repeat([]byte("x"), s3store.MinPartSize)
	upload := func(key string, parts ...[]byte) string {
		t.Helper()
		id, err := st.CreateMultipart(bg, key, s3store.Cond{})
		if err != nil {
			t.Fatal(err)
		}
		var done []s3store.Part
		for i, p := range parts {
			pt, err := st.UploadPart(bg, key, id, int32(i+1), bytes.NewReader(p), int64(len(p)))
			if err != nil {
				t.Fatal(err)
			}
			done = append(done, pt)
		}
		info, err := st.CompleteMultipart(bg, key, id, done, s3store.Cond{})
		if err != nil {
			t.Fatal(err)
		}
		return info.ETag
	}
	a := upload("k1", big, []byte("tail"))
	if b := upload("k2", big, []byte("tail")); b != a {
		t.Fatalf("the same parts have ETags %s and %s", a, b)
	}
	p1, p2 := md5.Sum(big), md5.Sum([]byte("tail"))
	if want := fmt.Sprintf(`"%x-2"`, md5.Sum(append(p1[:], p2[:]...))); a != want {
		t.Fatalf("ETag %s, want AWS's %s", a, want)
	}
	whole := append(append([]byte{}, big...), "tail"...)
	if c := upload("k3", whole); c == a {
		t.Fatalf("one part of the same bytes has the two parts' ETag %s", c)
	}
	if h, err := st.Head(bg, "k1"); err != nil || h.ETag != a {
		t.Fatalf("HEAD: %+v, %v; want ETag %s", h, err, a)
	}
}

func TestETagsNeverRepeat(t *testing.T) {
	st := memstore.New("b")
	seen := map[string]bool{}
	note := func(etag string) {
		t.Helper()
		if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 3 {
			t.Fatalf("ETag %s is not a quoted string", etag)
		}
		if seen[etag] {
			t.Fatalf("ETag %s given twice", etag)
		}
		seen[etag] = true
	}
	for range 3 {
		note(mustPut(t, st, "k", []byte("same")).ETag)
		note(st.PutObject("k", []byte("same")))
		note(st.AppendObject("k", nil))
	}
	info, err := st.Copy(bg, "k", "", "k", s3store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	note(info.ETag)
	h, err := st.Head(bg, "k")
	if err != nil || h.ETag != info.ETag || h.LastModified.IsZero() {
		t.Fatalf("Head %+v, %v", h, err)
	}
	if _, etag, ok := st.Object("k"); !ok || etag != h.ETag {
		t.Fatalf("Object ETag %s, Head %s", etag, h.ETag)
	}
}

func TestPutReadsExactlySize(t *testing.T) {
	st := memstore.New("b")
	for _, size := range []int64{2, 4} {
		_, err := st.Put(bg, "k", bytes.NewReader([]byte("abc")), size, s3store.Cond{})
		if err == nil || isSentinel(err) {
			t.Errorf("Put of 3 bytes as %d: %v", size, err)
		}
	}
	if _, _, ok := st.Object("k"); ok {
		t.Fatal("a refused Put stored an object")
	}
	// The body is read from its current position, as the SDK sends it.
	r := bytes.NewReader([]byte("xxabc"))
	r.Seek(2, 0)
	if _, err := st.Put(bg, "k", r, 3, s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
	if data, _, _ := st.Object("k"); string(data) != "abc" {
		t.Fatalf("stored %q", data)
	}
}

func TestGetBodyIsASnapshot(t *testing.T) {
	st := memstore.New("b")
	etag := st.PutObject("k", []byte("old bytes"))
	rc, err := st.Get(bg, "k", 0, -1, etag)
	if err != nil {
		t.Fatal(err)
	}
	st.AppendObject("k", []byte(" and more")) // a foreign append while the body is unread
	st.PutObject("k", []byte("replaced"))
	var b bytes.Buffer
	b.ReadFrom(rc)
	rc.Close()
	if b.String() != "old bytes" {
		t.Fatalf("body %q", b.String())
	}
	if _, err := getBytes(st, "k", 0, 3, etag); !errors.Is(err, s3store.ErrPrecondition) {
		t.Fatalf("Get pinned to the replaced version: %v", err)
	}
}

func TestRangeErrorsAreNotNotFound(t *testing.T) {
	st := memstore.New("b")
	st.PutObject("k", []byte("0123"))
	st.PutObject("empty", nil)
	for _, c := range []struct {
		key    string
		off, n int64
	}{{"k", 4, -1}, {"k", 4, 1}, {"k", 9, 1}, {"empty", 0, 1}} {
		_, err := getBytes(st, c.key, c.off, c.n, "")
		var se *s3store.Error
		if !errors.As(err, &se) || se.Status != 416 || isSentinel(err) {
			t.Errorf("Get(%s, %d, %d): %v, want 416 InvalidRange", c.key, c.off, c.n, err)
		}
	}
}

func TestErrorsReadLikeTheRealStore(t *testing.T) {
	st := memstore.New("b")
	st.PutObject("c", []byte("x"))
	_, err := putBytes(st, "c", []byte("y"), s3store.Cond{IfMatch: staleETag})
	var se *s3store.Error
	if !errors.As(err, &se) || se.Code != "PreconditionFailed" || se.Status != 412 || se.Op != "PutObject" || se.Key != "c" {
		t.Fatalf("error %#v", se)
	}
	if want := `s3 PutObject "c": PreconditionFailed: `; !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "(HTTP 412)") {
		t.Fatalf("text %q, want %q... (HTTP 412)", err, want)
	}
}

func TestCompleteMultipartChecks(t *testing.T) {
	st := memstore.New("b")
	big := bytes.Repeat([]byte("x"), s3store.MinPartSize)
	id, _ := st.CreateMultipart(bg, "k", s3store.Cond{})
	p1, _ := st.UploadPart(bg, "k", id, 1, bytes.NewReader(big), int64(len(big)))
	p2, _ := st.UploadPart(bg, "k", id, 2, bytes.NewReader([]byte("y")), 1)
	p3, _ := st.UploadPart(bg, "k", id, 3, bytes.NewReader([]byte("z")), 1)
	wrongETag := p2
	wrongETag.ETag = staleETag
	for _, c := range []struct {
		parts []s3store.Part
		code  string
	}{
		{[]s3store.Part{p1, p2, p3}, "EntityTooSmall"}, // p2 is small and not last
		{[]s3store.Part{p2, p1}, "InvalidPartOrder"},
		{[]s3store.Part{p1, wrongETag}, "InvalidPart"},
		{[]s3store.Part{p1, {Number: 7, ETag: p2.ETag}}, "InvalidPart"},
		{nil, "MalformedXML"},
	} {
		_, err := st.CompleteMultipart(bg, "k", id, c.parts, s3store.Cond{})
		var se *s3store.Error
		if !errors.As(err, &se) || se.Code != c.code || isSentinel(err) {
			t.Errorf("Complete %v: %v, want %s", c.parts, err, c.code)
		}
	}
	if _, err := st.CompleteMultipart(bg, "k", id, []s3store.Part{p1}, s3store.Cond{IfMatch: staleETag}); !errors.Is(err, s3store.ErrNotFound) {
		t.Errorf("Complete with If-Match onto a missing key: %v", err)
	}
	if ups := st.Uploads(); len(ups) != 1 || ups[0].UploadID != id || ups[0].Key != "k" || ups[0].Initiated.IsZero() {
		t.Fatalf("a refused completion must keep the upload: %+v", ups)
	}
	// Parts may be skipped; the last may be small.
	info, err := st.CompleteMultipart(bg, "k", id, []s3store.Part{p1, p3}, s3store.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(info.ETag, `-2"`) || info.Size != -1 {
		t.Errorf("Complete info %+v, want a multipart ETag and Size -1 like the real store", info)
	}
	data, _, _ := st.Object("k")
	if !bytes.Equal(data, append(append([]byte{}, big...), 'z')) || st.Parts("k") != 2 || len(st.Uploads()) != 0 {
		t.Fatalf("completed %d bytes, %d parts, uploads %v", len(data), st.Parts("k"), st.Uploads())
	}
	if _, err := st.CompleteMultipart(bg, "k", id, []s3store.Part{p1, p3}, s3store.Cond{}); !errors.Is(err, s3store.ErrNoSuchUpload) {
		t.Errorf("second Complete: %v", err)
	}
	if _, err := st.UploadPart(bg, "other", id, 1, bytes.NewReader([]byte("x")), 1); !errors.Is(err, s3store.ErrNoSuchUpload) {
		t.Errorf("UploadPart with another key's upload id: %v", err)
	}
	id2, _ := st.CreateMultipart(bg, "k", s3store.Cond{})
	if id2 == id {
		t.Fatal("upload id reused")
	}
	for _, num := range []int32{0, 10001} {
		if _, err := st.UploadPart(bg, "k", id2, num, bytes.NewReader([]byte("x")), 1); err == nil || isSentinel(err) {
			t.Errorf("part number %d: %v", num, err)
		}
	}
}

func TestUploadPartCopyPinsTheSource(t *testing.T) {
	st := memstore.New("b")
	big := bytes.Repeat([]byte("a"), s3store.MinPartSize)
	old := st.PutObject("src", big)
	id, _ := st.CreateMultipart(bg, "dst", s3store.Cond{})
	p1, err := st.UploadPartCopy(bg, "dst", id, 1, "src", old, 0, int64(len(big)))
	if err != nil {
		t.Fatal(err)
	}
	st.PutObject("src", bytes.Repeat([]byte("b"), s3store.MinPartSize)) // a foreign write after the copy
	if _, err := st.UploadPartCopy(bg, "dst", id, 2, "src", old, 0, 10); !errors.Is(err, s3store.ErrPrecondition) {
		t.Fatalf("UploadPartCopy pinned to the replaced version: %v", err)
	}
	for _, r := range [][2]int64{{0, 0}, {-1, 5}, {1, int64(len(big))}} {
		if _, err := st.UploadPartCopy(bg, "dst", id, 2, "src", "", r[0], r[1]); err == nil || isSentinel(err) {
			t.Errorf("copy range %v of %d bytes: %v", r, len(big), err)
		}
	}
	if _, err := st.CompleteMultipart(bg, "dst", id, []s3store.Part{p1}, s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
	if data, _, _ := st.Object("dst"); !bytes.Equal(data, big) {
		t.Fatal("the part holds the bytes of the version it was copied from")
	}
}

func TestListPagesOfThousand(t *testing.T) {
	st := memstore.New("b")
	for i := range 2500 {
		st.PutObject(fmt.Sprintf("p/%05d", i), nil)
	}
	st.PutObject("q", nil)
	var n, pages int
	tok := ""
	for {
		p, err := st.List(bg, "p/", "", tok, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range p.Objects {
			if want := fmt.Sprintf("p/%05d", n); o.Key != want {
				t.Fatalf("key %s, want %s", o.Key, want)
			}
			n++
		}
		pages++
		if tok = p.NextToken; tok == "" {
			break
		}
	}
	if n != 2500 || pages != 3 {
		t.Fatalf("%d keys in %d pages", n, pages)
	}
	if p, err := st.List(bg, "", "/", "", 0); err != nil || len(p.Objects) != 1 || len(p.Prefixes) != 1 || p.Prefixes[0] != "p/" {
		t.Fatalf("root %+v, %v", p, err)
	}
	if _, err := st.List(bg, "p/", "", "not a token!", 0); err == nil {
		t.Fatal("a bad token was accepted")
	}
}

func TestDirectAccess(t *testing.T) {
	st := memstore.New("b")
	st.AppendObject("b", []byte("one"))
	st.AppendObject("b", []byte("two"))
	st.PutObject("a", []byte("x"))
	data, _, ok := st.Object("b")
	if !ok || string(data) != "onetwo" {
		t.Fatalf("Object = %q, %v", data, ok)
	}
	data[0] = 'X' // a copy: the store keeps its bytes
	if d, _, _ := st.Object("b"); string(d) != "onetwo" {
		t.Fatal("Object returned the store's own slice")
	}
	if k := st.Keys(); strings.Join(k, ",") != "a,b" {
		t.Fatalf("Keys %v", k)
	}
	st.DeleteObject("b")
	st.DeleteObject("missing")
	if _, _, ok := st.Object("b"); ok || st.Parts("b") != 0 {
		t.Fatal("DeleteObject left the key")
	}
	if st.Calls() != 0 || st.Stats().Total() != 0 {
		t.Fatalf("direct access counted as calls: %d, %v", st.Calls(), st.Stats())
	}
}

func TestStats(t *testing.T) {
	st := memstore.New("b")
	mustPut(t, st, "k", []byte("12345"))
	got, _ := getBytes(st, "k", 1, 3, "")
	getBytes(st, "k", 0, 0, "") // no request, as the real store
	st.Head(bg, "missing")
	s := st.Stats()
	if s["PutObject"] != (s3store.OpStats{Requests: 1, BytesOut: 5}) {
		t.Errorf("PutObject %+v", s["PutObject"])
	}
	if s["GetObject"] != (s3store.OpStats{Requests: 1, BytesIn: int64(len(got))}) || len(got) != 3 {
		t.Errorf("GetObject %+v", s["GetObject"])
	}
	if s["HeadObject"] != (s3store.OpStats{Requests: 1, Errors: 1}) {
		t.Errorf("HeadObject %+v", s["HeadObject"])
	}
	if s.Total() != 3 || st.Calls() != 3 {
		t.Errorf("Total %d, Calls %d", s.Total(), st.Calls())
	}
}

func TestConcurrentUse(t *testing.T) {
	st := memstore.NewExpress("b--x-s3")
	st.PutObject("log", nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				key := fmt.Sprintf("g%d/%d", g, i)
				if _, err := putBytes(st, key, []byte(key), s3store.Cond{}); err != nil {
					t.Error(err)
					return
				}
				getBytes(st, key, 0, -1, "")
				st.List(bg, "", "/", "", 0)
				for {
					h, err := st.Head(bg, "log")
					if err != nil {
						t.Error(err)
						return
					}
					if _, err := st.AppendAt(bg, "log", h.Size, bytes.NewReader([]byte("x")), 1); err == nil {
						break
					} else if !errors.Is(err, s3store.ErrPrecondition) {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if data, _, _ := st.Object("log"); len(data) != 200 || st.Parts("log") != 201 {
		t.Fatalf("log: %d bytes, %d parts", len(data), st.Parts("log"))
	}
}
