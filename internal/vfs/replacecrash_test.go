package vfs

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A new file whose first publication is to replace an object under its
// name that is not its own — one a rename left there, its delete still
// due (publish.ClaimLeft), or the object of a file it was renamed over —
// is still a new file after a crash: a rename moves its journal, it does
// not copy that object. Before, recovery took the object for the file's
// and a rename copied it: ENOENT once it was gone (the late delete that
// raced with the claim, another host), and its bytes under the new name
// until the publication replaced them.
func TestFileReplacingAnObjectIsNewAfterACrash(t *testing.T) {
	ctx := context.Background()
	createOver := func(flags int) func(t *testing.T, fs *FS) {
		return func(t *testing.T, fs *FS) {
			if err := fs.Rename(ctx, fs.Root(), "app.log", fs.Root(), "app.log.1", 0); err != nil {
				t.Fatal(err)
			}
			_, h, err := fs.Create(ctx, fs.Root(), "app.log", flags, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, h, "new 1\n")
		}
	}
	for _, c := range []struct {
		name string
		// setup leaves app.log a file with "new 1\n" not yet published
		// whose publication is to replace the object there.
		setup func(t *testing.T, fs *FS)
	}{
		{"log created over an old key", createOver(os.O_WRONLY | os.O_CREATE | os.O_APPEND)},
		{"file created over an old key", createOver(os.O_WRONLY | os.O_CREATE)},
		{"log renamed over an object", func(t *testing.T, fs *FS) {
			if err := fs.Rename(ctx, fs.Root(), "app.log", fs.Root(), "app.log.1", 0); err != nil {
				t.Fatal(err)
			}
			mem := fs.st.(*memstore.Store)
			mem.PutObject("app.log", []byte("another host's\n"))
			_, h, err := fs.Create(ctx, fs.Root(), "new.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, h, "new 1\n")
			if err := fs.Rename(ctx, fs.Root(), "new.log", fs.Root(), "app.log", 0); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := memstore.New("b")
			mem.PutObject("app.log", []byte("old 1\nold 2\n"))
			dir := filepath.Join(t.TempDir(), "spool")
			fs := lostFS(t, mem, dir)
			var failing atomic.Bool
			failing.Store(true)
			failDeletes(mem, "app.log", &failing)
			c.setup(t, fs)
			// The crash: the spool as it is now, mounted again.
			crashed := filepath.Join(t.TempDir(), "spool")
			if err := copySpool(dir, crashed); err != nil {
				t.Fatal(err)
			}
			// The old object goes meanwhile (the renamed file's late
			// delete, done just before the claim; another host).
			failing.Store(false)
			if err := mem.Delete(ctx, "app.log"); err != nil {
				t.Fatal(err)
			}
			// Publications fail until the rename is done: it must not
			// lean on one.
			var blocked atomic.Bool
			blocked.Store(true)
			mem.SetHook(func(c memstore.Call) memstore.Fault {
				if blocked.Load() && c.Key == "app.log" && (c.Op == "PutObject" || c.Op == "CreateMultipartUpload" || c.Op == "CopyObject") {
					return memstore.Fail
				}
				return memstore.Pass
			})
			fs2 := lostFS(t, mem, crashed)
			if err := fs2.Rename(ctx, fs2.Root(), "app.log", fs2.Root(), "moved.log", 0); err != nil {
				t.Fatalf("rename after the crash: %v", err)
			}
			blocked.Store(false)
			if err := fs2.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			for key, want := range map[string]string{"moved.log": "new 1\n", "app.log.1": "old 1\nold 2\n"} {
				if got, _, ok := mem.Object(key); !ok || string(got) != want {
					t.Errorf("S3 %s = %q (%v), want %q", key, got, ok, want)
				}
			}
			if _, _, ok := mem.Object("app.log"); ok {
				t.Errorf("S3 still has app.log")
			}
		})
	}
}
