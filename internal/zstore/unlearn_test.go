package zstore

import (
	"errors"
	"testing"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A form learned from S3 goes when S3 holds neither of the name's objects
// (another host deleted it): a new file of that name takes the globs'
// form, as on a fresh mount and on the other hosts. Before, a plain
// access.log another host deleted stayed plain here while the others
// wrote access.log.gz (found by TestModelCompressed -model.random
// -model.seed=187586779). A kept form (a file not in S3 yet) stays.
func TestViewUnlearnsAFormWhoseObjectsAreGone(t *testing.T) {
	mem := memstore.New("b")
	z := New(mem, compress.Gzip, []string{"*.log"})
	mem.PutObject("access.log", []byte("plain\n"))
	if _, err := z.Head(bg, "access.log"); err != nil {
		t.Fatal(err)
	}
	if _, c := z.Compressed("access.log"); c {
		t.Fatal("a plain access.log is taken for compressed")
	}
	mem.DeleteObject("access.log") // another host
	if _, err := z.Head(bg, "access.log"); !errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("HEAD of a deleted object: %v", err)
	}
	if obj, c := z.Compressed("access.log"); !c || obj != "access.log.gz" {
		t.Fatalf("after another host deleted it, access.log is stored as %q (compressed %v), want access.log.gz as the globs say", obj, c)
	}
	// Compressed under a name the globs leave plain, then deleted.
	putMarked(t, mem, "data.gz", "x\n")
	if _, err := z.Head(bg, "data"); err != nil {
		t.Fatal(err)
	}
	mem.DeleteObject("data.gz")
	if _, err := z.Head(bg, "data"); !errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("HEAD of a deleted object: %v", err)
	}
	if _, c := z.Compressed("data"); c {
		t.Fatal("after another host deleted data.gz, data stays compressed")
	}
	// A kept form is a file's not yet in S3: no HEAD undoes it.
	z.Keep("notes", true)
	if _, err := z.Head(bg, "notes"); !errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("HEAD: %v", err)
	}
	if _, c := z.Compressed("notes"); !c {
		t.Fatal("a kept form was dropped by a HEAD that found nothing")
	}
}

// A listing tells the form of a name whose form is not known yet — a
// plain object under a name the globs compress (another host's, written
// without --compress) is its file, so reads of the node the listing made
// go to it (before, they went to NAME.gz and failed: "object changed") —
// but never switches a form a HEAD or this host's write told: a name S3
// holds in both forms (a rename's leftover, another host's object) lists
// both, and the file this host reads and writes keeps its own (found by
// TestModelCompressed -model.random seed 974423946 once the model
// listed the mount after every step).
func TestListingLearnsOnlyUnknownForms(t *testing.T) {
	mem := memstore.New("b")
	z := New(mem, compress.Gzip, []string{"*.log"})
	mem.PutObject("plain.log", []byte("theirs\n"))
	mem.PutObject("both.log", []byte("a leftover\n"))
	putMarked(t, mem, "both.log.gz", "ours\n")
	z.stored("both.log", false) // this host's file is the plain one
	if _, err := z.List(bg, "", "/", "", 1000); err != nil {
		t.Fatal(err)
	}
	if obj, c := z.Compressed("plain.log"); c {
		t.Fatalf("after a listing, plain.log is read from %q: its object is plain", obj)
	}
	if obj, c := z.Compressed("both.log"); c {
		t.Fatalf("a listing switched both.log to %q, the form this host wrote it in is plain", obj)
	}
}
