package vfs

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// deletePausingStore holds a delete of key, once it is done, until
// release: the moment a rename has copied the object and deleted its old
// key but not yet moved the node to its new name.
type deletePausingStore struct {
	*memstore.Store
	key      string
	deleted  chan struct{}
	release  chan struct{}
	pauseOne sync.Once
}

func (s *deletePausingStore) pause(key string) {
	if key != s.key {
		return
	}
	s.pauseOne.Do(func() {
		close(s.deleted)
		<-s.release
	})
}

func (s *deletePausingStore) DeleteIf(ctx context.Context, key, etag string) error {
	err := s.Store.DeleteIf(ctx, key, etag)
	s.pause(key)
	return err
}

func (s *deletePausingStore) Delete(ctx context.Context, key string) error {
	err := s.Store.Delete(ctx, key)
	s.pause(key)
	return err
}

// A lookup of a file's old name that asks S3 while a rename moves it
// (the kernel revalidates a dentry without the directory's lock) finds
// the old key deleted. It used to take that for "S3 no longer has the
// file": the node became new, the rename put it under its new name as
// new, and the next open there started an empty file whose create-only
// put met the object the rename had copied: EIO at close, and S3 kept
// the old bytes while the mount showed the new ones (e2e stress, MinIO).
func TestLookupDuringARenameKeepsTheFileInS3(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	mem.PutObject("a", []byte("one\ntwo\n"))
	st := &deletePausingStore{Store: mem, key: "a", deleted: make(chan struct{}), release: make(chan struct{})}
	fs := memFS(t, st, filepath.Join(t.TempDir(), "spool"), Options{AllowDelete: true, AllowOverwrite: true})
	n, err := fs.Lookup(ctx, fs.Root(), "a")
	if err != nil {
		t.Fatal(err)
	}
	renamed := make(chan error, 1)
	go func() { renamed <- fs.Rename(ctx, fs.Root(), "a", fs.Root(), "b", 0) }()
	<-st.deleted
	// The old name is gone in S3, the rename has not moved the node yet.
	if m, err := fs.Lookup(ctx, fs.Root(), "a"); err == nil && m != n {
		t.Fatalf("lookup of the old name during the rename found another node")
	}
	close(st.release)
	if err := <-renamed; err != nil {
		t.Fatalf("rename: %v", err)
	}
	// The kernel keeps the inode it had (its dentry moves with the
	// rename): no lookup of the new name comes before the next open.
	n.mu.Lock()
	state, p := n.state, n.path
	n.mu.Unlock()
	if p != "b" || state != stateInS3 {
		t.Errorf("after the rename the file is %q, %v; want \"b\", in-s3 (S3 has its object under the new name)", p, state)
	}
	// An edit through the new name extends the object S3 has.
	h, err := fs.Open(ctx, n, os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if _, err := h.Write(ctx, []byte("three\n"), 0); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := h.Fsync(ctx); err != nil {
		t.Fatalf("fsync: %v", err)
	}
	h.Release()
	if b, _, ok := mem.Object("b"); !ok || string(b) != "one\ntwo\nthree\n" {
		t.Fatalf("S3 holds %q under the new name, want %q", b, "one\ntwo\nthree\n")
	}
	if _, _, ok := mem.Object("a"); ok {
		t.Fatalf("S3 still holds the old name")
	}
}
