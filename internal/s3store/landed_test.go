package s3store_test

import (
	"context"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A rename whose answer was lost landed when the old key is gone and the
// new one holds the object: at the ETag the rename was pinned to, or any
// when it was not pinned ("").
func TestRenameLanded(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name       string
		oldStays   bool
		newExists  bool
		etag       string // "moved": the moved object's; "other": another
		wantLanded bool
	}{
		{"moved, pinned", false, true, "moved", true},
		{"moved, not pinned", false, true, "", true},
		{"another object at the new key", false, true, "other", false},
		{"the old key is still there", true, true, "moved", false},
		{"the old key is still there, not pinned", true, true, "", false},
		{"neither key", false, false, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := memstore.New("b")
			moved := mem.PutObject("new", []byte("the object\n"))
			if c.oldStays {
				mem.PutObject("old", []byte("still here\n"))
			}
			if !c.newExists {
				if err := mem.Delete(ctx, "new"); err != nil {
					t.Fatal(err)
				}
			}
			etag := map[string]string{"moved": moved, "other": `"another"`, "": ""}[c.etag]
			info, ok := s3store.RenameLanded(ctx, mem, "old", "new", etag)
			if ok != c.wantLanded {
				t.Fatalf("landed %v, want %v", ok, c.wantLanded)
			}
			if ok && (info.Key != "new" || info.ETag != moved) {
				t.Fatalf("landed at %+v, want new at %s", info, moved)
			}
		})
	}
}
