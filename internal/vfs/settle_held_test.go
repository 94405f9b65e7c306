package vfs

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A rename (which settles a lost answer with the file's writers held off)
// of a log whose first publication landed with its answer lost, and that
// another host appended to since (on a directory bucket the append keeps
// the publication's tag): the settle moves our unpublished lines after
// theirs without taking the writer lock again, and the rename completes.
func TestRenameSettlesOursThenTheirsWithWritersHeld(t *testing.T) {
	ctx := context.Background()
	mem := memstore.NewExpress("bucket--use1-az4--x-s3")
	fs := memFS(t, mem, t.TempDir(), Options{AllowDelete: true, AllowOverwrite: true, Express: mem})
	n, h, err := fs.Create(ctx, fs.Root(), "app.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	mustWrite(t, h, "a1\n")
	// The PUT lands, its answer is lost, and S3 cannot be asked: the
	// publication stays unsettled.
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		switch c.Op {
		case "PutObject":
			return memstore.LoseAnswer
		case "HeadObject":
			return memstore.Fail
		}
		return memstore.Pass
	})
	if err := n.ws().job.Publish(ctx, false); err == nil {
		t.Fatal("a publication whose answer was lost and could not be settled succeeded")
	}
	mem.SetHook(nil)
	mem.AppendObject("app.log", []byte("b1\n"))
	mustWrite(t, h, "a2\n")
	done := make(chan error, 1)
	go func() { done <- fs.Rename(ctx, fs.Root(), "app.log", fs.Root(), "old.log", 0) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("rename: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the rename did not return: its settle took the writer lock it holds")
	}
	if err := h.Fsync(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := mem.Object("old.log"); string(got) != "a1\nb1\na2\n" {
		t.Fatalf("S3 holds %q, want our line, theirs, ours", got)
	}
}
