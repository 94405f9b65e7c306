package e2e

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/s3mount/s3mount/internal/readahead"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/spool"
	"github.com/s3mount/s3mount/internal/vfs"
)

// Neither test server can hold a file "a" and a key "a/b" at once (their
// POSIX backends refuse), nor keys like "a//b", "./x" or a 300-byte name.
// These tests run the vfs over the real store, wrapped so that listings show
// what S3 proper can hold: the wrapper renames one real prefix and adds keys
// to listings. Everything else is the real server.

// shapedStore shows the real prefix real as view, and lists extra keys.
type shapedStore struct {
	s3store.Store
	view, real string
	extra      []string
}

func (s *shapedStore) toReal(k string) string {
	if rest, ok := strings.CutPrefix(k, s.view); ok {
		return s.real + rest
	}
	return k
}

func (s *shapedStore) toView(k string) string {
	if rest, ok := strings.CutPrefix(k, s.real); ok {
		return s.view + rest
	}
	return k
}

func (s *shapedStore) Head(ctx context.Context, key string) (s3store.ObjectInfo, error) {
	i, err := s.Store.Head(ctx, s.toReal(key))
	i.Key = s.toView(i.Key)
	return i, err
}

func (s *shapedStore) Get(ctx context.Context, key string, off, n int64, ifMatch string) (io.ReadCloser, error) {
	return s.Store.Get(ctx, s.toReal(key), off, n, ifMatch)
}

func (s *shapedStore) List(ctx context.Context, prefix, delim, token string, max int32) (s3store.ListPage, error) {
	p, err := s.Store.List(ctx, s.toReal(prefix), delim, token, max)
	if err != nil {
		return p, err
	}
	for i := range p.Objects {
		p.Objects[i].Key = s.toView(p.Objects[i].Key)
	}
	for i := range p.Prefixes {
		p.Prefixes[i] = s.toView(p.Prefixes[i])
	}
	if token != "" {
		return p, nil
	}
	// Extra keys, grouped by the delimiter as S3 would.
	seen := map[string]bool{}
	for _, cp := range p.Prefixes {
		seen[cp] = true
	}
	for _, k := range s.extra {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		if i := strings.Index(rest, delim); delim != "" && i >= 0 {
			if cp := prefix + rest[:i+len(delim)]; !seen[cp] {
				seen[cp] = true
				p.Prefixes = append(p.Prefixes, cp)
			}
			continue
		}
		p.Objects = append(p.Objects, s3store.ObjectInfo{Key: k, Size: 1, ETag: `"x"`})
	}
	return p, nil
}

func newVFS(t *testing.T, st s3store.Store) *vfs.FS {
	t.Helper()
	sp, _, err := spool.Open(t.TempDir(), "test", spool.Options{MaxBuffer: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	fs := vfs.New(st, sp, nil, readahead.NewPool(st, readahead.PoolOptions{}), vfs.Options{})
	t.Cleanup(func() { fs.Shutdown(context.Background()) })
	return fs
}

func listVFS(t *testing.T, fs *vfs.FS, dir *vfs.Node) []string {
	t.Helper()
	var out []string
	err := fs.ReadDir(context.Background(), dir, func(e vfs.DirEntry) bool {
		n := e.Name
		if e.Node.IsDir() {
			n += "/"
		}
		out = append(out, n)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestReadShadowing: key "a" and key "a/b": "a" is a directory, listed once.
func TestReadShadowing(t *testing.T) {
	srv, b := setup(t)
	srv.Put(t, b, "a", []byte("file a"))
	srv.Put(t, b, "adir/b", []byte("file b"))
	fs := newVFS(t, &shapedStore{Store: srv.Store(t, b), view: "a/", real: "adir/"})
	ctx := context.Background()
	if got := listVFS(t, fs, fs.Root()); fmt.Sprint(got) != "[a/]" {
		t.Fatalf("root lists %v, want [a/]", got)
	}
	a, err := fs.Lookup(ctx, fs.Root(), "a")
	if err != nil || !a.IsDir() {
		t.Fatalf("lookup a: dir=%v, %v", a != nil && a.IsDir(), err)
	}
	if got := listVFS(t, fs, a); fmt.Sprint(got) != "[b]" {
		t.Fatalf("a/ lists %v, want [b]", got)
	}
	bn, err := fs.Lookup(ctx, a, "b")
	if err != nil {
		t.Fatal(err)
	}
	h, err := fs.Open(ctx, bn, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	buf := make([]byte, 64)
	n, err := h.Read(ctx, buf, 0)
	if err != nil || string(buf[:n]) != "file b" {
		t.Fatalf("read a/b: %q, %v", buf[:n], err)
	}
}

// TestReadUnnamableKeys: keys that cannot be names are skipped, the rest
// listed.
func TestReadUnnamableKeys(t *testing.T) {
	srv, b := setup(t)
	srv.Put(t, b, "ok", []byte("1"))
	srv.Put(t, b, "d/ok2", []byte("2"))
	long := strings.Repeat("x", 300)
	st := &shapedStore{Store: srv.Store(t, b), extra: []string{
		"a//b", "./x", "../y", long, "d/" + long, "d//z", "d/./w", "d/../v", "e/" + long + "/f",
	}}
	fs := newVFS(t, st)
	ctx := context.Background()
	if got := listVFS(t, fs, fs.Root()); fmt.Sprint(got) != "[a/ d/ e/ ok]" {
		t.Fatalf("root lists %v, want [a/ d/ e/ ok]", got)
	}
	for dir, want := range map[string]string{"a": "[]", "d": "[ok2]", "e": "[]"} {
		n, err := fs.Lookup(ctx, fs.Root(), dir)
		if err != nil {
			t.Fatalf("lookup %s: %v", dir, err)
		}
		if got := listVFS(t, fs, n); fmt.Sprint(got) != want {
			t.Errorf("%s/ lists %v, want %s", dir, got, want)
		}
	}
	for _, name := range []string{".", "..", long} {
		if _, err := fs.Lookup(ctx, fs.Root(), name); err == nil {
			t.Errorf("lookup %.20q succeeded", name)
		}
	}
}
