package vfs

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A chmod whose store failed is kept for the file's next publication;
// when another host deletes the object first, the attributes are dropped
// with a log line (publish.SetAttrs) and the object stays deleted. Before,
// recording that nothing of ours was published read the last of no ETags:
// the daemon panicked (found by TestModelDirs -model.random, a recovered
// file's attributes).
func TestAttributesOfAnObjectDeletedMeanwhileAreDropped(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	mem.PutObject("f", []byte("one\n"))
	fs := spoolPosixFS(t, mem, filepath.Join(t.TempDir(), "spool"))
	n, err := fs.Lookup(ctx, fs.Root(), "f")
	if err != nil {
		t.Fatal(err)
	}
	mode := os.FileMode(0o600)
	mem.SetHook(failOn("CopyObject", "f"))
	err = fs.Setattr(ctx, n, nil, SetAttr{Mode: &mode})
	mem.SetHook(nil)
	if err != nil {
		t.Fatalf("chmod with the store failing: %v; want it kept for later", err)
	}
	mem.DeleteObject("f") // another host
	if err := fs.Shutdown(ctx); err != nil {
		t.Fatalf("unmount: %v", err)
	}
	if _, _, ok := mem.Object("f"); ok {
		t.Fatal("the deleted object is back")
	}
}
