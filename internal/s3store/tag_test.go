package s3store_test

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3mount/s3mount/internal/s3store"
)

// TestTagOnTheWire: the tag travels as x-amz-meta-s3mount-pub, so other
// tools (and other s3mount versions) see the same metadata key.
func TestTagOnTheWire(t *testing.T) {
	srv, b, st := setup(t)
	raw := srv.Client()
	if _, err := put(t, st, "w/ours", []byte("x"), s3store.Cond{Tag: "host-a/17:4096"}); err != nil {
		t.Fatal(err)
	}
	out, err := raw.HeadObject(bg, &s3sdk.HeadObjectInput{Bucket: &b, Key: aws.String("w/ours")})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Metadata["s3mount-pub"]; got != "host-a/17:4096" {
		t.Errorf("metadata %v, want s3mount-pub=host-a/17:4096", out.Metadata)
	}

	// Written by another client, in another case, next to other metadata.
	_, err = raw.PutObject(bg, &s3sdk.PutObjectInput{Bucket: &b, Key: aws.String("w/theirs"), Body: bytes.NewReader([]byte("y")),
		Metadata: map[string]string{"S3mount-Pub": "host-b/1:1", "other": "z"}})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := st.Head(bg, "w/theirs"); err != nil || h.Tag != "host-b/1:1" {
		t.Errorf("Head of a foreign tagged object: %+v, %v", h, err)
	}
	_, err = raw.PutObject(bg, &s3sdk.PutObjectInput{Bucket: &b, Key: aws.String("w/other"), Body: bytes.NewReader([]byte("y")),
		Metadata: map[string]string{"other": "z"}})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := st.Head(bg, "w/other"); err != nil || h.Tag != "" {
		t.Errorf("Head of an object with other metadata only: %+v, %v", h, err)
	}
}

// TestTagLostAnswer is the use the tag exists for: a tagged publication
// applied whose answer was lost is recognised by Head, while another
// writer's identical bytes are not.
func TestTagLostAnswer(t *testing.T) {
	_, _, st := setup(t)
	base, err := put(t, st, "log", []byte("line\n"), s3store.Cond{IfNoneMatch: true, Tag: "a:5"})
	if err != nil {
		t.Fatal(err)
	}
	// Our publication applies; pretend its answer was lost.
	if _, err := put(t, st, "log", []byte("line\nline\n"), s3store.Cond{IfMatch: base.ETag, Tag: "a:10"}); err != nil {
		t.Fatal(err)
	}
	if _, err := put(t, st, "log", []byte("line\nline\n"), s3store.Cond{IfMatch: base.ETag, Tag: "a:10"}); !s3store.IsConflict(err) {
		t.Fatalf("retry of an applied publication: %v", err)
	}
	if h, err := st.Head(bg, "log"); err != nil || h.Tag != "a:10" {
		t.Fatalf("Head after our publication: %+v, %v", h, err)
	}
	// Another host (writing no tag) appends the very same bytes first.
	base, err = put(t, st, "other", []byte("line\n"), s3store.Cond{IfNoneMatch: true, Tag: "a:5"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := put(t, st, "other", []byte("line\nline\n"), s3store.Cond{IfMatch: base.ETag}); err != nil {
		t.Fatal(err)
	}
	if _, err := put(t, st, "other", []byte("line\nline\n"), s3store.Cond{IfMatch: base.ETag, Tag: "a:10"}); !s3store.IsConflict(err) {
		t.Fatalf("our publication after the foreign one: %v", err)
	}
	if h, err := st.Head(bg, "other"); err != nil || h.Tag != "" {
		t.Fatalf("identical foreign bytes: Head %+v, %v; want no tag (not ours)", h, err)
	}
}
