package vfs

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A reader on this host sees every line written here while a publication
// rebases them after another host's (read your writes): the journal's
// moved offsets and the node's new object change together. Before, a read
// between the two took the new local start with the old (here: no)
// object and came back short, as an empty file (found by TestModel
// -model.random -model.seed=279859269, 3 runs in 30 of its sequence).
// The window is narrow: rounds of reads race the rebase; a round cannot
// fail once the two change together.
func TestReadDuringRebaseSeesOurLines(t *testing.T) {
	ctx := context.Background()
	ours := []byte("ours 1\n")
	for round := 0; round < 40; round++ {
		mem := memstore.New("b")
		fs := lostFS(t, mem, t.TempDir())
		_, w, err := fs.Create(ctx, fs.Root(), "log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(ctx, ours, 0); err != nil {
			t.Fatal(err)
		}
		// Another host creates the object first: our first publication
		// (If-None-Match) meets it and moves our line after it.
		mem.PutObject("log", []byte("theirs 1\ntheirs 2\n"))
		n := w.Node()
		r, err := fs.Open(ctx, n, os.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- n.ws().job.Publish(ctx, false) }()
		for reading := true; reading; {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("publication: %v", err)
				}
				reading = false
			default:
			}
			got, err := readRange(ctx, r, 0, -1)
			if err != nil {
				t.Fatalf("round %d: read: %v", round, err)
			}
			if !bytes.Contains(got, ours) {
				t.Fatalf("round %d: a read during the rebase gave %q: our line is missing", round, got)
			}
		}
		if s, _, _ := mem.Object("log"); string(s) != "theirs 1\ntheirs 2\nours 1\n" {
			t.Fatalf("round %d: S3 holds %q", round, s)
		}
		r.Release()
		w.Release()
	}
}
