package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// `mkdir d; chmod 0750 d; touch d/f; mkdir -m 0700 d/s; mv d e` renames
// the directory, its markers (mode, owner, mtime) with it. versitygw's POSIX backend refuses
// a CopyObject onto another directory's key (DirectoryObjectContainsData:
// it counts the source directory's size as data), so the marker is put
// anew there, an empty object with the source's attributes; before, every
// such rename failed with EIO on versitygw (MinIO copies it).
func TestDirRenameMovesItsMarker(t *testing.T) {
	srv, b := setup(t)
	st := srv.Store(t, b)
	m := mount(t, srv, b, "--allow-delete")
	at := func(n string) string { return filepath.Join(m.Dir, n) }
	if err := os.Mkdir(at("d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(at("d"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(at("d/f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(at("d/s"), 0o700); err != nil { // a marker deeper down
		t.Fatal(err)
	}
	if a := headAttrs(t, st, "d/"); a == nil || a.Mode != syscall.S_IFDIR|0o750 {
		t.Fatalf("d's marker holds %+v, want mode 040750 (the test proves nothing)", a)
	}
	// The new file is published after its close; until its spool file
	// is dropped the rename answers EXDEV (mv would copy instead).
	var err error
	if !waitUntil(30*time.Second, func() bool {
		err = syscall.Rename(at("d"), at("e"))
		return !errors.Is(err, syscall.EXDEV)
	}) || err != nil {
		t.Fatalf("rename d e: %v", err)
	}
	check := func(dir string) {
		t.Helper()
		if s := statOf(t, filepath.Join(dir, "e")); s.Mode&0o7777 != 0o750 || s.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			t.Errorf("e: mode %o, want a directory, 750", s.Mode)
		}
		if _, err := os.Stat(filepath.Join(dir, "e/f")); err != nil {
			t.Errorf("e/f: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "d")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("d after the rename: %v, want it gone", err)
		}
		if keys := srv.Keys(t, b, ""); !slices.Equal(keys, []string{"e/", "e/f", "e/s/"}) {
			t.Errorf("S3 holds %q, want e/, e/f and e/s/", keys)
		}
		if a := headAttrs(t, st, "e/"); a == nil || a.Mode != syscall.S_IFDIR|0o750 {
			t.Errorf("e's marker holds %+v, want mode 040750", a)
		}
		if a := headAttrs(t, st, "e/s/"); a == nil || a.Mode != syscall.S_IFDIR|0o700 {
			t.Errorf("e/s's marker holds %+v, want mode 040700", a)
		}
	}
	check(m.Dir)
	m.Unmount(t)
	check(mount(t, srv, b).Dir)
}
