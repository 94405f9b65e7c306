package vfs

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
)

// listingFS is a file system over a bucket holding exactly keys (each
// empty), on a spool shared by the calls (listing never touches it).
func listingFS(t *testing.T, sp *spool.Spool, prefix string, keys []string) *FS {
	mem := memstore.New("keys")
	for _, k := range keys {
		mem.PutObject(k, nil)
	}
	fs := New(mem, sp, nil, nil, Options{Prefix: prefix, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(fs.queue.Stop)
	return fs
}

// checkListedKeys walks the whole tree the mount shows over keys and
// checks the key <-> path mapping both ways:
//   - every name ReadDir gives is a valid single path component, once per
//     directory, and Lookup finds it as the same kind of entry;
//   - a file's path maps back (fs.key) to a key in the bucket, a
//     directory's (fs.dirKey) to the prefix of one;
//   - every key below the prefix whose components are all valid names is
//     shown: as a file at its path, or shadowed by a directory there (a
//     directory wins over a file of the same name); a "dir/" marker key
//     shows its directory. The others are skipped, never shown mangled.
func checkListedKeys(t *testing.T, fs *FS, keys []string) {
	t.Helper()
	ctx := context.Background()
	stored := map[string]bool{}
	for _, k := range keys {
		stored[k] = true
	}
	files, dirs := map[string]bool{}, map[string]bool{}
	var walk func(dir *Node)
	walk = func(dir *Node) {
		seen := map[string]bool{}
		var sub []*Node
		err := fs.ReadDir(ctx, dir, func(e DirEntry) bool {
			if !validName(e.Name) || strings.Contains(e.Name, "/") {
				t.Fatalf("keys %q: %q listed the name %q", keys, dir.Path(), e.Name)
			}
			if seen[e.Name] {
				t.Fatalf("keys %q: %q listed %q twice", keys, dir.Path(), e.Name)
			}
			seen[e.Name] = true
			p := join(dir.Path(), e.Name)
			if e.Node.Path() != p {
				t.Fatalf("keys %q: entry %q of %q has the path %q", keys, e.Name, dir.Path(), e.Node.Path())
			}
			if e.Node.IsDir() {
				dk := fs.dirKey(p)
				found := false
				for k := range stored {
					found = found || strings.HasPrefix(k, dk)
				}
				if !found {
					t.Fatalf("keys %q: directory %q maps to %q, the prefix of no key", keys, p, dk)
				}
				dirs[p] = true
				sub = append(sub, e.Node)
			} else {
				if !stored[fs.key(p)] {
					t.Fatalf("keys %q: file %q maps to %q, no key", keys, p, fs.key(p))
				}
				files[p] = true
			}
			n, err := fs.Lookup(ctx, dir, e.Name)
			if err != nil || n.IsDir() != e.Node.IsDir() {
				t.Fatalf("keys %q: %q listed (dir %v) but Lookup gives %v, %v", keys, p, e.Node.IsDir(), n, err)
			}
			return true
		})
		if err != nil {
			t.Fatalf("keys %q: ReadDir(%q): %v", keys, dir.Path(), err)
		}
		for _, d := range sub {
			walk(d)
		}
	}
	walk(fs.Root())

	prefix := fs.opt.Prefix
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		rel := k[len(prefix):]
		marker := strings.HasSuffix(rel, "/")
		p := strings.TrimSuffix(rel, "/")
		valid := p != ""
		for _, c := range strings.Split(p, "/") {
			valid = valid && validName(c)
		}
		switch {
		case !valid:
		case marker && !dirs[p]:
			t.Fatalf("keys %q: the marker %q does not show the directory %q", keys, k, p)
		case !marker && !files[p] && !dirs[p]:
			t.Fatalf("keys %q: %q is not shown at %q", keys, k, p)
		}
	}
}

// sanitizeKeys drops what S3 cannot hold (empty keys, keys over 1,024
// bytes): a bucket never lists them.
func sanitizeKeys(keys ...string) []string {
	var out []string
	for _, k := range keys {
		if k != "" && len(k) <= maxKeyLen {
			out = append(out, k)
		}
	}
	return out
}

// Hostile keys in a listing: skipped or shown as valid names that map back.
func TestListedKeyNames(t *testing.T) {
	sp, _, err := spool.Open(t.TempDir(), "keys/", spool.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for _, keys := range [][]string{
		{"p/a", "p/a/", "p/a/b"},
		{"p/..", "p/.", "p/../x", "p/./y", "p//z", "p/ok"},
		{"p/a\x00b", "p/\xff\xfe", "p/" + strings.Repeat("n", 256), "p/" + strings.Repeat("n", 255)},
		{"p/d/", "p/d//", "p/d/.", "p/e/f/g/h"},
		{"/abs", "p", "p/", "q/p/x", "p/x/"},
		{strings.Repeat("p/", 300) + "deep"},
	} {
		for _, prefix := range []string{"", "p/"} {
			fs := listingFS(t, sp, prefix, sanitizeKeys(keys...))
			checkListedKeys(t, fs, sanitizeKeys(keys...))
		}
	}
}

// FuzzListedKeys: for any two keys in the bucket (and the mount's prefix
// or none), the listing's names are valid path components that map back to
// the keys, and no key that could be shown is lost.
func FuzzListedKeys(f *testing.F) {
	sp, _, err := spool.Open(f.TempDir(), "keys/", spool.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(sp.Close)
	f.Fuzz(func(t *testing.T, prefixed bool, k1, k2 string) {
		prefix := ""
		if prefixed {
			prefix = "p/"
		}
		keys := sanitizeKeys(k1, k2)
		checkListedKeys(t, listingFS(t, sp, prefix, keys), keys)
	})
}
