package vfs

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// copyHidingStore lists as MinIO does while a copy of an object onto
// itself runs (a metadata-only CopyObject: a chmod, chown or utimes
// stored): without that object. The copy of hide waits for release.
type copyHidingStore struct {
	*memstore.Store
	hide     string
	started  chan struct{} // closed when the copy of hide begins
	release  chan struct{}
	mu       sync.Mutex
	copying  bool
	startOne sync.Once
}

func (s *copyHidingStore) Copy(ctx context.Context, src, etag, dst string, c s3store.Cond) (s3store.ObjectInfo, error) {
	if src != s.hide || dst != s.hide {
		return s.Store.Copy(ctx, src, etag, dst, c)
	}
	s.mu.Lock()
	s.copying = true
	s.mu.Unlock()
	s.startOne.Do(func() { close(s.started) })
	<-s.release
	defer func() {
		s.mu.Lock()
		s.copying = false
		s.mu.Unlock()
	}()
	return s.Store.Copy(ctx, src, etag, dst, c)
}

func (s *copyHidingStore) List(ctx context.Context, prefix, delimiter, token string, max int32) (s3store.ListPage, error) {
	page, err := s.Store.List(ctx, prefix, delimiter, token, max)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.copying {
		kept := page.Objects[:0]
		for _, o := range page.Objects {
			if o.Key != s.hide {
				kept = append(kept, o)
			}
		}
		page.Objects = kept
	}
	return page, err
}

// A listing made while the mount stores a file's new attributes (a copy
// onto itself) shows the file, though the server's listing left it out
// meanwhile (MinIO does). Before, readdir left it out too, and tar c of
// the mount skipped a symlink that tar x had just made (CI, MinIO).
func TestListingDuringAnAttributesCopyShowsTheFile(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	mem.PutObject("f", []byte("one\n"))
	mem.PutObject("g", []byte("two\n"))
	st := &copyHidingStore{Store: mem, hide: "f", started: make(chan struct{}), release: make(chan struct{})}
	fs := memFS(t, st, filepath.Join(t.TempDir(), "spool"), Options{AllowDelete: true, AllowOverwrite: true, PosixMetadata: true})
	n, err := fs.Lookup(ctx, fs.Root(), "f")
	if err != nil {
		t.Fatal(err)
	}
	mode := os.FileMode(0o600)
	if err := fs.Setattr(ctx, n, nil, SetAttr{Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	stored := make(chan error, 1)
	go func() { stored <- n.ws().job.Publish(ctx, true) }()
	<-st.started
	names := func() []string {
		var out []string
		if err := fs.ReadDir(ctx, fs.Root(), func(e DirEntry) bool {
			out = append(out, e.Name)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	during := names()
	close(st.release)
	if err := <-stored; err != nil {
		t.Fatalf("storing the mode: %v", err)
	}
	if len(during) != 2 {
		t.Errorf("listing during the attributes copy: %v, want [f g]", during)
	}
	if after := names(); len(after) != 2 {
		t.Errorf("listing after the attributes copy: %v, want [f g]", after)
	}
	if a, ok := mem.Info("f"); !ok || a.Attrs == nil || a.Attrs.Mode&0o777 != 0o600 {
		t.Errorf("S3's object after the chmod: %+v", a)
	}
}
