package vfs

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A file renamed before its first publication keeps its form under
// --compress: a log rotated to a name the globs do not match
// (access.log -> access.log.1; here "a" -> "d1") is still stored
// compressed, and a temporary name renamed to a matching one (rsync's
// ".x.XXXX" -> "x.log"; here "dtmp" -> "b") is compressed too. The form
// is journaled: a crash before the publication keeps it. Before, the new
// name's glob alone decided, and the rotated log was stored plain.
func TestRenameBeforePublicationKeepsTheForm(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := "published by this instance"
		if crash {
			name = "published after a crash"
		}
		t.Run(name, func(t *testing.T) {
			mem := memstore.New("b")
			c := compressedCore(t, mem)
			ctx := context.Background()
			root := c.fs.Root()
			write := func(name, data string, flags int) { createWith(t, c, name, data, flags, false) }
			write("a", "a log line\n", os.O_APPEND)
			write("dtmp", "copied in\n", 0)
			for _, mv := range [][2]string{{"a", "d1"}, {"dtmp", "b"}} {
				if err := c.fs.Rename(ctx, root, mv[0], root, mv[1], 0); err != nil {
					t.Fatalf("rename %s -> %s: %v", mv[0], mv[1], err)
				}
			}
			if crash {
				if err := c.crash(); err != nil {
					t.Fatal(err)
				}
			}
			c.tick()
			if err := c.settle(30 * time.Second); err != nil {
				t.Fatal(err)
			}
			r := &runner{mem: mem, opt: c.opt, objCache: map[string]cachedObject{}}
			for name, want := range map[string]string{"d1": "a log line\n", "b": "copied in\n"} {
				if _, ok := r.marked(name); !ok {
					t.Fatalf("%s is not stored compressed: keys %v", name, mem.Keys())
				}
				if got, ok := r.zobject(name); !ok || string(got) != want {
					t.Fatalf("%s in S3: %q, %v; want %q", name, got, ok, want)
				}
			}
			if keys := mem.Keys(); len(keys) != 2 {
				t.Fatalf("keys %v, want d1.gz and b.gz", keys)
			}
		})
	}
}
