package memstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
)

var bg = context.Background()

const staleETag = `"0123456789abcdef0123456789abcdef"`

// quirks are where a real server departs from AWS S3's documented
// behaviour; memstore follows AWS and runs with the zero value.
type quirks struct {
	// copyIgnoresDestCond: CopyObject ignores If-Match / If-None-Match on
	// the destination (AWS answers 412).
	copyIgnoresDestCond bool
	// deleteIfMissingOK: DeleteObject with If-Match of a missing key
	// answers 204 (AWS: 404 NoSuchKey).
	deleteIfMissingOK bool
	// deleteIgnoresIfMatch: DeleteObject deletes whatever If-Match says
	// (AWS: 412 when the object is at another ETag).
	deleteIgnoresIfMatch bool
}

// checkSemantics is the contract memstore shares with real S3: the same
// table runs against memstore and, in real_test.go, a real server.
func checkSemantics(t *testing.T, st s3store.Store, q quirks) {
	for _, c := range []struct {
		name string
		f    func(t *testing.T, st s3store.Store, q quirks)
	}{
		{"PutHeadGet", contractPutHeadGet},
		{"Ranges", contractRanges},
		{"ConditionalPut", contractConditionalPut},
		{"Multipart", contractMultipart},
		{"CopyDelete", contractCopyDelete},
		{"List", contractList},
		{"Tags", contractTags},
		{"Attrs", contractAttrs},
		{"Encoding", contractEncoding},
	} {
		t.Run(c.name, func(t *testing.T) { c.f(t, st, q) })
	}
}

func putBytes(st s3store.Store, key string, data []byte, c s3store.Cond) (s3store.ObjectInfo, error) {
	return st.Put(bg, key, bytes.NewReader(data), int64(len(data)), c)
}

