package publish

import (
	"context"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
)

// An Express append that landed, its answer lost (or the SDK's retry
// refused: the offset moved), is told by its bytes (AlreadyOurs) and
// reported as a publication whose answer came: File.Published, not only
// Wrote. The file system takes a write's mtime, which an append does not
// store, as due at Published; before, the file went clean without it and
// a later HEAD brought the object's older mtime back (random seed
// 918382892 of TestModelAttrsCompressed).
func TestExpressLostAppendIsPublished(t *testing.T) {
	for _, fault := range []memstore.Fault{memstore.LoseAnswer, memstore.Retried} {
		mem := memstore.NewExpress(expressBucket)
		sp, f := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend}, "")
		p := NewPublisher(mem, mem, sp, Config{PartSize: 5 << 20}, nil)
		appendAndPublish(t, p, f, "a1\n")
		lost := true
		mem.SetHook(func(call memstore.Call) memstore.Fault {
			if call.Append && lost {
				lost = false
				return fault
			}
			return memstore.Pass
		})
		if _, err := f.WriteAt([]byte("a2\n"), f.Journal().Size); err != nil {
			t.Fatal(err)
		}
		ff := &fakeFile{}
		res, err := p.Publish(context.Background(), f, ff, true)
		mem.SetHook(nil)
		if err != nil || !res.Published {
			t.Fatalf("fault %v: publication: %+v, %v", fault, res, err)
		}
		if data, _, _ := mem.Object("app.log"); string(data) != "a1\na2\n" {
			t.Fatalf("fault %v: S3 holds %q", fault, data)
		}
		if len(ff.published) != 1 || ff.published[0] != 6 {
			t.Fatalf("fault %v: the file was told published %v, want once at 6 bytes", fault, ff.published)
		}
		if j := f.Journal(); j.BaseSize != 6 || j.Pending != 0 {
			t.Fatalf("fault %v: journal %+v", fault, j)
		}
	}
}
