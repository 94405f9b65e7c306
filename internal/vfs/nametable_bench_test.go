package vfs

import (
	"context"
	"fmt"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// The namespace operations on a small directory cost what that directory
// holds, not what the mount holds: beside a listed directory of 100,000
// names, a small directory's listing, a directory rename and the lookup of
// a directory another host removed do not go through every node.
func BenchmarkSmallDirBesideMany(b *testing.B) {
	const many = 100000
	mem := memstore.New("b")
	for i := 0; i < many; i++ {
		mem.PutObject(fmt.Sprintf("big/f%06d.log", i), nil)
	}
	for i := 0; i < 10; i++ {
		mem.PutObject(fmt.Sprintf("small/f%d.log", i), nil)
	}
	fs := memFS(b, mem, b.TempDir(), Options{AllowDelete: true})
	ctx := context.Background()
	lookup := func(dir *Node, name string) *Node {
		n, err := fs.Lookup(ctx, dir, name)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	big := lookup(fs.Root(), "big")
	listed := 0
	if err := fs.ReadDir(ctx, big, func(DirEntry) bool { listed++; return true }); err != nil {
		b.Fatal(err)
	}
	if listed != many {
		b.Fatalf("listed %d, want %d", listed, many)
	}
	small := lookup(fs.Root(), "small")
	b.Run("readdir", func(b *testing.B) {
		for b.Loop() {
			if err := fs.ReadDir(ctx, small, func(DirEntry) bool { return true }); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A mkdir'd (local) directory, renamed back and forth: no key moves,
	// so what is left is the check of the tree's local state and the
	// move of its nodes.
	if _, err := fs.Mkdir(ctx, fs.Root(), "m0", 0o755); err != nil {
		b.Fatal(err)
	}
	names := [2]string{"m0", "m1"}
	b.Run("rename-dir", func(b *testing.B) {
		for b.Loop() {
			if err := fs.Rename(ctx, fs.Root(), names[0], fs.Root(), names[1], 0); err != nil {
				b.Fatal(err)
			}
			names[0], names[1] = names[1], names[0]
		}
	})
	b.Run("holds-local", func(b *testing.B) {
		// What a lookup asks of a directory S3 no longer has.
		for b.Loop() {
			fs.mu.Lock()
			held := fs.holdsLocalLocked("small")
			fs.mu.Unlock()
			if held {
				b.Fatal("small holds local state")
			}
		}
	})
}
