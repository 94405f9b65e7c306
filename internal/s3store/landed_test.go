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

// A copy whose answer was lost landed when the new key holds an object
// with the copy's tag; a HEAD failing for a moment does not hide it (a
// rename reported failed that had landed leaves the object under both
// names).
func TestCopyLanded(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name       string
		tag        string // the copy's; the object at the new key has "ours"
		exists     bool
		headFails  int // HEADs failing (transient) first
		wantLanded bool
	}{
		{"our tag", "ours", true, 0, true},
		{"our tag, a HEAD failed first", "ours", true, 2, true},
		{"another tag", "theirs", true, 0, false},
		{"no tag: cannot tell", "", true, 0, false},
		{"no object", "ours", false, 0, false},
		{"HEADs keep failing", "ours", true, 3, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := memstore.New("b")
			var etag string
			if c.exists {
				etag = mem.PutTagged("new", []byte("the copy\n"), "ours")
			}
			fails := c.headFails
			mem.SetHook(func(call memstore.Call) memstore.Fault {
				if call.Op == "HeadObject" && fails > 0 {
					fails--
					return memstore.Fail
				}
				return memstore.Pass
			})
			info, ok := s3store.CopyLanded(ctx, mem, "new", c.tag)
			if ok != c.wantLanded {
				t.Fatalf("landed %v, want %v", ok, c.wantLanded)
			}
			if ok && (info.Key != "new" || info.ETag != etag) {
				t.Fatalf("landed at %+v, want new at %s", info, etag)
			}
		})
	}
}
