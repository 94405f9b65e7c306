package vfs

import (
	"context"
	"fmt"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

func nodeCount(fs *FS) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.nodes)
}

// Listing a directory again and again keeps no node the kernel was never
// handed: before, every name ever listed kept one for the mount's life.
// A node that was handed stays; one let go comes back, with its inode
// number, when a lookup or a later handing asks for it.
func TestUnreceivedListedNodesAreLetGo(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	for i := 0; i < 200; i++ {
		mem.PutObject(fmt.Sprintf("logs/app-%03d.log", i), []byte("x\n"))
	}
	fs := lostFS(t, mem, t.TempDir())
	logs, err := fs.Lookup(ctx, fs.Root(), "logs")
	if err != nil {
		t.Fatal(err)
	}
	fs.Received(logs)
	base := nodeCount(fs)
	var entries []DirEntry
	for round := 0; round < 3; round++ {
		entries = entries[:0]
		if err := fs.ReadDir(ctx, logs, func(e DirEntry) bool { entries = append(entries, e); return true }); err != nil {
			t.Fatal(err)
		}
		if got := nodeCount(fs); got != base+200 {
			t.Fatalf("round %d: %d nodes while listing, want %d", round, got, base+200)
		}
		if round == 0 {
			fs.Received(entries[7].Node) // READDIRPLUS handed this one
		}
		fs.Unreceived(entries)
		if got := nodeCount(fs); got != base+1 {
			t.Fatalf("round %d: %d nodes after the listing, want %d (the handed one stays)", round, got, base+1)
		}
	}
	// A node let go, handed late (a READDIRPLUS racing the release),
	// comes back as the node of its name, with its inode number.
	late := entries[3].Node
	ino := late.Ino()
	if got := fs.Received(late); got.Ino() != ino || got.Path() != "logs/app-003.log" {
		t.Fatalf("a pruned node handed late: ino %d path %q, want %d logs/app-003.log", got.Ino(), got.Path(), ino)
	}
	n, err := fs.Lookup(ctx, logs, "app-003.log")
	if err != nil || n.Ino() != ino {
		t.Fatalf("lookup after the late handing: %v, ino %d want %d", err, n.Ino(), ino)
	}
	if n != late {
		t.Fatal("two nodes for one name after a pruned node was handed late")
	}
}
