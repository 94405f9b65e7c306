package publish

import (
	"context"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
)

const mib = 1 << 20

// bigLog is a log whose unpublished tail is over 5 MiB: its publication
// is a multipart compose (CreateMultipartUpload, parts, Complete).
func bigLog(t *testing.T, mem *memstore.Store) (*Publisher, *spool.File) {
	t.Helper()
	etag := mem.PutObject("app.log", []byte("a1\n"))
	tail := make([]byte, 6*mib)
	for i := range tail {
		tail[i] = 'x'
	}
	tail[len(tail)-1] = '\n'
	sp, f := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend, Exists: true, BaseSize: 3, BaseETag: etag, LocalStart: 3, Size: 3}, string(tail))
	return NewPublisher(mem, nil, sp, Config{PartSize: 5 * mib}, nil), f
}

// foreignUpload is another host's multipart upload of key, in flight.
func foreignUpload(t *testing.T, mem *memstore.Store, key string) string {
	t.Helper()
	id, err := mem.CreateMultipart(context.Background(), key, s3store.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func hasUpload(mem *memstore.Store, id string) bool {
	for _, u := range mem.Uploads() {
		if u.UploadID == id {
			return true
		}
	}
	return false
}

// A publication that fails (S3 refuses the completion) leaves another
// host's in-flight upload of the same key alone: before, every failure
// listed the key's uploads and aborted them all, failing the other host's
// publication in turn.
func TestFailedPublicationLeavesAnotherHostsUpload(t *testing.T) {
	mem := memstore.New("b")
	p, f := bigLog(t, mem)
	theirs := foreignUpload(t, mem, "app.log")
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "CompleteMultipartUpload" {
			return memstore.Fail
		}
		return memstore.Pass
	})
	if _, err := p.Publish(context.Background(), f, &fakeFile{}, true); err == nil {
		t.Fatal("a publication whose completion failed succeeded")
	}
	if !hasUpload(mem, theirs) {
		t.Fatal("another host's upload of the key was aborted by our failed publication")
	}
	if n := len(mem.Uploads()); n != 1 {
		t.Fatalf("%d uploads left, want only the other host's", n)
	}
}

// A CreateMultipartUpload S3 applied whose answer was lost leaves an
// upload no journal names: it is aborted after the failure.
func TestLostCreateAnswerUploadIsAborted(t *testing.T) {
	mem := memstore.New("b")
	p, f := bigLog(t, mem)
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "CreateMultipartUpload" {
			return memstore.LoseAnswer
		}
		return memstore.Pass
	})
	if _, err := p.Publish(context.Background(), f, &fakeFile{}, true); err == nil {
		t.Fatal("a publication whose CreateMultipartUpload answer was lost succeeded")
	}
	if ups := mem.Uploads(); len(ups) != 0 {
		t.Fatalf("uploads left after a lost CreateMultipartUpload answer: %v", ups)
	}
}

// After a crash, recovery aborts an upload the cut publication may have
// created (initiated around the journal's PendingSince), and leaves an
// upload of the same key initiated long after (another host's).
// The vfs crash-point tests check the recovery path end to end.
func TestRecoveryAbortsOnlyUploadsOfTheCutPublication(t *testing.T) {
	mem := memstore.New("b")
	p, _ := bigLog(t, mem)
	ours := foreignUpload(t, mem, "app.log") // the cut publication's, id never journaled
	j := spool.Journal{Key: "app.log"}
	p.AbortUploads(j, time.Now())
	if hasUpload(mem, ours) {
		t.Fatal("the upload a crash cut off its journal was not aborted")
	}

	theirs := foreignUpload(t, mem, "app.log")
	p.AbortUploads(j, time.Now().Add(-time.Hour)) // the crash was an hour ago
	if !hasUpload(mem, theirs) {
		t.Fatal("recovery aborted an upload initiated an hour after the crashed publication")
	}
	// No time known (a journal from before PendingSince): its own only.
	p.AbortUploads(spool.Journal{Key: "app.log", PendingTag: "f:1"}, time.Time{})
	if !hasUpload(mem, theirs) {
		t.Fatal("an abort with no publication time aborted an upload it cannot tell is ours")
	}
	p.AbortUploads(spool.Journal{Key: "app.log", UploadID: theirs}, time.Time{})
	if hasUpload(mem, theirs) {
		t.Fatal("the journal's own upload was not aborted")
	}
}

func TestUploadWindow(t *testing.T) {
	since := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	from, to := uploadWindow(since, since.Add(time.Second))
	if !from.Equal(since.Add(-clockSkew)) || !to.Equal(since.Add(time.Second+clockSkew)) {
		t.Fatalf("window right after: %v .. %v", from, to)
	}
	_, to = uploadWindow(since, since.Add(time.Hour))
	if !to.Equal(since.Add(createWithin + clockSkew)) {
		t.Fatalf("window an hour later ends %v", to)
	}
}

// An abort that fails (S3 down at that moment) is not forgotten: the
// journal keeps the upload and the next publication aborts it. Before,
// the id was cleared whether or not the abort worked, and the upload's
// parts stayed billed with nothing to name them.
func TestFailedAbortIsRetriedBeforeTheNextPublication(t *testing.T) {
	mem := memstore.New("b")
	p, f := bigLog(t, mem)
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "CompleteMultipartUpload" || c.Op == "AbortMultipartUpload" {
			return memstore.Fail
		}
		return memstore.Pass
	})
	if _, err := p.Publish(context.Background(), f, &fakeFile{}, true); err == nil {
		t.Fatal("a publication whose completion failed succeeded")
	}
	ups := mem.Uploads()
	if len(ups) != 1 {
		t.Fatalf("%d uploads after a failed publication whose abort failed, want 1", len(ups))
	}
	if j := f.Journal(); len(j.AbortUploads) != 1 || j.AbortUploads[0] != ups[0].UploadID || j.UploadID != "" {
		t.Fatalf("journal after the failed abort: upload %q, to abort %v; want %s to abort", j.UploadID, j.AbortUploads, ups[0].UploadID)
	}
	mem.SetHook(nil)
	if _, err := p.Publish(context.Background(), f, &fakeFile{}, true); err != nil {
		t.Fatal(err)
	}
	if ups := mem.Uploads(); len(ups) != 0 {
		t.Fatalf("uploads left after the next publication: %v", ups)
	}
	if j := f.Journal(); len(j.AbortUploads) != 0 || j.UploadID != "" {
		t.Fatalf("journal after the next publication: upload %q, to abort %v", j.UploadID, j.AbortUploads)
	}
}
