package vfs

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// An edit of a log whose bytes a rebase shifted (another host appended)
// rewrites its spool file (relocate). The rewritten journal keeps what
// the old one said beyond the bytes' layout: here the old key a rename
// has still to delete. Before, relocate kept only the layout, the old key
// was forgotten, and its object came back under the old name for good.
func TestRelocateKeepsTheJournal(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	mem.PutObject("app.log", []byte("base\n"))
	fs := lostFS(t, mem, t.TempDir())
	h := openAppend(t, fs, "app.log")
	mustWrite(t, h, "ours 1\n")
	if err := h.Fsync(ctx); err != nil {
		t.Fatal(err)
	}
	mem.AppendObject("app.log", []byte("theirs\n")) // another host
	mustWrite(t, h, "ours 2\n")
	if err := h.Fsync(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := mem.Object("app.log"); string(got) != "base\nours 1\ntheirs\nours 2\n" {
		t.Fatalf("S3 app.log = %q after the rebase", got)
	}
	n := h.Node()
	if j := n.spoolFile().Journal(); j.Shift == 0 || j.LocalStart == 0 {
		t.Fatalf("the rebase left shift %d, local start %d: the test does not reach relocate", j.Shift, j.LocalStart)
	}
	var refusing atomic.Bool
	refusing.Store(true)
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "DeleteObject" && refusing.Load() {
			return memstore.Fail
		}
		return memstore.Pass
	})
	if err := fs.Rename(ctx, fs.Root(), "app.log", fs.Root(), "app.log.1", 0); err != nil {
		t.Fatal(err)
	}
	size := int64(5)
	if err := fs.Setattr(ctx, n, nil, SetAttr{Size: &size}); err != nil {
		t.Fatalf("truncate: %v", err)
	}
	if j := n.spoolFile().Journal(); j.RenamedFrom != "app.log" || j.Shift != 0 {
		t.Fatalf("after the edit the journal names old key %q (shift %d), want app.log (0)", j.RenamedFrom, j.Shift)
	}
	if names := listNames(t, fs); !slices.Equal(names, []string{"app.log.1"}) {
		t.Fatalf("listing shows %q, want only app.log.1", names)
	}
	if _, err := fs.Lookup(ctx, fs.Root(), "app.log"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup of the old name: %v, want not found", err)
	}
	refusing.Store(false)
	h.Release()
	if err := fs.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if keys := mem.Keys(); !slices.Equal(keys, []string{"app.log.1"}) {
		t.Fatalf("S3 holds %q, want only app.log.1", keys)
	}
	if got, _, _ := mem.Object("app.log.1"); string(got) != "base\n" {
		t.Fatalf("S3 app.log.1 = %q, want the first 5 bytes", got)
	}
}

// ftruncate(0) replaces a file's spool file by an empty one (emptied),
// which keeps what the old journal said beyond the bytes: here a rename
// reported failed that S3 may have applied, whose copy the next
// publication deletes. Before, the empty file's journal forgot it and the
// copy stayed under the new name, a file the rename said it never made.
func TestEmptiedKeepsTheJournal(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	mem.PutObject("app.log", []byte("line 1\n"))
	fs := lostFS(t, mem, t.TempDir())
	see := renameInDoubt(t, fs, mem, "CopyObject")
	n, err := fs.Lookup(ctx, fs.Root(), "app.log")
	if err != nil {
		t.Fatal(err)
	}
	if f := n.spoolFile(); f == nil || f.Journal().MoveDoubt == nil {
		t.Fatal("no rename in doubt in the spool: the test does not test it")
	}
	// Looked at while HEADs still fail: the file's job, run at once,
	// cannot have settled the doubt yet (it did under load before).
	see()
	size := int64(0)
	if err := fs.Setattr(ctx, n, nil, SetAttr{Size: &size}); err != nil {
		t.Fatalf("truncate: %v", err)
	}
	if err := fs.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if keys := mem.Keys(); !slices.Equal(keys, []string{"app.log"}) {
		t.Fatalf("S3 holds %q, want only app.log (the rename failed)", keys)
	}
	if got, _, _ := mem.Object("app.log"); len(got) != 0 {
		t.Fatalf("S3 app.log = %q, want empty", got)
	}
}