func mustPut(t *testing.T, st s3store.Store, key string, data []byte) s3store.ObjectInfo {
	t.Helper()
	info, err := putBytes(st, key, data, s3store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func getBytes(st s3store.Store, key string, off, n int64, ifMatch string) ([]byte, error) {
	rc, err := st.Get(bg, key, off, n, ifMatch)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// isSentinel reports whether err matches any s3store sentinel.
func isSentinel(err error) bool {
	for _, s := range []error{s3store.ErrNotFound, s3store.ErrPrecondition, s3store.ErrConflict, s3store.ErrNoSuchUpload,
		s3store.ErrNoSuchBucket, s3store.ErrAccessDenied, s3store.ErrUnreachable, s3store.ErrTooManyParts} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func contractPutHeadGet(t *testing.T, st s3store.Store, q quirks) {
	a := mustPut(t, st, "phg/a", []byte("hello"))
	if !strings.HasPrefix(a.ETag, `"`) || !strings.HasSuffix(a.ETag, `"`) || a.Size != 5 || a.Key != "phg/a" {
		t.Fatalf("Put info %+v", a)
	}
	h, err := st.Head(bg, "phg/a")
	if err != nil || h.ETag != a.ETag || h.Size != 5 || h.LastModified.IsZero() {
		t.Fatalf("Head %+v, %v", h, err)
	}
	// Rewriting the same bytes is a new version; AWS's MD5 ETag would repeat,
	// which is why the contract only asks that a pinned read of the old
	// version fails once the bytes differ.
	b := mustPut(t, st, "phg/a", []byte("world"))
	if _, err := getBytes(st, "phg/a", 0, -1, a.ETag); !errors.Is(err, s3store.ErrPrecondition) {
		t.Fatalf("Get pinned to the replaced version: %v", err)
	}
	if got, err := getBytes(st, "phg/a", 0, -1, b.ETag); err != nil || string(got) != "world" {
		t.Fatalf("Get pinned to the current version: %q, %v", got, err)
	}
	if _, err := st.Head(bg, "phg/missing"); !errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("Head missing: %v", err)
	}
	if _, err := getBytes(st, "phg/missing", 0, -1, ""); !errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
	if _, err := getBytes(st, "phg/missing", 0, 10, staleETag); !errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("pinned Get of a missing key: %v", err)
	}
}

func contractRanges(t *testing.T, st s3store.Store, q quirks) {
	info := mustPut(t, st, "rg/a", []byte("0123456789"))
	for _, c := range []struct {
		off, n int64
		want   string
	}{{0, -1, "0123456789"}, {2, 3, "234"}, {7, -1, "789"}, {8, 100, "89"}, {0, 10, "0123456789"}} {
		got, err := getBytes(st, "rg/a", c.off, c.n, info.ETag)
		if err != nil || string(got) != c.want {
			t.Errorf("Get(%d, %d) = %q, %v; want %q", c.off, c.n, got, err, c.want)
		}
	}
	if got, err := getBytes(st, "rg/a", 3, 0, ""); err != nil || len(got) != 0 {
		t.Errorf("Get of 0 bytes = %q, %v", got, err)
	}
	if _, err := getBytes(st, "rg/a", 2, 3, staleETag); !errors.Is(err, s3store.ErrPrecondition) {
		t.Errorf("ranged Get with a stale ETag: %v", err)
	}
	for _, off := range []int64{10, 20} {
		if _, err := getBytes(st, "rg/a", off, 5, ""); err == nil || errors.Is(err, s3store.ErrNotFound) {
			t.Errorf("Get from %d of a 10-byte object: %v, want a range error", off, err)
		}
	}
	mustPut(t, st, "rg/empty", nil)
	if got, err := getBytes(st, "rg/empty", 0, -1, ""); err != nil || len(got) != 0 {
		t.Errorf("whole Get of an empty object = %q, %v", got, err)
	}
	if _, err := getBytes(st, "rg/empty", 0, 1, ""); err == nil || errors.Is(err, s3store.ErrNotFound) {
		t.Errorf("ranged Get of an empty object: %v, want a range error", err)
	}
}

func contractConditionalPut(t *testing.T, st s3store.Store, q quirks) {
	first, err := putBytes(st, "cp/a", []byte("one"), s3store.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := putBytes(st, "cp/a", []byte("two"), s3store.Cond{IfNoneMatch: true}); !errors.Is(err, s3store.ErrPrecondition) {
		t.Errorf("If-None-Match on an existing key: %v", err)
	}
	if _, err := putBytes(st, "cp/a", []byte("two"), s3store.Cond{IfMatch: staleETag}); !errors.Is(err, s3store.ErrPrecondition) {
		t.Errorf("If-Match mismatch: %v", err)
	}
	if _, err := putBytes(st, "cp/missing", []byte("x"), s3store.Cond{IfMatch: staleETag}); !errors.Is(err, s3store.ErrNotFound) {
		t.Errorf("If-Match on a missing key: %v, want NoSuchKey as AWS", err)
	}
	second, err := putBytes(st, "cp/a", []byte("two"), s3store.Cond{IfMatch: first.ETag})
	if err != nil || second.ETag == first.ETag {
		t.Fatalf("If-Match with the right ETag: %+v, %v", second, err)
	}
	if got, _ := getBytes(st, "cp/a", 0, -1, ""); string(got) != "two" {
		t.Errorf("object = %q after refused and accepted writes", got)
	}
}

func contractMultipart(t *testing.T, st s3store.Store, q quirks) {
	base := mustPut(t, st, "mp/base", bytes.Repeat([]byte("b"), s3store.MinPartSize))

	// Two small parts: the first is under MinPartSize.
	id, err := st.CreateMultipart(bg, "mp/small", s3store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	p1, err1 := st.UploadPart(bg, "mp/small", id, 1, bytes.NewReader([]byte("aa")), 2)
	p2, err2 := st.UploadPart(bg, "mp/small", id, 2, bytes.NewReader([]byte("bb")), 2)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	_, err = st.CompleteMultipart(bg, "mp/small", id, []s3store.Part{p1, p2}, s3store.Cond{})
	if err == nil || isSentinel(err) || !strings.Contains(err.Error(), "EntityTooSmall") {
		t.Errorf("Complete with a small first part: %v", err)
	}
	if err := st.AbortMultipart(bg, "mp/small", id); err != nil {
		t.Errorf("Abort after EntityTooSmall: %v", err)
	}
	if _, err := st.UploadPart(bg, "mp/small", id, 3, bytes.NewReader([]byte("c")), 1); !errors.Is(err, s3store.ErrNoSuchUpload) {
		t.Errorf("UploadPart to an aborted upload: %v", err)
	}
	if _, err := st.CompleteMultipart(bg, "mp/small", id, []s3store.Part{p1, p2}, s3store.Cond{}); !errors.Is(err, s3store.ErrNoSuchUpload) {
		t.Errorf("Complete of an aborted upload: %v", err)
	}
	if _, err := st.Head(bg, "mp/small"); !errors.Is(err, s3store.ErrNotFound) {
		t.Errorf("refused upload left an object: %v", err)
	}

	// Copy of a pinned source, plus a tail.
	id, err = st.CreateMultipart(bg, "mp/out", s3store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.UploadPartCopy(bg, "mp/out", id, 1, "mp/base", staleETag, 0, base.Size); !errors.Is(err, s3store.ErrPrecondition) {
		t.Errorf("UploadPartCopy pinned to a stale ETag: %v", err)
	}
	if _, err := st.UploadPartCopy(bg, "mp/out", id, 1, "mp/nope", "", 0, 1); !errors.Is(err, s3store.ErrNotFound) {
		t.Errorf("UploadPartCopy of a missing source: %v", err)
	}
	c1, err := st.UploadPartCopy(bg, "mp/out", id, 1, "mp/base", base.ETag, 0, base.Size)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := st.UploadPart(bg, "mp/out", id, 2, bytes.NewReader([]byte("tail")), 4)
	if err != nil {
		t.Fatal(err)
	}
	ups, err := st.ListMultipartUploads(bg, "mp/out")
	if err != nil || len(ups) != 1 || ups[0].UploadID != id || ups[0].Key != "mp/out" {
		t.Errorf("ListMultipartUploads = %+v, %v", ups, err)
	}
	info, err := st.CompleteMultipart(bg, "mp/out", id, []s3store.Part{c1, c2}, s3store.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	h, err := st.Head(bg, "mp/out")
	if err != nil || h.ETag != info.ETag || h.Size != base.Size+4 {
		t.Errorf("Head after Complete %+v (complete ETag %s), %v", h, info.ETag, err)
	}
	if got, _ := getBytes(st, "mp/out", base.Size-2, -1, info.ETag); string(got) != "bbtail" {
		t.Errorf("composed tail %q", got)
	}

	// Completion under If-None-Match onto an existing key.
	id, err = st.CreateMultipart(bg, "mp/out", s3store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.UploadPart(bg, "mp/out", id, 1, bytes.NewReader([]byte("x")), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CompleteMultipart(bg, "mp/out", id, []s3store.Part{p}, s3store.Cond{IfNoneMatch: true}); !s3store.IsConflict(err) {
		t.Errorf("Complete with If-None-Match onto an existing key: %v", err)
	}
	id2, err := st.CreateMultipart(bg, "mp/new", s3store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	p, err = st.UploadPart(bg, "mp/new", id2, 1, bytes.NewReader([]byte("x")), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CompleteMultipart(bg, "mp/new", id2, []s3store.Part{p}, s3store.Cond{IfMatch: staleETag}); !errors.Is(err, s3store.ErrNotFound) {
		t.Errorf("Complete with If-Match onto a missing key: %v, want NoSuchKey as AWS", err)
	}
	st.AbortMultipart(bg, "mp/new", id2)
	st.AbortMultipart(bg, "mp/out", id) // the refused upload may be gone already (servers differ)
	if err := st.AbortMultipart(bg, "mp/out", "no-such-upload-id"); !errors.Is(err, s3store.ErrNoSuchUpload) {
		t.Errorf("Abort of an unknown upload: %v", err)
	}
}

func contractCopyDelete(t *testing.T, st s3store.Store, q quirks) {
	src := mustPut(t, st, "cd/src", []byte("copy me"))
	if _, err := st.Copy(bg, "cd/src", staleETag, "cd/dst", s3store.Cond{}); !errors.Is(err, s3store.ErrPrecondition) {
		t.Errorf("Copy pinned to a stale ETag: %v", err)
	}
	if _, err := st.Copy(bg, "cd/missing", "", "cd/dst", s3store.Cond{}); !errors.Is(err, s3store.ErrNotFound) {
		t.Errorf("Copy of a missing key: %v", err)
	}
	info, err := st.Copy(bg, "cd/src", src.ETag, "cd/dst", s3store.Cond{})
	if err != nil || info.ETag == "" {
		t.Fatalf("Copy %+v, %v", info, err)
	}
	if got, _ := getBytes(st, "cd/dst", 0, -1, info.ETag); string(got) != "copy me" {
		t.Errorf("copied %q", got)
	}
	if !q.copyIgnoresDestCond {
		if _, err := st.Copy(bg, "cd/src", "", "cd/dst", s3store.Cond{IfMatch: staleETag}); !errors.Is(err, s3store.ErrPrecondition) {
			t.Errorf("Copy onto a destination with If-Match mismatch: %v", err)
		}
		if _, err := st.Copy(bg, "cd/src", "", "cd/dst", s3store.Cond{IfNoneMatch: true}); !errors.Is(err, s3store.ErrPrecondition) {
			t.Errorf("Copy onto an existing destination with If-None-Match: %v", err)
		}
	}
	self, err := st.Copy(bg, "cd/dst", info.ETag, "cd/dst", s3store.Cond{IfMatch: info.ETag})
	if err != nil || self.ETag == "" {
		t.Errorf("Copy onto itself (compaction): %+v, %v", self, err)
	}
	if err := st.Delete(bg, "cd/src"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Head(bg, "cd/src"); !errors.Is(err, s3store.ErrNotFound) {
		t.Errorf("Head after Delete: %v", err)
	}
	if err := st.Delete(bg, "cd/src"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
	// A conditional delete: only the version named goes.
	v0 := mustPut(t, st, "cd/cond", []byte("zero"))
	if err := st.DeleteIf(bg, "cd/cond", v0.ETag); err != nil {
		t.Errorf("DeleteIf of the current version: %v", err)
	}
	if _, err := st.Head(bg, "cd/cond"); !errors.Is(err, s3store.ErrNotFound) {
		t.Errorf("Head after DeleteIf: %v", err)
	}
	if err := st.DeleteIf(bg, "cd/cond", v0.ETag); !errors.Is(err, s3store.ErrNotFound) && (err != nil || !q.deleteIfMissingOK) {
		t.Errorf("DeleteIf of a missing key: %v", err)
	}
	if q.deleteIgnoresIfMatch {
		return
	}
	v1 := mustPut(t, st, "cd/cond", []byte("one"))
	mustPut(t, st, "cd/cond", []byte("two"))
	if err := st.DeleteIf(bg, "cd/cond", v1.ETag); !errors.Is(err, s3store.ErrPrecondition) {
		t.Errorf("DeleteIf of a replaced version: %v", err)
	}
	if got, err := getBytes(st, "cd/cond", 0, -1, ""); string(got) != "two" {
		t.Errorf("after a refused DeleteIf the key holds %q, %v", got, err)
	}
}

func contractList(t *testing.T, st s3store.Store, q quirks) {
	for _, k := range []string{"ls/a", "ls/b", "ls/c", "ls/sub/x", "ls/sub/y", "ls/t/z", "lsx"} {
		mustPut(t, st, k, []byte(k))
	}
	p, err := st.List(bg, "ls/", "/", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Objects) != 3 || strings.Join(p.Prefixes, ",") != "ls/sub/,ls/t/" || p.NextToken != "" {
		t.Fatalf("page %+v", p)
	}
	if o := p.Objects[1]; o.Key != "ls/b" || o.Size != 4 || o.ETag == "" || o.LastModified.IsZero() {
		t.Errorf("object %+v", o)
	}
	// Pages of 2 with a delimiter: prefixes count toward max.
	var got []string
	tok := ""
	for pages := 1; ; pages++ {
		p, err := st.List(bg, "ls/", "/", tok, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Objects)+len(p.Prefixes) > 2 {
			t.Fatalf("page of %d entries, max 2", len(p.Objects)+len(p.Prefixes))
		}
		for _, o := range p.Objects {
			got = append(got, o.Key)
		}
		got = append(got, p.Prefixes...)
		if tok = p.NextToken; tok == "" {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if strings.Join(got, ",") != "ls/a,ls/b,ls/c,ls/sub/,ls/t/" {
		t.Errorf("paged with delimiter: %q", got)
	}
	// Without a delimiter every key under the prefix, in order.
	got = nil
	tok = ""
	for {
		p, err := st.List(bg, "ls/", "", tok, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range p.Objects {
			got = append(got, o.Key)
		}
		if tok = p.NextToken; tok == "" {
			break
		}
	}
	if strings.Join(got, ",") != "ls/a,ls/b,ls/c,ls/sub/x,ls/sub/y,ls/t/z" {
		t.Errorf("paged keys %q", got)
	}
}

// contractTags: the publication tag a write carries is what Head reports.
func contractTags(t *testing.T, st s3store.Store, q quirks) {
	head := func(key string) s3store.ObjectInfo {
		t.Helper()
		h, err := st.Head(bg, key)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	put, err := putBytes(st, "tg/put", []byte("p"), s3store.Cond{IfNoneMatch: true, Tag: "spool-1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if h := head("tg/put"); h.Tag != "spool-1:1" || h.ETag != put.ETag {
		t.Errorf("Head after a tagged Put: %+v", h)
	}
	if _, err := putBytes(st, "tg/put", []byte("p2"), s3store.Cond{IfMatch: staleETag, Tag: "spool-1:2"}); !errors.Is(err, s3store.ErrPrecondition) {
		t.Fatalf("refused tagged Put: %v", err)
	}
	if h := head("tg/put"); h.Tag != "spool-1:1" {
		t.Errorf("a refused Put changed the tag to %q", h.Tag)
	}
	mustPut(t, st, "tg/plain", []byte("x"))
	if h := head("tg/plain"); h.Tag != "" {
		t.Errorf("untagged Put has tag %q", h.Tag)
	}
	if _, err := putBytes(st, "tg/put", []byte("p3"), s3store.Cond{IfMatch: put.ETag}); err != nil {
		t.Fatal(err)
	}
	if h := head("tg/put"); h.Tag != "" {
		t.Errorf("an untagged Put kept the old version's tag %q", h.Tag)
	}

	id, err := st.CreateMultipart(bg, "tg/mp", s3store.Cond{Tag: "spool-2:7"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.UploadPart(bg, "tg/mp", id, 1, bytes.NewReader([]byte("multi")), 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CompleteMultipart(bg, "tg/mp", id, []s3store.Part{p}, s3store.Cond{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	if h := head("tg/mp"); h.Tag != "spool-2:7" || h.Size != 5 {
		t.Errorf("Head after a tagged multipart upload: %+v", h)
	}

	src := head("tg/put") // untagged now; tag it again through a copy
	if _, err := st.Copy(bg, "tg/mp", "", "tg/copied", s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
	if h := head("tg/copied"); h.Tag != "spool-2:7" {
		t.Errorf("Copy without a tag: tag %q, want the source's", h.Tag)
	}
	if _, err := st.Copy(bg, "tg/mp", "", "tg/replaced", s3store.Cond{Tag: "spool-3:1"}); err != nil {
		t.Fatal(err)
	}
	if h := head("tg/replaced"); h.Tag != "spool-3:1" {
		t.Errorf("Copy with a tag: tag %q", h.Tag)
	}
	self, err := st.Copy(bg, "tg/put", src.ETag, "tg/put", s3store.Cond{IfMatch: src.ETag, Tag: "spool-4:3"})
	if err != nil {
		t.Fatal(err)
	}
	if h := head("tg/put"); h.Tag != "spool-4:3" || h.ETag != self.ETag {
		t.Errorf("tagged Copy onto itself: %+v", h)
	}
	if _, err := st.Copy(bg, "tg/put", self.ETag, "tg/put", s3store.Cond{IfMatch: self.ETag}); err != nil {
		t.Fatal(err)
	}
	if h := head("tg/put"); h.Tag != "" {
		t.Errorf("untagged Copy onto itself kept tag %q; S3 replaces the metadata", h.Tag)
	}

	page, err := st.List(bg, "tg/", "", "", 0)
	if err != nil || len(page.Objects) != 5 {
		t.Fatalf("List %+v, %v", page, err)
	}
	for _, o := range page.Objects {
		if o.Tag != "" {
			t.Errorf("List reported tag %q for %s: List does not return metadata", o.Tag, o.Key)
		}
	}
}

// POSIX attributes travel as user metadata: Put, a multipart upload and a
// copy that replaces metadata carry them, Head reports them, a plain copy
// keeps them and a copy onto itself can change them.
func contractAttrs(t *testing.T, st s3store.Store, q quirks) {
	a := &s3store.Attrs{Mode: 0o100640, UID: 33, GID: 4, Mtime: time.Unix(1700000000, 500000000)}
	head := func(key string) *s3store.Attrs {
		t.Helper()
		h, err := st.Head(bg, key)
		if err != nil {
			t.Fatal(err)
		}
		return h.Attrs
	}
	same := func(what string, got, want *s3store.Attrs) {
		t.Helper()
		if (got == nil) != (want == nil) || got != nil && (got.Mode != want.Mode || got.UID != want.UID || got.GID != want.GID || !got.Mtime.Equal(want.Mtime)) {
			t.Fatalf("%s: attrs %+v, want %+v", what, got, want)
		}
	}
	if _, err := putBytes(st, "at/put", []byte("x"), s3store.Cond{Attrs: a, Tag: "t1"}); err != nil {
		t.Fatal(err)
	}
	same("Put", head("at/put"), a)
	mustPut(t, st, "at/plain", []byte("x"))
	same("Put without attrs", head("at/plain"), nil)

	id, err := st.CreateMultipart(bg, "at/mp", s3store.Cond{Attrs: a})
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.UploadPart(bg, "at/mp", id, 1, bytes.NewReader([]byte("part")), 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CompleteMultipart(bg, "at/mp", id, []s3store.Part{p}, s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
	same("multipart", head("at/mp"), a)

	src, _ := st.Head(bg, "at/put")
	if _, err := st.Copy(bg, "at/put", src.ETag, "at/copy", s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
	same("copy keeping metadata", head("at/copy"), a)
	b := &s3store.Attrs{Mode: 0o100600, UID: 1000, GID: 1000, Mtime: time.Unix(1800000000, 0)}
	if _, err := st.Copy(bg, "at/put", src.ETag, "at/put", s3store.Cond{Attrs: b}); err != nil {
		t.Fatal(err)
	}
	same("copy onto itself with new attrs", head("at/put"), b)
}
