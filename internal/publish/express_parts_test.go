package publish

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// The part count a journal knows can be wrong (a new spool file of an
// existing object starts at 0; another host appends too). An append that
// meets TooManyParts compacts the object (CopyObject onto itself) and is
// sent once more, so a log appended more than 10,000 times keeps
// publishing.
func TestExpressAppendPastTheKnownPartCount(t *testing.T) {
	mem := memstore.NewExpress("bucket--use1-az4--x-s3")
	ctx := context.Background()
	var data bytesSource
	add := func(s string) int64 { data = append(data, s...); return int64(len(data)) }

	base, _, err := ExpressAppend(ctx, mem, mem, "x.log", Base{}, data, 0, add("a\n"), 0, Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Another host brings the object to the limit.
	var theirs bytes.Buffer
	for mem.Parts("x.log") < s3store.MaxParts {
		theirs.WriteString("b\n")
		mem.AppendObject("x.log", []byte("b\n"))
	}
	data = append(data, theirs.Bytes()...)
	_, etag, _ := mem.Object("x.log")
	base = Base{Exists: true, Size: int64(len(data)), ETag: etag}

	var ops []string
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Append {
			ops = append(ops, "AppendAt")
		} else {
			ops = append(ops, c.Op)
		}
		return memstore.Pass
	})
	base, parts, err := ExpressAppend(ctx, mem, mem, "x.log", base, data, 0, add("c\n"), 0, Config{})
	if err != nil {
		t.Fatalf("append to an object at the part limit: %v", err)
	}
	if want := []string{"AppendAt", "CopyObject", "AppendAt"}; !slices.Equal(ops, want) {
		t.Fatalf("calls %v, want %v", ops, want)
	}
	if parts != 2 || mem.Parts("x.log") != 2 {
		t.Fatalf("parts %d (store: %d) after compaction and one append, want 2", parts, mem.Parts("x.log"))
	}
	mem.SetHook(nil)

	// More than 10,000 appends by us, the count forgotten at every one
	// (as if each came from a new spool file).
	for i := 0; i < s3store.MaxParts+10; i++ {
		base, _, err = ExpressAppend(ctx, mem, mem, "x.log", base, data, 0, add("d\n"), 0, Config{})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if got, _, _ := mem.Object("x.log"); !bytes.Equal(got, data) || base.Size != int64(len(data)) {
		t.Fatalf("object has %d bytes, want the %d published", len(got), len(data))
	}
}
