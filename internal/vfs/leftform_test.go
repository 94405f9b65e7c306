package vfs

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A rename over a file stored in the other form (under --compress, the
// plain file d renamed over the compressed c, or the compressed c over the
// plain d) whose replaced object S3 will not delete yet leaves the name in
// both forms in S3; only the journal (LeftKeys) tells which object is the
// file's. After a crash the store view knew nothing and a HEAD in the
// globs' form found the leftover: the lookup gave the leftover's size and
// ETag, and the read failed with "object changed while open" (ESTALE)
// against the file's own object. Random model seed 886093580.
func TestLeftoverOfTheOtherFormAfterACrash(t *testing.T) {
	for _, tc := range []struct {
		name, from, to, data, old string
	}{
		{"plain over compressed", "d", "c", "plain d\n", "compressed c, longer\n"},
		{"compressed over plain", "c", "d", "compressed c\n", "plain d, longer\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memstore.New("b")
			c := compressedCore(t, mem)
			ctx := context.Background()
			createWith(t, c, tc.to, tc.old, os.O_APPEND, true)
			createWith(t, c, tc.from, tc.data, 0, true)
			c.tick()
			if err := c.settle(30 * time.Second); err != nil {
				t.Fatal(err)
			}
			mem.SetHook(func(call memstore.Call) memstore.Fault {
				if call.Op == "DeleteObject" {
					return memstore.Fail
				}
				return memstore.Pass
			})
			if err := c.fs.Rename(ctx, c.fs.Root(), tc.from, c.fs.Root(), tc.to, 0); err != nil {
				t.Fatal(err)
			}
			if keys := mem.Keys(); len(keys) != 3 {
				t.Fatalf("premise: the name in both forms and the old key (deletes refused); keys %v", keys)
			}
			if err := c.crash(); err != nil {
				t.Fatal(err)
			}
			check := func(when string) {
				t.Helper()
				n, err := c.fs.Lookup(ctx, c.fs.Root(), tc.to)
				if err != nil {
					t.Fatalf("%s: lookup %s: %v", when, tc.to, err)
				}
				if size := n.Attr().Size; size != int64(len(tc.data)) {
					t.Fatalf("%s: size of %s %d, want %d", when, tc.to, size, len(tc.data))
				}
				h, err := c.fs.Open(ctx, n, os.O_RDONLY)
				if err != nil {
					t.Fatalf("%s: open %s: %v", when, tc.to, err)
				}
				defer h.Release()
				buf := make([]byte, 100)
				k, err := h.Read(ctx, buf, 0)
				if err != nil || string(buf[:k]) != tc.data {
					t.Fatalf("%s: read %s: %q, %v; want %q", when, tc.to, buf[:k], err, tc.data)
				}
				var names []string
				if err := c.fs.ReadDir(ctx, c.fs.Root(), func(e DirEntry) bool {
					names = append(names, e.Name)
					return true
				}); err != nil {
					t.Fatalf("%s: listing: %v", when, err)
				}
				sort.Strings(names)
				if strings.Join(names, " ") != tc.to {
					t.Fatalf("%s: listing %v, want only %s", when, names, tc.to)
				}
			}
			check("after the crash")
			mem.SetHook(nil)
			// (The recovered file's publication may be running, its
			// deletes still refused, when the first tick comes.)
			c.tickUntil(t, func() bool { return len(mem.Keys()) == 1 }, func() string {
				return fmt.Sprintf("the leftover and the old key are deleted once S3 takes deletes: keys %v", mem.Keys())
			})
			check("after the deletes")
			if err := c.restart(ctx); err != nil {
				t.Fatal(err)
			}
			check("after a remount")
		})
	}
}
