package vfs

import (
	"context"
	"fmt"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A directory of 100,000 keys lists whole, page after page, each name
// once, and a name in it is found; listing it again costs the same pages,
// not more (no per-entry request).
func TestListingOf100000Keys(t *testing.T) {
	const n = 100000
	mem := memstore.New("b")
	for i := 0; i < n; i++ {
		mem.PutObject(fmt.Sprintf("big/f%06d.log", i), nil)
	}
	mem.PutObject("big/sub/x", []byte("x"))
	c, err := newCore(mem, coreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.cleanup()
	ctx := context.Background()
	dir, err := c.fs.Lookup(ctx, c.fs.Root(), "big")
	if err != nil {
		t.Fatal(err)
	}
	list := func() (map[string]bool, int64) {
		before := mem.Stats().Total()
		seen := map[string]bool{}
		err := c.fs.ReadDir(ctx, dir, func(e DirEntry) bool {
			if seen[e.Name] {
				t.Fatalf("%s listed twice", e.Name)
			}
			seen[e.Name] = true
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		return seen, mem.Stats().Total() - before
	}
	seen, reqs := list()
	if len(seen) != n+1 || !seen["sub"] || !seen["f099999.log"] || !seen["f000000.log"] {
		t.Fatalf("listed %d names, want %d files and sub", len(seen), n)
	}
	if pages := int64(n/1000 + 1); reqs > pages+1 {
		t.Fatalf("listing took %d requests, want about %d pages", reqs, pages)
	}
	if _, reqs2 := list(); reqs2 > reqs {
		t.Fatalf("the second listing took %d requests, the first %d", reqs2, reqs)
	}
	if _, err := c.fs.Lookup(ctx, dir, "f054321.log"); err != nil {
		t.Fatalf("lookup in the big directory: %v", err)
	}
}
