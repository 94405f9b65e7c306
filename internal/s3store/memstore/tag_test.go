package memstore_test

import (
	"bytes"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

func tagOf(t *testing.T, st *memstore.Store, key string) string {
	t.Helper()
	h, err := st.Head(bg, key)
	if err != nil {
		t.Fatal(err)
	}
	return h.Tag
}

// An append cannot change metadata: Express objects keep their first tag
// through appends and renames; compaction without a tag drops it.
func TestTagExpressAppendsKeepIt(t *testing.T) {
	st := memstore.NewExpress("b--x-s3")
	if _, err := putBytes(st, "log", []byte("a"), s3store.Cond{IfNoneMatch: true, Tag: "first"}); err != nil {
		t.Fatal(err)
	}
	if _, err := appendAt(st, "log", 1, "b"); err != nil {
		t.Fatal(err)
	}
	st.AppendObject("log", []byte("c"))
	if got := tagOf(t, st, "log"); got != "first" {
		t.Fatalf("after appends: tag %q", got)
	}
	if err := st.Rename(bg, "log", "moved"); err != nil {
		t.Fatal(err)
	}
	if got := tagOf(t, st, "moved"); got != "first" {
		t.Fatalf("after Rename: tag %q", got)
	}
	_, etag, _ := st.Object("moved")
	if _, err := st.Copy(bg, "moved", etag, "moved", s3store.Cond{IfMatch: etag}); err != nil {
		t.Fatal(err)
	}
	if got := tagOf(t, st, "moved"); got != "" {
		t.Fatalf("after an untagged compaction: tag %q", got)
	}
}

// Direct writes are another host's: untagged, unless PutTagged says so;
// on a general bucket AppendObject is a whole-object rewrite.
func TestTagDirectWrites(t *testing.T) {
	st := memstore.New("b")
	st.PutTagged("k", []byte("x"), "ours")
	if got := tagOf(t, st, "k"); got != "ours" {
		t.Fatalf("PutTagged: tag %q", got)
	}
	st.AppendObject("k", []byte("y"))
	if got := tagOf(t, st, "k"); got != "" {
		t.Fatalf("AppendObject on a general bucket kept tag %q", got)
	}
	st.PutTagged("k", []byte("x"), "ours")
	st.PutObject("k", []byte("x"))
	if got := tagOf(t, st, "k"); got != "" {
		t.Fatalf("PutObject kept tag %q", got)
	}
}

// A multipart upload's tag reaches the object only if it completes, also
// when the completion's answer is lost.
func TestTagMultipartLostAnswer(t *testing.T) {
	st := memstore.New("b")
	st.PutTagged("k", []byte("old"), "before")
	_, etag, _ := st.Object("k")
	id, err := st.CreateMultipart(bg, "k", s3store.Cond{Tag: "after"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.UploadPart(bg, "k", id, 1, bytes.NewReader([]byte("new")), 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := tagOf(t, st, "k"); got != "before" {
		t.Fatalf("tag %q before completion", got)
	}
	st.SetHook(failAt(st.Calls()+1, memstore.LoseAnswer))
	if _, err := st.CompleteMultipart(bg, "k", id, []s3store.Part{p}, s3store.Cond{IfMatch: etag}); err == nil {
		t.Fatal("lost answer reported success")
	}
	st.SetHook(nil)
	if got := tagOf(t, st, "k"); got != "after" {
		t.Fatalf("tag %q after a completion whose answer was lost", got)
	}
}
