package publish

import (
	"bytes"
	"context"
	"testing"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/zstore"
)

// Renaming a compressed file whose uncompressed size is over 5 GiB copies
// its object by what it stores, not by the file's size: a compressed
// object this small is one CopyObject (the mark carries the 6 GiB).
func TestCompressedRenameOverFiveGiBUncompressed(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	z := zstore.New(mem, compress.Gzip, []string{"*.log"})
	const size = 6 << 30
	obj := compress.Gzip.AppendMember(nil, []byte("stands for 6 GiB of lines\n"))
	if _, err := mem.Put(ctx, "big.log.gz", bytes.NewReader(obj), int64(len(obj)), s3store.Cond{Encoding: &s3store.Encoding{Name: "gzip", Size: size}}); err != nil {
		t.Fatal(err)
	}
	info, err := z.Head(ctx, "big.log")
	if err != nil || info.Size != size {
		t.Fatalf("head: %+v, %v", info, err)
	}
	p := NewPublisher(z, nil, nil, Config{}, nil)
	if _, err := p.Move(ctx, nil, "big.log", info.ETag, info.Size, "big.log.1", nil); err != nil {
		t.Fatalf("rename of a file of 6 GiB uncompressed: %v", err)
	}
	got, _, ok := mem.Object("big.log.1.gz")
	if !ok || !bytes.Equal(got, obj) {
		t.Fatal("the object did not move to big.log.1.gz")
	}
	if _, _, ok := mem.Object("big.log.gz"); ok {
		t.Fatal("the old object is still there")
	}
	if h, err := z.Head(ctx, "big.log.1"); err != nil || h.Size != size {
		t.Fatalf("renamed file: %+v, %v; want %d bytes", h, err, int64(size))
	}
	if n := mem.Stats()["UploadPartCopy"].Requests; n != 0 {
		t.Fatalf("%d UploadPartCopy for a small object", n)
	}
}
