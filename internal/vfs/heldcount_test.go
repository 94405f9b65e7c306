package vfs

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A publication that waits for its object key (publish.ErrHeld: the plain
// d1.gz written beside the compressed d1, as logrotate's compress does) is
// counted as a wait, not as a publication error, still logs its one line,
// and status shows it waiting, not failing; once d1 is gone it is
// published and counted as a publication.
func TestHeldPublicationIsAWaitNotAnError(t *testing.T) {
	mem := memstore.New("b")
	c := compressedCore(t, mem)
	ctx := context.Background()
	root := c.fs.Root()
	createWith(t, c, "a", "compressed a\n", os.O_APPEND, true)
	c.tick()
	if err := c.settle(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	// d1 (a name the globs do not match) keeps a's compressed form: its
	// object is d1.gz, the key of the plain file d1.gz made next.
	if err := c.fs.Rename(ctx, root, "a", root, "d1", 0); err != nil {
		t.Fatal(err)
	}
	before := c.fs.Stats()
	createWith(t, c, "d1.gz", "plain d1.gz\n", 0, true) // close publishes: it waits
	s := c.fs.Stats()
	if s.PublishWaits == before.PublishWaits {
		t.Fatalf("the held publication is not counted as a wait: %+v", s)
	}
	if s.PublishErrors != before.PublishErrors {
		t.Fatalf("the held publication is counted as an error: %d errors, %d before", s.PublishErrors, before.PublishErrors)
	}
	// Each wait logged its line before it was counted (a retry may
	// come between the two reads); none is logged as a failure.
	logs := c.log.Tail()
	if n := strings.Count(logs, `msg="publication waits`); n < int(s.PublishWaits-before.PublishWaits) {
		t.Fatalf("%d log lines for %d waits:\n%s", n, s.PublishWaits-before.PublishWaits, logs)
	}
	if strings.Contains(logs, "publication failed") {
		t.Fatalf("a wait logged as a failure:\n%s", logs)
	}
	// s3mount status shows it waiting, with why, and no error.
	var st *FileStatus
	for _, f := range c.fs.Files() {
		if f.Key == "d1.gz" {
			st = &f
		}
	}
	if st == nil || st.LastError != "" || !strings.Contains(st.Waiting, "d1.gz is the object of the file d1") {
		t.Fatalf("status of the held d1.gz: %+v, want waiting and no error", st)
	}
	if err := c.fs.Unlink(ctx, root, "d1"); err != nil {
		t.Fatal(err)
	}
	// The unlink runs d1.gz's publication (in the background).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		got, _, ok := mem.Object("d1.gz")
		if ok && string(got) == "plain d1.gz\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("d1.gz in S3 30s after d1 went: %q, %v", got, ok)
		}
	}
	if e := c.fs.Stats().PublishErrors; e != before.PublishErrors {
		t.Fatalf("%d publication errors, %d before: a wait was counted as one", e, before.PublishErrors)
	}
}
