package vfs

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

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

// A node the kernel forgets while it still has bytes to publish stays
// until they are published, then leaves the table (before, it stayed for
// the mount's life: a log directory's rotated files piled up). A lookup
// brings it back with its inode number.
func TestForgottenNodeLeavesOncePublished(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	fs := lostFS(t, mem, t.TempDir())
	base := nodeCount(fs)
	n, h, err := fs.Create(ctx, fs.Root(), "a.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	n = fs.Received(n)
	mustWrite(t, h, "line\n")
	h.Release() // the interval (an hour here) holds the bytes
	fs.Forget(n)
	if got := nodeCount(fs); got != base+1 {
		t.Fatalf("%d nodes after the kernel forgot a file with unpublished bytes, want %d (kept)", got, base+1)
	}
	n.ws().job.Now()
	deadline := time.Now().Add(time.Minute)
	for nodeCount(fs) != base {
		if time.Now().After(deadline) {
			t.Fatalf("%d nodes a minute after the publication was due, want %d", nodeCount(fs), base)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, _, _ := mem.Object("a.log"); string(got) != "line\n" {
		t.Fatalf("S3 holds %q", got)
	}
	m, err := fs.Lookup(ctx, fs.Root(), "a.log")
	if err != nil || m.Ino() != n.Ino() {
		t.Fatalf("lookup after the node left: %v, ino %d want %d", err, m.Ino(), n.Ino())
	}
	// A node the kernel still holds stays after its publication.
	h2, err := fs.Open(ctx, fs.Received(m), os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, h2, "two\n")
	h2.Release()
	m.ws().job.Now()
	for {
		if got, _, _ := mem.Object("a.log"); string(got) == "line\ntwo\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("second publication did not happen")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for { // its spool file let go: the point where a forgotten node leaves
		m.mu.Lock()
		done := m.file == nil
		m.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the published file kept its spool file")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := nodeCount(fs); got != base+1 {
		t.Fatalf("%d nodes: a node the kernel holds was let go", got)
	}
}

// A node never handed to the kernel (whoever looked it up holds it) stays
// in the table after its spool file is let go: only one the kernel forgot
// leaves then. Before, it left too, and the holder's next open attached a
// spool file to a node no longer in the table, which a rename of its name
// then missed (found by the model test: the file came back after a crash).
func TestUnhandedNodeStaysAfterPublication(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	fs := lostFS(t, mem, t.TempDir())
	n, h, err := fs.Create(ctx, fs.Root(), "a.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, h, "line\n")
	h.Release()
	n.ws().job.Now()
	deadline := time.Now().Add(time.Minute)
	for {
		n.mu.Lock()
		done := n.file == nil
		n.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the published file kept its spool file")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m, err := fs.Lookup(ctx, fs.Root(), "a.log"); err != nil || m != n {
		t.Fatalf("lookup after the publication: %v; the same node: %v", err, m == n)
	}
}
