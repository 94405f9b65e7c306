package vfs

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A kept form (a file renamed before its first publication keeps the
// compressed form its old name gave it) belongs to that file: once the
// file left the name unpublished (unlinked, renamed on), a new file
// there takes the form the globs give its name, not the old file's.
func TestKeptFormGoesWithItsFile(t *testing.T) {
	for _, away := range []string{"unlink", "rename"} {
		t.Run(away, func(t *testing.T) {
			mem := memstore.New("b")
			c := compressedCore(t, mem)
			ctx := context.Background()
			root := c.fs.Root()
			// a is compressed (the globs); d1 is not, but keeps a's form.
			createWith(t, c, "a", "a's line\n", os.O_APPEND, false)
			if err := c.fs.Rename(ctx, root, "a", root, "d1", 0); err != nil {
				t.Fatal(err)
			}
			if away == "unlink" {
				if err := c.fs.Unlink(ctx, root, "d1"); err != nil {
					t.Fatal(err)
				}
			} else if err := c.fs.Rename(ctx, root, "d1", root, "d2", 0); err != nil {
				t.Fatal(err)
			}
			createWith(t, c, "d1", "a new d1\n", 0, true)
			c.tick()
			if err := c.settle(30 * time.Second); err != nil {
				t.Fatal(err)
			}
			if got, _, ok := mem.Object("d1"); !ok || string(got) != "a new d1\n" {
				t.Fatalf("the new d1 is not stored plain: d1 %q %v; keys %v", got, ok, mem.Keys())
			}
			if _, _, ok := mem.Object("d1.gz"); ok {
				t.Fatalf("the new d1 took the old file's compressed form: keys %v", mem.Keys())
			}
			if away == "rename" {
				if _, _, ok := mem.Object("d2.gz"); !ok {
					t.Fatalf("d2 (a's bytes) lost its kept form: keys %v", mem.Keys())
				}
			}
		})
	}
}
