package vfs

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// With --compress the file NAME is the object NAME.gz, so a second file
// may not be made whose object is the same key: a plain NAME.gz (a rename
// onto it) or a compressed NAME over someone's plain NAME.gz.
// Before, the name was taken and the first file's object replaced (gone
// from the mount, or its bytes another file's). Here each is EEXIST and
// both files keep their bytes.
func TestOneKeyIsOneFile(t *testing.T) {
	mem := memstore.New("b")
	mem.PutObject("b.gz", []byte("a plain gzip someone uploaded"))
	c := compressedCore(t, mem)
	ctx := context.Background()
	root := c.fs.Root()
	write := func(name, data string, flags int) { createWith(t, c, name, data, flags, true) }
	write("a", "compressed a\n", os.O_APPEND) // "a" matches the globs: object a.gz
	write("dx", "plain dx\n", 0)              // "d*" does not: object dx
	c.tick()
	if err := c.settle(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	r := &runner{mem: mem, opt: c.opt, objCache: map[string]cachedObject{}}
	if _, ok := r.marked("a"); !ok {
		t.Fatalf("a was not published compressed: keys %v", mem.Keys())
	}

	// a.gz is the file a: not a second name for it.
	if _, err := c.fs.Lookup(ctx, root, "a.gz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup a.gz: %v, want not found", err)
	}
	// A plain file renamed to a.gz: EEXIST.
	if err := c.fs.Rename(ctx, root, "dx", root, "a.gz", 0); !errors.Is(err, ErrExists) {
		t.Fatalf("rename dx -> a.gz: %v, want EEXIST", err)
	}
	// A compressed b over the plain b.gz: EEXIST.
	if _, _, err := c.fs.Create(ctx, root, "b", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); !errors.Is(err, ErrExists) {
		t.Fatalf("create b over the plain b.gz: %v, want EEXIST", err)
	}
	if err := c.fs.Rename(ctx, root, "a", root, "b", 0); !errors.Is(err, ErrExists) {
		t.Fatalf("rename a -> b over the plain b.gz: %v, want EEXIST", err)
	}
	if !strings.Contains(c.log.Tail(), "refused a name whose S3 object is another file's") {
		t.Fatalf("no log line for the refusals:\n%s", c.log.Tail())
	}

	// Every file kept its bytes.
	if got, ok := r.zobject("a"); !ok || string(got) != "compressed a\n" {
		t.Fatalf("a in S3: %q, %v", got, ok)
	}
	if got, _, _ := mem.Object("dx"); string(got) != "plain dx\n" {
		t.Fatalf("dx in S3: %q", got)
	}
	if got, _, _ := mem.Object("b.gz"); string(got) != "a plain gzip someone uploaded" {
		t.Fatalf("b.gz in S3: %q", got)
	}
	// A name of no other file's object is still free.
	if err := c.fs.Rename(ctx, root, "dx", root, "dy.gz", 0); err != nil {
		t.Fatalf("rename dx -> dy.gz: %v", err)
	}

	// The same for a file not in S3 yet: d3, a compressed log renamed
	// before its first publication, is to be stored as d3.gz.
	write("a3", "compressed, not published\n", os.O_APPEND)
	if err := c.fs.Rename(ctx, root, "a3", root, "d3", 0); err != nil {
		t.Fatal(err)
	}
	write("dz", "plain\n", 0)
	if err := c.fs.Rename(ctx, root, "dz", root, "d3.gz", 0); !errors.Is(err, ErrExists) {
		t.Fatalf("rename dz -> d3.gz beside the unpublished compressed d3: %v, want EEXIST", err)
	}
}

// compressedCore is a core over mem with --compress gzip (its globs:
// every name but those starting with "d"), --allow-overwrite and
// --allow-delete.
func compressedCore(t *testing.T, mem *memstore.Store) *core {
	t.Helper()
	c, err := newCore(mem, coreOptions{Compress: compress.Gzip, AllowOverwrite: true, AllowDelete: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.cleanup)
	return c
}

// createWith makes name in c's root holding data (flags add to
// O_CREAT|O_WRONLY). closed: close(2) (a file written whole is published
// then); otherwise only the last reference goes.
func createWith(t *testing.T, c *core, name, data string, flags int, closed bool) {
	t.Helper()
	ctx := context.Background()
	_, h, err := c.fs.Create(ctx, c.fs.Root(), name, flags|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if _, err := h.Write(ctx, []byte(data), 0); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	if closed {
		if err := h.Flush(ctx); err != nil {
			t.Fatalf("close %s: %v", name, err)
		}
	}
	h.Release()
}
