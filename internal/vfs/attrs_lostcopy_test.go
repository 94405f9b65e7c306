package vfs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/s3mount/s3mount/internal/readahead"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A chmod's copy onto itself that S3 applied, its answer and the HEAD
// after it both lost: the node kept the old ETag, which S3 no longer has.
// Readers follow their own mount's attribute change to the copy (the
// same bytes): a new reader, and one that has read already, instead of
// ESTALE (model seeds 9356054, 163985704: Express, with a log's spool
// file open). The chmod is stored all the same.
func TestReadersFollowAChmodWhoseCopyAnswerWasLost(t *testing.T) {
	for _, c := range []struct {
		name     string
		express  bool
		spooled  bool // an O_APPEND handle is open: the file has a spool file
		oldFirst bool // the reader that has read reads again before a new one opens
	}{{"plain", false, false, false}, {"log open", false, true, false}, {"express log open", true, true, false},
		{"plain, old reader first", false, false, true}, {"express log open, old reader first", true, true, true}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			mem := memstore.New("b")
			if c.express {
				mem = memstore.NewExpress("b--use1-az4--x-s3")
			}
			data := bytes.Repeat([]byte("0123456789abcde\n"), 3<<16) // 3 MiB: read in several GETs
			mem.PutObject("f", data)
			o := Options{AllowDelete: true, AllowOverwrite: true, PosixMetadata: true}
			if c.express {
				o.Express = mem
			}
			fs := memFS(t, mem, filepath.Join(t.TempDir(), "spool"), o)
			n, err := fs.Lookup(ctx, fs.Root(), "f")
			if err != nil {
				t.Fatal(err)
			}
			old := nodeETag(n)
			r1, err := fs.Open(ctx, n, os.O_RDONLY)
			if err != nil {
				t.Fatal(err)
			}
			readAt(t, r1, data, 0, 4096) // it has served bytes: pinned
			if c.spooled {
				defer openLog(t, fs, n).Release()
			}
			chmodCopyLost(t, mem, fs, n, old)

			if c.oldFirst {
				readAt(t, r1, data, int64(len(data))-(1<<20), 1<<16)
			}
			r2, err := fs.Open(ctx, n, os.O_RDONLY)
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Release()
			readAt(t, r2, data, 0, 1<<16)
			readAt(t, r1, data, int64(len(data))-(1<<19), 1<<16)
			r1.Release()

			if err := fs.Shutdown(ctx); err != nil {
				t.Fatalf("unmount: %v", err)
			}
			info, ok := mem.Info("f")
			if !ok || info.Attrs == nil || info.Attrs.Mode&0o777 != 0o600 {
				t.Fatalf("S3's attributes after the unmount: %+v; want mode 0600 stored", info.Attrs)
			}
			if got, _, _ := mem.Object("f"); !bytes.Equal(got, data) {
				t.Fatalf("S3 holds %d bytes, want the %d written", len(got), len(data))
			}
		})
	}
}

