package vfs

import (
	"context"
	"strings"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// renameTree puts d/a, d/b, d/c and renames d to e with the store's hook
// set to fault; it returns rename's error.
func renameTree(t *testing.T, mem *memstore.Store, dir string, fault memstore.Hook) error {
	t.Helper()
	ctx := context.Background()
	for _, k := range []string{"d/a", "d/b", "d/c"} {
		mem.PutObject(k, []byte(k+"\n"))
	}
	fs := lostFS(t, mem, dir)
	if _, err := fs.Lookup(ctx, fs.Root(), "d"); err != nil {
		t.Fatal(err)
	}
	mem.SetHook(fault)
	err := fs.Rename(ctx, fs.Root(), "d", fs.Root(), "e", 0)
	mem.SetHook(nil)
	fs.Shutdown(ctx)
	return err
}

func failOn(op, key string) memstore.Hook {
	return func(c memstore.Call) memstore.Fault {
		if c.Op == op && c.Key == key {
			return memstore.Fail
		}
		return memstore.Pass
	}
}

// A directory rename whose deletes stop half-way (S3 failing, or a crash:
// TestCrashPoints covers a file's) is finished by the next mount from the
// journaled moves: the tree ends under the new name only, never both.
func TestDirRenameCutAfterTheCopiesIsFinished(t *testing.T) {
	mem := memstore.New("b")
	dir := t.TempDir()
	if err := renameTree(t, mem, dir, failOn("DeleteObject", "d/b")); err == nil {
		t.Fatal("rename succeeded with a delete failing")
	}
	lostFS(t, mem, dir).Shutdown(context.Background()) // the next mount
	if got := strings.Join(mem.Keys(), " "); got != "e/a e/b e/c" {
		t.Fatalf("after the next mount S3 holds %s, want e/a e/b e/c", got)
	}
	for _, k := range []string{"a", "b", "c"} {
		if data, _, _ := mem.Object("e/" + k); string(data) != "d/"+k+"\n" {
			t.Fatalf("e/%s holds %q", k, data)
		}
	}
}

// A directory rename whose copies fail half-way is undone: the tree stays
// under its old name only, and the next mount moves nothing.
func TestDirRenameCutDuringTheCopiesIsUndone(t *testing.T) {
	mem := memstore.New("b")
	dir := t.TempDir()
	if err := renameTree(t, mem, dir, failOn("CopyObject", "e/b")); err == nil {
		t.Fatal("rename succeeded with a copy failing")
	}
	if got := strings.Join(mem.Keys(), " "); got != "d/a d/b d/c" {
		t.Fatalf("after the failed rename S3 holds %s, want d/a d/b d/c", got)
	}
	lostFS(t, mem, dir).Shutdown(context.Background())
	if got := strings.Join(mem.Keys(), " "); got != "d/a d/b d/c" {
		t.Fatalf("after the next mount S3 holds %s, want d/a d/b d/c", got)
	}
}
