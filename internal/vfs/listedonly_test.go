package vfs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A node a listing made carries no write state and no local attributes
// (BenchmarkListing: 100,000 of them), through what ls -l does to it
// (READDIRPLUS: learning types, handing it to the kernel, stat; lookup)
// and through the unmount's publication of everything; the first open
// makes its write state, the first chmod its attributes.
func TestListedNodesCarryNoWriteState(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	for i := 0; i < 40; i++ {
		size := 5000 // larger than any symlink: not HEADed
		if i%2 == 1 {
			size = 10 // small enough to be a symlink: LearnTypes HEADs it
		}
		mem.PutObject(fmt.Sprintf("logs/app-%03d.log", i), bytes.Repeat([]byte("x"), size))
	}
	fs := memFS(t, mem, t.TempDir(), Options{AllowDelete: true, AllowOverwrite: true, PosixMetadata: true})
	logs, err := fs.Lookup(ctx, fs.Root(), "logs")
	if err != nil {
		t.Fatal(err)
	}
	var entries []DirEntry
	if err := fs.ReadDir(ctx, logs, func(e DirEntry) bool { entries = append(entries, e); return true }); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 40 {
		t.Fatalf("listed %d entries, want 40", len(entries))
	}
	fs.LearnTypes(ctx, entries)
	for _, e := range entries {
		n := fs.Received(e.Node)
		_ = n.Attr()
		_ = n.DirentType()
		if _, err := fs.Lookup(ctx, logs, e.Name); err != nil {
			t.Fatal(err)
		}
	}
	bare := func(when string) {
		t.Helper()
		for _, e := range entries {
			n := e.Node
			n.mu.Lock()
			ws, la := n.wst.Load(), n.la
			n.mu.Unlock()
			if ws != nil || la != nil {
				t.Fatalf("%s: listed %s has write state %v, local attributes %v; want neither", when, e.Name, ws != nil, la != nil)
			}
		}
	}
	bare("after ls -l")

	opened, chmodded := entries[0].Node, entries[2].Node
	h, err := fs.Open(ctx, opened, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	h.Release()
	if opened.wst.Load() == nil {
		t.Fatal("an opened node has no write state")
	}
	mode := os.FileMode(0o600)
	if err := fs.Setattr(ctx, chmodded, nil, SetAttr{Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	chmodded.mu.Lock()
	la := chmodded.la
	chmodded.mu.Unlock()
	if la == nil || !la.modeSet || la.mode != 0o600 {
		t.Fatalf("a chmodded node's local attributes: %+v, want mode 0600", la)
	}
	if got := chmodded.Attr().Mode.Perm(); got != 0o600 {
		t.Fatalf("stat after chmod: %v, want 0600", got)
	}
	// The unmount publishes the chmod and makes nothing for the others.
	if err := fs.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	entries = append(entries[1:2], entries[3:]...)
	bare("after the unmount")
	info, err := mem.Head(ctx, "logs/app-002.log")
	if err != nil {
		t.Fatal(err)
	}
	if info.Attrs == nil || info.Attrs.Mode&0o777 != 0o600 {
		t.Fatalf("the chmod was not published: %+v", info.Attrs)
	}
}