// The same lost copy, but a listing shows the copy's ETag before the
// reader reads again: a listing carries no tag to tell an attributes copy
// by, so the node takes the new ETag as another writer's, and the reader,
// pinned to the old one, was refused (ESTALE; model seed 97371735: a
// reader opened before a utimes stored on the next tick, a listing
// after). It follows the copy, as without the listing.
func TestAReaderFollowsAChmodCopyAListingShowedFirst(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	data := bytes.Repeat([]byte("0123456789abcde\n"), 3<<16) // 3 MiB: read in several GETs
	mem.PutObject("f", data)
	fs := memFS(t, mem, filepath.Join(t.TempDir(), "spool"), Options{AllowDelete: true, AllowOverwrite: true, PosixMetadata: true})
	n, err := fs.Lookup(ctx, fs.Root(), "f")
	if err != nil {
		t.Fatal(err)
	}
	old := nodeETag(n)
	r, err := fs.Open(ctx, n, os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	readAt(t, r, data, 0, 4096) // it has served bytes: pinned
	chmodCopyLost(t, mem, fs, n, old)
	if err := fs.ReadDir(ctx, fs.Root(), func(DirEntry) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if _, etag, _ := mem.Object("f"); nodeETag(n) != etag {
		t.Fatalf("the node at %s after the listing, S3 at %s: want the listing's ETag taken", nodeETag(n), etag)
	}
	readAt(t, r, data, int64(len(data))-(1<<19), 1<<16)
	readAt(t, r, data, 0, 1<<16)
	if err := fs.Shutdown(ctx); err != nil {
		t.Fatalf("unmount: %v", err)
	}
	if info, ok := mem.Info("f"); !ok || info.Attrs == nil || info.Attrs.Mode&0o777 != 0o600 {
		t.Fatalf("S3's attributes after the unmount: %+v; want mode 0600 stored", info.Attrs)
	}
}

// openLog opens n for appending: the file gets a spool file.
func openLog(t *testing.T, fs *FS, n *Node) *Handle {
	t.Helper()
	w, err := fs.Open(context.Background(), n, os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// chmodCopyLost chmods n (object "f" at ETag old) 0600 with the copy onto
// itself landing, its answer and the HEAD after it lost.
func chmodCopyLost(t *testing.T, mem *memstore.Store, fs *FS, n *Node, old string) {
	t.Helper()
	mem.SetHook(loseEach("f", "CopyObject", "HeadObject"))
	mode := os.FileMode(0o600)
	if err := fs.Setattr(context.Background(), n, nil, SetAttr{Mode: &mode}); err != nil {
		t.Fatalf("chmod: %v", err)
	}
	n.ws().job.RunWaiting()
	mem.SetHook(nil)
	if _, etag, _ := mem.Object("f"); etag == old || nodeETag(n) != old {
		t.Fatalf("S3 at %s, the node at %s (was %s): want the copy landed and the node left behind", etag, nodeETag(n), old)
	}
}

// loseEach makes the first call of each of ops on key apply and lose its
// answer.
func loseEach(key string, ops ...string) memstore.Hook {
	var mu sync.Mutex
	left := map[string]bool{}
	for _, op := range ops {
		left[op] = true
	}
	return func(c memstore.Call) memstore.Fault {
		mu.Lock()
		defer mu.Unlock()
		if c.Key == key && left[c.Op] {
			delete(left, c.Op)
			return memstore.LoseAnswer
		}
		return memstore.Pass
	}
}

func nodeETag(n *Node) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.etag
}

// readAt reads [off, off+size) through h and compares it with data.
func readAt(t *testing.T, h *Handle, data []byte, off int64, size int) {
	t.Helper()
	p := make([]byte, size)
	m, err := h.Read(context.Background(), p, off)
	if err != nil {
		if errors.Is(err, ErrStale) {
			t.Fatalf("read [%d, %d): ESTALE (%v)", off, off+int64(size), err)
		}
		t.Fatalf("read [%d, %d): %v", off, off+int64(size), err)
	}
	if !bytes.Equal(p[:m], data[off:off+int64(m)]) || m != size {
		t.Fatalf("read [%d, %d): %d bytes, not the object's", off, off+int64(size), m)
	}
}

// The same lost copy under an edit or a rename: truncate(2) fetches the
// published bytes pinned to the old ETag (into a new spool file, or below
// a log's local bytes), rename(2) copies them pinned to it. Each goes on
// with the attributes copy (the same bytes) instead of failing with ESTALE
// for the mount's own chmod; S3 ends with the change and the chmod.
func TestAnEditOrRenameFollowsAChmodWhoseCopyAnswerWasLost(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcde\n"), 1000)
	half := int64(len(data) / 2)
	type change struct {
		name string
		do   func(ctx context.Context, fs *FS, n *Node) error
		key  string
		want []byte
	}
	changes := []change{
		{"truncate", func(ctx context.Context, fs *FS, n *Node) error {
			return fs.Setattr(ctx, n, nil, SetAttr{Size: &half})
		}, "f", data[:half]},
		{"rename", func(ctx context.Context, fs *FS, n *Node) error {
			return fs.Rename(ctx, fs.Root(), "f", fs.Root(), "g", 0)
		}, "g", data},
	}
	for _, ch := range changes {
		for _, c := range []struct {
			name    string
			express bool
			spooled bool
		}{{"plain", false, false}, {"log open", false, true}, {"express", true, false}, {"express log open", true, true}} {
			t.Run(ch.name+" "+c.name, func(t *testing.T) {
				ctx := context.Background()
				mem := memstore.New("b")
				o := Options{AllowDelete: true, AllowOverwrite: true, PosixMetadata: true}
				if c.express {
					mem = memstore.NewExpress("b--use1-az4--x-s3")
					o.Express = mem
				}
				mem.PutObject("f", data)
				fs := memFS(t, mem, filepath.Join(t.TempDir(), "spool"), o)
				n, err := fs.Lookup(ctx, fs.Root(), "f")
				if err != nil {
					t.Fatal(err)
				}
				old := nodeETag(n)
				if c.spooled {
					defer openLog(t, fs, n).Release()
				}
				chmodCopyLost(t, mem, fs, n, old)

				if err := ch.do(ctx, fs, n); err != nil {
					t.Fatalf("%s after the chmod: %v", ch.name, err)
				}
				if err := fs.Shutdown(ctx); err != nil {
					t.Fatalf("unmount: %v", err)
				}
				info, ok := mem.Info(ch.key)
				if !ok || info.Attrs == nil || info.Attrs.Mode&0o777 != 0o600 {
					t.Fatalf("S3's attributes of %s after the unmount: %+v; want mode 0600 stored", ch.key, info.Attrs)
				}
				if got, _, _ := mem.Object(ch.key); !bytes.Equal(got, ch.want) {
					t.Fatalf("S3 holds %d bytes at %s, want %d", len(got), ch.key, len(ch.want))
				}
				if keys := mem.Keys(); len(keys) != 1 {
					t.Fatalf("S3 holds %v, want %s only", keys, ch.key)
				}
			})
		}
	}
}

// Another host's attributes copy (its chmod, tagged as ours are) holds the
// same bytes too: a reader follows it. A replacement of the same size
// that is no such copy still gives ESTALE, never the other bytes.
func TestAReaderFollowsAnotherHostsAttributesCopyOnly(t *testing.T) {
	for _, c := range []struct {
		name   string
		tag    func(old string) string
		follow bool
	}{{"attributes copy", func(old string) string { return "attrs:" + old + ":1" }, true},
		{"replaced", func(old string) string { return "" }, false},
		{"attributes copy of another version", func(old string) string { return "attrs:\"other\":1" }, false}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			mem := memstore.New("b")
			data := bytes.Repeat([]byte("0123456789abcde\n"), 3<<16)
			mem.PutObject("f", data)
			fs := memFS(t, mem, filepath.Join(t.TempDir(), "spool"), Options{PosixMetadata: true})
			n, err := fs.Lookup(ctx, fs.Root(), "f")
			if err != nil {
				t.Fatal(err)
			}
			r, err := fs.Open(ctx, n, os.O_RDONLY)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Release()
			readAt(t, r, data, 0, 4096)
			other := data
			if !c.follow {
				other = bytes.ToUpper(data)
			}
			mem.PutWith("f", other, s3store.Cond{Tag: c.tag(nodeETag(n)), Attrs: &s3store.Attrs{Mode: 0o100600}})
			if c.follow {
				readAt(t, r, data, int64(len(data))-(1<<19), 1<<16)
				return
			}
			p := make([]byte, 1<<16)
			off := int64(len(data)) - (1 << 19)
			if m, err := r.Read(ctx, p, off); !errors.Is(err, readahead.ErrStale) && (err != nil || !bytes.Equal(p[:m], data[off:off+int64(m)])) {
				t.Fatalf("read after a replacement: %d bytes, %v; want the old bytes or ESTALE", m, err)
			}
		})
	}
}
