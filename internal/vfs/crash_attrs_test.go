package vfs

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// spoolPosixFS is lostFS with POSIX metadata stored with the objects.
func spoolPosixFS(t *testing.T, mem *memstore.Store, dir string) *FS {
	return memFS(t, mem, dir, Options{AllowDelete: true, AllowOverwrite: true, PosixMetadata: true})
}

// A file created 0640 and chowned (logrotate's create 0640 www-data adm)
// that crashed before its first publication is published by the next
// mount with its own mode and owner, not the mount's defaults: before,
// the journal kept neither and a private log came back world-readable.
func TestCrashKeepsAttributesSetBeforePublication(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		flags int
	}{{"log", os.O_WRONLY | os.O_CREATE | os.O_APPEND}, {"whole file", os.O_WRONLY | os.O_CREATE}} {
		t.Run(c.name, func(t *testing.T) {
			mem := memstore.New("b")
			dir := filepath.Join(t.TempDir(), "spool")
			fs := spoolPosixFS(t, mem, dir)
			_, h, err := fs.Create(ctx, fs.Root(), "app.log", c.flags, 0o640)
			if err != nil {
				t.Fatal(err)
			}
			uid, gid := uint32(33), uint32(4)
			if err := fs.Setattr(ctx, h.Node(), h, SetAttr{UID: &uid, GID: &gid}); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, h, "line 1\n")
			// The crash: the spool as it is now, mounted again.
			crashed := filepath.Join(t.TempDir(), "spool")
			if err := copySpool(dir, crashed); err != nil {
				t.Fatal(err)
			}
			spoolPosixFS(t, mem, crashed).Shutdown(ctx)
			info, err := mem.Head(ctx, "app.log")
			if err != nil {
				t.Fatalf("the recovered file was not published: %v", err)
			}
			a := info.Attrs
			if a == nil || a.Mode != 0o640|syscall.S_IFREG || a.UID != 33 || a.GID != 4 {
				t.Fatalf("published with attributes %+v, want mode 0640, uid 33, gid 4", a)
			}
		})
	}
}

// The root of a mount with --prefix keeps chmod/chown across a remount:
// they are stored on the prefix's marker and read back at mount.
func TestPrefixRootAttributesSurviveRemount(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	o := Options{PosixMetadata: true, Prefix: "logs/"}
	fs := memFS(t, mem, t.TempDir(), o)
	mode := ModeFromStat(0o1770)
	uid, gid := uint32(33), uint32(4)
	if err := fs.Setattr(ctx, fs.Root(), nil, SetAttr{Mode: &mode, UID: &uid, GID: &gid}); err != nil {
		t.Fatal(err)
	}
	fs.Shutdown(ctx)
	a := memFS(t, mem, t.TempDir(), o).Root().Attr()
	if StatMode(a.Mode) != syscall.S_IFDIR|0o1770 || a.UID != 33 || a.GID != 4 {
		t.Fatalf("root after a remount: mode %#o uid %d gid %d, want 041770 33 4", StatMode(a.Mode), a.UID, a.GID)
	}
}
