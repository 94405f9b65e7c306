package vfs

import (
	"context"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// dirCopyRefusingStore refuses a CopyObject onto a directory's marker key
// from another key as versitygw's POSIX backend does (400
// DirectoryObjectContainsData: it counts the source directory's size as
// data); a copy of a marker onto itself (a chmod's) it applies.
type dirCopyRefusingStore struct{ *memstore.Store }

func (s dirCopyRefusingStore) Copy(ctx context.Context, src, etag, dst string, c s3store.Cond) (s3store.ObjectInfo, error) {
	if strings.HasSuffix(dst, "/") && src != dst {
		return s3store.ObjectInfo{}, &s3store.Error{Op: "CopyObject", Key: src + " -> " + dst,
			Code: "DirectoryObjectContainsData", Status: 400, Sentinel: s3store.ErrDirectoryData}
	}
	return s.Store.Copy(ctx, src, etag, dst, c)
}

// mkdirWith makes the directory name in parent with POSIX metadata: mode,
// owner uid:uid+1 and an mtime of its own.
func mkdirWith(t *testing.T, fs *FS, parent *Node, name string, mode os.FileMode, uid uint32) {
	t.Helper()
	ctx := context.Background()
	n, err := fs.Mkdir(ctx, parent, name, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	gid := uid + 1
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(uid) * time.Hour)
	if err := fs.Setattr(ctx, n, nil, SetAttr{Mode: &mode, UID: &uid, GID: &gid, Mtime: &mtime}); err != nil {
		t.Fatal(err)
	}
}

// wantMarker fails unless key's marker holds mode (the permission bits of
// a directory) and owner uid:uid+1.
func wantMarker(t *testing.T, mem *memstore.Store, key string, mode uint32, uid uint32) {
	t.Helper()
	h, err := mem.Head(context.Background(), key)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	if a := h.Attrs; a == nil || a.Mode != syscall.S_IFDIR|mode || a.UID != uid || a.GID != uid+1 {
		t.Fatalf("%s holds %+v; want mode %o, owner %d:%d", key, a, syscall.S_IFDIR|mode, uid, uid+1)
	}
}

// A directory renamed on a store that refuses to copy a marker onto
// another directory's key (versitygw) moves with its markers: each is put
// anew under the new name with the attributes it had. (Before, the
// rename failed with EIO and the tree stayed under its old name.)
func TestDirRenameWhenMarkerCopiesAreRefused(t *testing.T) {
	mem := memstore.New("b")
	st := dirCopyRefusingStore{mem}
	ctx := context.Background()
	o := Options{AllowDelete: true, AllowOverwrite: true, PosixMetadata: true}
	fs := memFS(t, st, t.TempDir(), o)
	mkdirWith(t, fs, fs.Root(), "d", 0o750, 7)
	d, err := fs.Lookup(ctx, fs.Root(), "d")
	if err != nil {
		t.Fatal(err)
	}
	mkdirWith(t, fs, d, "s", 0o700, 9)
	mem.PutObject("d/f", []byte("line\n"))
	before, err := mem.Head(ctx, "d/")
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Rename(ctx, fs.Root(), "d", fs.Root(), "e", 0); err != nil {
		t.Fatalf("rename d e: %v", err)
	}
	if got, want := mem.Keys(), []string{"e/", "e/f", "e/s/"}; !slices.Equal(got, want) {
		t.Fatalf("S3 holds %q after the rename, want %q", got, want)
	}
	wantMarker(t, mem, "e/", 0o750, 7)
	wantMarker(t, mem, "e/s/", 0o700, 9)
	if h, _ := mem.Head(ctx, "e/"); !h.Attrs.Mtime.Equal(before.Attrs.Mtime) {
		t.Fatalf("e's marker has mtime %v, d's had %v", h.Attrs.Mtime, before.Attrs.Mtime)
	}
	fs2 := memFS(t, st, t.TempDir(), o)
	e, err := fs2.Lookup(ctx, fs2.Root(), "e")
	if err != nil {
		t.Fatal(err)
	}
	if a := e.Attr(); a.Mode.Perm() != 0o750 || a.UID != 7 || a.GID != 8 {
		t.Fatalf("e after a remount: mode %v owner %d:%d; want 0750 7:8", a.Mode, a.UID, a.GID)
	}
}

// A failed directory rename on such a store undoes the markers it put as
// it undoes copies: one under a new name is deleted; one put over the
// empty directory replaced (its answer lost) gets that directory's
// attributes back.
func TestFailedDirRenameUndoesThePutMarkers(t *testing.T) {
	for _, c := range []struct {
		name, to string
		fault    memstore.Hook
		want     []string
	}{
		{"to a new name, a file's copy failing", "e", failOn("CopyObject", "e/a"),
			[]string{"w/", "x/", "x/a"}},
		{"over an empty directory, the marker put's answer lost", "w", func(c memstore.Call) memstore.Fault {
			if c.Op == "PutObject" && c.Key == "w/" {
				return memstore.LoseAnswer
			}
			return memstore.Pass
		}, []string{"w/", "x/", "x/a"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := memstore.New("b")
			ctx := context.Background()
			fs := memFS(t, dirCopyRefusingStore{mem}, t.TempDir(), Options{AllowDelete: true, AllowOverwrite: true, PosixMetadata: true})
			mkdirWith(t, fs, fs.Root(), "w", 0o750, 7)
			mkdirWith(t, fs, fs.Root(), "x", 0o700, 9)
			mem.PutObject("x/a", []byte("line\n"))
			mem.SetHook(c.fault)
			err := fs.Rename(ctx, fs.Root(), "x", fs.Root(), c.to, 0)
			mem.SetHook(nil)
			if err == nil {
				t.Fatal("rename succeeded with a store fault")
			}
			if got := mem.Keys(); !slices.Equal(got, c.want) {
				t.Fatalf("S3 holds %q after the failed rename, want %q", got, c.want)
			}
			wantMarker(t, mem, "w/", 0o750, 7)
			wantMarker(t, mem, "x/", 0o700, 9)
		})
	}
}
