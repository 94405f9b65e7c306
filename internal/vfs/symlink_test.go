package vfs

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// posixFS is a mount of mem with options o (a new one is a remount).
func posixFS(t *testing.T, mem s3store.Store, o Options) *FS {
	t.Helper()
	o.MetadataTTL = time.Minute
	return memFS(t, mem, t.TempDir(), o)
}

func headOf(t *testing.T, mem *memstore.Store, key string) s3store.ObjectInfo {
	t.Helper()
	h, err := mem.Head(context.Background(), key)
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	return h
}

func requests(mem *memstore.Store, op string) int64 { return mem.Stats()[op].Requests }

// ln -s makes an object in s3fs's form (body = target, mode S_IFLNK|0777)
// with one conditional PUT; readlink, rename and unlink work on it, also
// after a remount; relative and absolute targets are kept as given.
func TestSymlinkObjects(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	fs := posixFS(t, mem, Options{PosixMetadata: true, AllowDelete: true})
	root := fs.Root()
	for name, target := range map[string]string{"rel": "../x/app-2026.log", "abs": "/var/log/syslog"} {
		puts := requests(mem, "PutObject")
		n, err := fs.Symlink(ctx, root, name, target)
		if err != nil {
			t.Fatalf("symlink %s: %v", name, err)
		}
		if got := requests(mem, "PutObject") - puts; got != 1 {
			t.Errorf("symlink %s: %d PUTs, want 1", name, got)
		}
		data, _, _ := mem.Object(name)
		h := headOf(t, mem, name)
		if string(data) != target || h.Attrs == nil || h.Attrs.Mode != syscall.S_IFLNK|0o777 {
			t.Fatalf("object %s: %q %+v", name, data, h.Attrs)
		}
		if a := n.Attr(); a.Mode&os.ModeSymlink == 0 || a.Size != int64(len(target)) || StatMode(a.Mode) != syscall.S_IFLNK|0o777 {
			t.Errorf("lstat %s: mode %v size %d", name, a.Mode, a.Size)
		}
		gets := requests(mem, "GetObject")
		if got, err := fs.Readlink(ctx, n); err != nil || got != target {
			t.Errorf("readlink %s: %q, %v", name, got, err)
		}
		if requests(mem, "GetObject") != gets {
			t.Errorf("readlink of a link made here asked S3")
		}
	}
	// A create whose answer is lost is told by its tag: done, not failed.
	loseOnce(mem, "PutObject")
	if _, err := fs.Symlink(ctx, root, "lost", "target"); err != nil {
		t.Errorf("symlink whose answer was lost: %v", err)
	}
	mem.SetHook(nil)
	if err := fs.Unlink(ctx, root, "lost"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Symlink(ctx, root, "rel", "other"); !errors.Is(err, ErrExists) {
		t.Errorf("symlink over an existing name: %v, want EEXIST", err)
	}
	if _, err := fs.Symlink(ctx, root, "empty", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("symlink to \"\": %v, want ENOENT", err)
	}
	if _, err := fs.Symlink(ctx, root, "long", strings.Repeat("a", maxTarget+1)); !errors.Is(err, ErrNameTooLong) {
		t.Errorf("symlink to a target over PATH_MAX: %v, want ENAMETOOLONG", err)
	}
	if err := fs.Rename(ctx, root, "rel", root, "moved", 0); err != nil {
		t.Fatal(err)
	}
	if h := headOf(t, mem, "moved"); h.Attrs == nil || h.Attrs.Mode != syscall.S_IFLNK|0o777 {
		t.Fatalf("renamed link's object: %+v", h.Attrs)
	}

	// Remount: the link is found as a link and read with one GET.
	fs2 := posixFS(t, mem, Options{PosixMetadata: true, AllowDelete: true})
	n, err := fs2.Lookup(ctx, fs2.Root(), "moved")
	if err != nil || n.Type() != syscall.S_IFLNK {
		t.Fatalf("lookup after remount: %v, %v", n, err)
	}
	gets := requests(mem, "GetObject")
	for range 2 {
		if got, err := fs2.Readlink(ctx, n); err != nil || got != "../x/app-2026.log" {
			t.Fatalf("readlink after remount: %q, %v", got, err)
		}
	}
	if got := requests(mem, "GetObject") - gets; got != 1 {
		t.Errorf("two readlinks: %d GETs, want 1", got)
	}
	if err := fs2.Unlink(ctx, fs2.Root(), "moved"); err != nil {
		t.Fatal(err)
	}
	if keys := mem.Keys(); strings.Join(keys, " ") != "abs" {
		t.Fatalf("keys after rename and unlink: %v", keys)
	}
}

// A listing cannot tell a symlink from a small file: objects of at most
// PATH_MAX bytes are HEADed (in parallel, once per version) before the
// listing is shown; larger ones are known to be regular files.
func TestListingLearnsTypes(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	mem.PutObject("d/small", []byte("not a link"))
	mem.PutObject("d/big", make([]byte, maxTarget+1))
	mem.Put(ctx, "d/link", strings.NewReader("small"), 5, s3store.Cond{Attrs: &s3store.Attrs{Mode: syscall.S_IFLNK | 0o777}})
	mem.Put(ctx, "d/fifo", strings.NewReader(""), 0, s3store.Cond{Attrs: &s3store.Attrs{Mode: syscall.S_IFIFO | 0o600}})
	mem.Put(ctx, "d/sub/", strings.NewReader(""), 0, s3store.Cond{Attrs: &s3store.Attrs{Mode: syscall.S_IFDIR | 0o700, UID: 7}})
	fs := posixFS(t, mem, Options{PosixMetadata: true})
	d, err := fs.Lookup(ctx, fs.Root(), "d")
	if err != nil {
		t.Fatal(err)
	}
	var entries []DirEntry
	list := func() {
		entries = entries[:0]
		if err := fs.ReadDir(ctx, d, func(e DirEntry) bool { entries = append(entries, e); return true }); err != nil {
			t.Fatal(err)
		}
	}
	list()
	before := map[string]uint32{}
	for _, e := range entries {
		before[e.Name] = e.Node.DirentType()
	}
	if before["big"] != syscall.S_IFREG || before["small"] != 0 || before["link"] != 0 || before["sub"] != syscall.S_IFDIR {
		t.Errorf("types a listing alone shows: %v", before)
	}
	heads := requests(mem, "HeadObject")
	fs.LearnTypes(ctx, entries)
	if got := requests(mem, "HeadObject") - heads; got != 4 {
		t.Errorf("LearnTypes: %d HEADs, want 4 (small, link, fifo, sub/)", got)
	}
	want := map[string]uint32{"big": syscall.S_IFREG, "small": syscall.S_IFREG, "link": syscall.S_IFLNK, "fifo": syscall.S_IFIFO, "sub": syscall.S_IFDIR}
	for _, e := range entries {
		if got := e.Node.DirentType(); got != want[e.Name] {
			t.Errorf("%s: type %o, want %o", e.Name, got, want[e.Name])
		}
		if !e.Node.AttrsKnown() {
			t.Errorf("%s: attributes still unknown", e.Name)
		}
	}
	if a := fs.byPath.get("d/sub").Attr(); a.Mode != os.ModeDir|0o700 || a.UID != 7 {
		t.Errorf("sub/ marker's attributes: %v uid %d", a.Mode, a.UID)
	}
	// Listing again costs no HEAD: the versions are the same.
	list()
	heads = requests(mem, "HeadObject")
	fs.LearnTypes(ctx, entries)
	if got := requests(mem, "HeadObject") - heads; got != 0 {
		t.Errorf("second listing: %d HEADs, want 0", got)
	}
	// A lookup of a listed link shows it as a link without asking again.
	n, err := fs.Lookup(ctx, d, "link")
	if err != nil || n.Type() != syscall.S_IFLNK {
		t.Errorf("lookup of a listed link: %v %v", n, err)
	}
}

// mknod and mkfifo make empty objects whose mode says what they are; they
// are never opened through S3.
func TestMknodObjects(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	fs := posixFS(t, mem, Options{PosixMetadata: true})
	root := fs.Root()
	fifo, err := fs.Mknod(ctx, root, "fifo", syscall.S_IFIFO|0o640, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Mknod(ctx, root, "tty", syscall.S_IFCHR|0o600, 0x0501); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Mknod(ctx, root, "plain", syscall.S_IFREG|0o600, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Open(ctx, fifo, os.O_RDONLY); !errors.Is(err, syscall.ENXIO) {
		t.Errorf("open of a FIFO through the vfs: %v, want ENXIO", err)
	}
	fs2 := posixFS(t, mem, Options{PosixMetadata: true})
	for name, want := range map[string]uint32{"fifo": syscall.S_IFIFO | 0o640, "tty": syscall.S_IFCHR | 0o600, "plain": syscall.S_IFREG | 0o600} {
		if data, _, _ := mem.Object(name); len(data) != 0 {
			t.Errorf("%s: body %q", name, data)
		}
		n, err := fs2.Lookup(ctx, fs2.Root(), name)
		if err != nil {
			t.Fatal(err)
		}
		if a := n.Attr(); StatMode(a.Mode) != want || (name == "tty" && a.Rdev != 0x0501) {
			t.Errorf("%s after remount: mode %o rdev %x, want %o", name, StatMode(a.Mode), a.Rdev, want)
		}
	}
}

// mkdir makes the directory's marker with its mode; chmod/chown/utimes of
// a directory, implicit or not, are stored on its marker and read back
// after a remount; rmdir deletes the marker.
func TestDirAttrs(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	mem.PutObject("implicit/file", []byte("x"))
	fs := posixFS(t, mem, Options{PosixMetadata: true})
	root := fs.Root()
	if _, err := fs.Mkdir(ctx, root, "made", 0o700); err != nil {
		t.Fatal(err)
	}
	if h := headOf(t, mem, "made/"); h.Attrs == nil || h.Attrs.Mode != syscall.S_IFDIR|0o700 {
		t.Fatalf("mkdir's marker: %+v", h.Attrs)
	}
	loseOnce(mem, "PutObject") // told by its tag: done, not failed
	if _, err := fs.Mkdir(ctx, root, "lost", 0o755); err != nil {
		t.Errorf("mkdir whose answer was lost: %v", err)
	}
	mem.SetHook(nil)
	if err := fs.Rmdir(ctx, root, "lost"); err != nil {
		t.Fatal(err)
	}
	imp, err := fs.Lookup(ctx, root, "implicit")
	if err != nil {
		t.Fatal(err)
	}
	mode, uid, mt := os.FileMode(0o750), uint32(33), time.Unix(1600000000, 0)
	if err := fs.Setattr(ctx, imp, nil, SetAttr{Mode: &mode, UID: &uid, Mtime: &mt}); err != nil {
		t.Fatal(err)
	}
	if h := headOf(t, mem, "implicit/"); h.Attrs == nil || h.Attrs.Mode != syscall.S_IFDIR|0o750 || h.Attrs.UID != 33 || !h.Attrs.Mtime.Equal(mt) {
		t.Fatalf("chmod of an implicit directory: marker %+v", h.Attrs)
	}
	// chmod again: the marker is copied onto itself.
	mode = 0o711
	if err := fs.Setattr(ctx, imp, nil, SetAttr{Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	if h := headOf(t, mem, "implicit/"); h.Attrs == nil || h.Attrs.Mode != syscall.S_IFDIR|0o711 || h.Attrs.UID != 33 {
		t.Fatalf("second chmod: marker %+v", h.Attrs)
	}

	fs2 := posixFS(t, mem, Options{PosixMetadata: true})
	for name, want := range map[string]os.FileMode{"made": os.ModeDir | 0o700, "implicit": os.ModeDir | 0o711} {
		n, err := fs2.Lookup(ctx, fs2.Root(), name)
		if err != nil {
			t.Fatal(err)
		}
		if a := n.Attr(); a.Mode != want {
			t.Errorf("%s after remount: %v, want %v", name, a.Mode, want)
		}
		if a := n.Attr(); name == "implicit" && (a.UID != 33 || !a.Mtime.Equal(mt)) {
			t.Errorf("implicit after remount: uid %d mtime %v", a.UID, a.Mtime)
		}
	}
	// The root of a mount without --prefix has no marker key: its chmod
	// lasts for the mount's life.
	if err := fs2.Setattr(ctx, fs2.Root(), nil, SetAttr{Mode: &mode}); err != nil || fs2.Root().Attr().Mode != os.ModeDir|0o711 {
		t.Errorf("chmod of the root: %v, mode %v", err, fs2.Root().Attr().Mode)
	}
	// Without --allow-delete: the marker of an empty directory holds no
	// file's bytes.
	if err := fs2.Rmdir(ctx, fs2.Root(), "made"); err != nil {
		t.Fatal(err)
	}
	if keys := mem.Keys(); strings.Join(keys, " ") != "implicit/ implicit/file" {
		t.Fatalf("keys after rmdir: %v", keys)
	}
}

// With --no-posix-metadata symlinks and special files are EPERM, mkdir
// stays local, and small listed files cost no HEAD.
func TestNoPosixMetadataSymlinks(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	mem.PutObject("small", []byte("x"))
	fs := posixFS(t, mem, Options{})
	if _, err := fs.Symlink(ctx, fs.Root(), "l", "t"); !errors.Is(err, ErrPerm) {
		t.Errorf("symlink: %v, want EPERM", err)
	}
	if _, err := fs.Mknod(ctx, fs.Root(), "f", syscall.S_IFIFO|0o644, 0); !errors.Is(err, ErrPerm) {
		t.Errorf("mkfifo: %v, want EPERM", err)
	}
	if _, err := fs.Mkdir(ctx, fs.Root(), "d", 0o700); err != nil {
		t.Fatal(err)
	}
	var entries []DirEntry
	fs.ReadDir(ctx, fs.Root(), func(e DirEntry) bool { entries = append(entries, e); return true })
	heads := requests(mem, "HeadObject")
	fs.LearnTypes(ctx, entries)
	if got := requests(mem, "HeadObject") - heads; got != 0 || len(entries) != 2 {
		t.Errorf("listing %d entries: %d HEADs, want 0", len(entries), got)
	}
	if keys := mem.Keys(); strings.Join(keys, " ") != "small" {
		t.Errorf("keys: %v", keys)
	}
}

// --no-symlink-probe: a listing HEADs no small object (they show as
// regular files); a lookup by name still learns a link's type.
func TestNoSymlinkProbe(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	mem.PutObject("small", []byte("x"))
	mem.Put(ctx, "link", strings.NewReader("small"), 5, s3store.Cond{Attrs: &s3store.Attrs{Mode: syscall.S_IFLNK | 0o777}})
	fs := posixFS(t, mem, Options{PosixMetadata: true, NoSymlinkProbe: true})
	var entries []DirEntry
	fs.ReadDir(ctx, fs.Root(), func(e DirEntry) bool { entries = append(entries, e); return true })
	heads := requests(mem, "HeadObject")
	fs.LearnTypes(ctx, entries)
	if got := requests(mem, "HeadObject") - heads; got != 0 || len(entries) != 2 {
		t.Fatalf("listing %d entries: %d HEADs, want 0", len(entries), got)
	}
	for _, e := range entries {
		if e.Node.DirentType() != syscall.S_IFREG || !e.Node.AttrsKnown() {
			t.Errorf("%s: type %o known %v, want a regular file", e.Name, e.Node.DirentType(), e.Node.AttrsKnown())
		}
	}
	fs2 := posixFS(t, mem, Options{PosixMetadata: true, NoSymlinkProbe: true})
	if n, err := fs2.Lookup(ctx, fs2.Root(), "link"); err != nil || n.Type() != syscall.S_IFLNK {
		t.Errorf("lookup by name: %v, %v", n, err)
	}
}

// refuseMarkers is a store whose server refuses "dir/" keys as names (as
// MinIO does for a component over 246 bytes).
type refuseMarkers struct{ *memstore.Store }

func (r refuseMarkers) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, c s3store.Cond) (s3store.ObjectInfo, error) {
	if strings.HasSuffix(key, "/") {
		return s3store.ObjectInfo{}, &s3store.Error{Op: "PutObject", Key: key, Code: "XMinioInvalidObjectName", Status: 400, Err: errors.New("refused")}
	}
	return r.Store.Put(ctx, key, body, size, c)
}

// A directory whose marker the server refuses is made as without POSIX
// metadata: mkdir and chmod succeed, their mode lasts for the mount's life.
func TestMarkerRefused(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	fs := posixFS(t, refuseMarkers{mem}, Options{PosixMetadata: true})
	d, err := fs.Mkdir(ctx, fs.Root(), "d", 0o700)
	if err != nil {
		t.Fatalf("mkdir: %v", err)
	}
	mode := os.FileMode(0o750)
	if err := fs.Setattr(ctx, d, nil, SetAttr{Mode: &mode}); err != nil {
		t.Fatalf("chmod: %v", err)
	}
	if a := d.Attr(); a.Mode != os.ModeDir|0o750 {
		t.Errorf("mode %v", a.Mode)
	}
	if keys := mem.Keys(); len(keys) != 0 {
		t.Errorf("keys: %v", keys)
	}
}
