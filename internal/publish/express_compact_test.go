package publish

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// lowerCompactionCopy makes objects above limit compact by a multipart
// copy of part-byte parts (S3: 5 GiB and 1 GiB), for the test's length.
func lowerCompactionCopy(t *testing.T, limit, part int64) {
	oldLimit, oldPart := compactByCopyUpTo, compactPart
	compactByCopyUpTo, compactPart = limit, part
	t.Cleanup(func() { compactByCopyUpTo, compactPart = oldLimit, oldPart })
}

// A log on a directory bucket larger than one CopyObject can copy (5 GiB)
// is compacted by a multipart copy onto itself, completed only if the
// object is still the one copied: before, its compaction failed and the
// log stopped publishing near 10,000 appends.
func TestExpressCompactionAboveCopyObjectsLimit(t *testing.T) {
	lowerCompactionCopy(t, 1<<20, s3store.MinPartSize)
	ctx := context.Background()

	setup := func() (*memstore.Store, *bytesSource, Base, *[]string) {
		mem := memstore.NewExpress("bucket--use1-az4--x-s3")
		data := bytesSource(bytes.Repeat([]byte("0123456789abcde\n"), (2*s3store.MinPartSize+s3store.MinPartSize/2)/16))
		base, _, err := ExpressAppend(ctx, mem, mem, "x.log", Base{}, data, 0, int64(len(data)), 0, Config{})
		if err != nil {
			t.Fatal(err)
		}
		var ops []string
		mem.SetHook(func(c memstore.Call) memstore.Fault {
			op := c.Op
			if c.Append {
				op = "AppendAt"
			}
			ops = append(ops, op)
			return memstore.Pass
		})
		return mem, &data, base, &ops
	}

	t.Run("compacts by parts", func(t *testing.T) {
		mem, data, base, ops := setup()
		*data = append(*data, "new line\n"...)
		nb, parts, err := ExpressAppend(ctx, mem, mem, "x.log", base, *data, 0, int64(len(*data)), ExpressCompactAt, Config{})
		if err != nil {
			t.Fatalf("append that needs compaction: %v", err)
		}
		want := []string{"CreateMultipartUpload", "UploadPartCopy", "UploadPartCopy", "UploadPartCopy", "CompleteMultipartUpload", "AppendAt"}
		if !slices.Equal(*ops, want) {
			t.Fatalf("calls %v, want %v", *ops, want)
		}
		if parts != 4 || mem.Parts("x.log") != 4 {
			t.Fatalf("parts %d (store: %d) after a 3-part compaction and one append, want 4", parts, mem.Parts("x.log"))
		}
		if got, etag, _ := mem.Object("x.log"); !bytes.Equal(got, *data) || etag != nb.ETag || nb.Size != int64(len(*data)) {
			t.Fatalf("object has %d bytes at %s, want the %d published at %s", len(got), etag, len(*data), nb.ETag)
		}
	})

	t.Run("another host appends during the copy", func(t *testing.T) {
		mem, data, base, _ := setup()
		mem.SetHook(func(c memstore.Call) memstore.Fault {
			if c.Op == "CompleteMultipartUpload" {
				mem.AppendObject("x.log", []byte("theirs\n"))
			}
			return memstore.Pass
		})
		want := append(slices.Clone([]byte(*data)), "theirs\n"...)
		*data = append(*data, "ours\n"...)
		if _, _, err := ExpressAppend(ctx, mem, mem, "x.log", base, *data, 0, int64(len(*data)), ExpressCompactAt, Config{}); err == nil {
			t.Fatal("the compaction completed over another host's append")
		}
		if got, _, _ := mem.Object("x.log"); !bytes.Equal(got, want) {
			t.Fatalf("object has %d bytes, want the %d before the copy and their append", len(got), len(want))
		}
		if ups, err := mem.ListMultipartUploads(ctx, "x.log"); err != nil || len(ups) != 0 {
			t.Fatalf("uploads left: %v (%v)", ups, err)
		}
	})
}
