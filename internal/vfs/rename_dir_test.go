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
	fs := treeFS(t, mem, dir)
	if _, err := fs.Lookup(ctx, fs.Root(), "d"); err != nil {
		t.Fatal(err)
	}
	mem.SetHook(fault)
	err := fs.Rename(ctx, fs.Root(), "d", fs.Root(), "e", 0)
	mem.SetHook(nil)
	fs.Shutdown(ctx)
	return err
}

// treeFS is lostFS, on a directory bucket when mem is one.
func treeFS(t *testing.T, mem *memstore.Store, dir string) *FS {
	if strings.HasSuffix(mem.Bucket(), "--x-s3") {
		return memFS(t, mem, dir, Options{AllowDelete: true, AllowOverwrite: true, Express: mem})
	}
	return lostFS(t, mem, dir)
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
// TestCrashPoints covers a file's) has happened — every copy landed — and
// the old keys left are deleted later from the journaled moves (by the
// file's job, or the next mount): the tree ends under the new name only,
// never both. On a directory bucket too (its moves are copies there as
// well; the old keys were left before). (Before, the rename failed with
// EIO though the tree was under the new name.)
func TestDirRenameCutAfterTheCopiesIsFinished(t *testing.T) {
	for _, mem := range []*memstore.Store{memstore.New("b"), memstore.NewExpress("b--use1-az4--x-s3")} {
		dir := t.TempDir()
		if err := renameTree(t, mem, dir, failOn("DeleteObject", "d/b")); err != nil {
			t.Fatalf("rename with an old key's delete failing: %v; want success (the copies stand)", err)
		}
		treeFS(t, mem, dir).Shutdown(context.Background()) // the next mount
		if got := strings.Join(mem.Keys(), " "); got != "e/a e/b e/c" {
			t.Fatalf("%s: after the next mount S3 holds %s, want e/a e/b e/c", mem.Bucket(), got)
		}
		for _, k := range []string{"a", "b", "c"} {
			if data, _, _ := mem.Object("e/" + k); string(data) != "d/"+k+"\n" {
				t.Fatalf("e/%s holds %q", k, data)
			}
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
