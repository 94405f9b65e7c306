package publish

import (
	"bytes"
	"context"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A copy by parts (objects over 5 GiB) is byte-exact, carries the tag, and
// leaves no upload behind when a part fails.
func TestCopyByParts(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	data := bytes.Repeat([]byte("0123456789"), 1<<20+7) // 10 MiB + 70 bytes
	etag := mem.PutObject("src", data)
	info, err := copyParts(ctx, mem, "src", etag, int64(len(data)), "dst", s3store.Cond{Tag: "t1"}, s3store.MinPartSize)
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ := mem.Object("dst")
	if !bytes.Equal(got, data) {
		t.Fatalf("copy differs: %d bytes, want %d", len(got), len(data))
	}
	if h, err := mem.Head(ctx, "dst"); err != nil || h.Tag != "t1" || h.ETag != info.ETag {
		t.Fatalf("head %+v %v: want tag t1, etag %s", h, err, info.ETag)
	}
	failed := false
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "UploadPartCopy" && !failed {
			failed = true
			return memstore.Fail
		}
		return memstore.Pass
	})
	if _, err := copyParts(ctx, mem, "src", etag, int64(len(data)), "dst2", s3store.Cond{Tag: "t2"}, s3store.MinPartSize); err == nil {
		t.Fatal("a failed part copy was not reported")
	}
	mem.SetHook(nil)
	if ups := mem.Uploads(); len(ups) != 0 {
		t.Fatalf("uploads left: %+v", ups)
	}
}
