package vfs

import (
	"context"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// truncate(2) to the size a file already has stamps its mtime (as on
// ext4) even when nothing is written to S3 (a published file, nothing of
// it local), and the stamp outlives the kernel forgetting the inode.
// Before, the node went with the forget and stat showed the object's
// LastModified again (TestPosixSemanticsTable failed one CI run in a few
// on MinIO, when the file had left the spool before the truncate).
func TestTruncateToSameSizeStampsMtime(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	mem.PutObject("e", nil)
	fs := lostFS(t, mem, t.TempDir())
	n, err := fs.Lookup(ctx, fs.Root(), "e")
	if err != nil {
		t.Fatal(err)
	}
	before := n.Attr().Mtime
	size := int64(0)
	if err := fs.Setattr(ctx, n, nil, SetAttr{Size: &size}); err != nil {
		t.Fatal(err)
	}
	fs.Forget(n)
	n, err = fs.Lookup(ctx, fs.Root(), "e")
	if err != nil {
		t.Fatal(err)
	}
	if after := n.Attr().Mtime; !after.After(before) {
		t.Fatalf("mtime after truncate(2) to the same size: %v, before %v: not stamped", after, before)
	}
}
