package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A directory whose last name is moved out, removed or unlinked through
// the mount stays, empty, as on a local file system (README "Names"):
// before, one that only keys made (another tool wrote d1/f; d2 holds
// only the marker d2/e/) vanished with its last key when it was renamed
// away or rmdir'd (found by the reference model with directories,
// internal/vfs/model_dirs_test.go). rmdir then removes it.
func TestDirectoryStaysWhenEmptied(t *testing.T) {
	srv, bucket := setup(t)
	srv.Put(t, bucket, "d1/f", []byte("one\n"))
	srv.Put(t, bucket, "d2/e/", nil)
	srv.Put(t, bucket, "d3/f", []byte("three\n"))
	m := mount(t, srv, bucket, "--allow-delete")
	if err := os.Rename(filepath.Join(m.Dir, "d1/f"), filepath.Join(m.Dir, "g")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(m.Dir, "d2/e")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(m.Dir, "d3/f")); err != nil {
		t.Fatal(err)
	}
	// A listing asks the mount (the kernel caches no directory's
	// entries here), so it shows what the mount knows now.
	entries, err := os.ReadDir(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if want := []string{"d1", "d2", "d3"}; !slices.Equal(dirs, want) {
		t.Fatalf("directories after emptying them: %q, want %q", dirs, want)
	}
	for _, d := range []string{"d1", "d2", "d3"} {
		if rest, err := os.ReadDir(filepath.Join(m.Dir, d)); err != nil || len(rest) != 0 {
			t.Fatalf("%s: %v, %d entries; want an empty directory", d, err, len(rest))
		}
		if err := os.Remove(filepath.Join(m.Dir, d)); err != nil {
			t.Fatalf("rmdir %s: %v", d, err)
		}
	}
	if keys := srv.Keys(t, bucket, ""); !slices.Equal(keys, []string{"g"}) {
		t.Fatalf("S3 holds %q, want only g", keys)
	}
}

// With --no-posix-metadata a directory made here has no marker (only
// this host knows it, as on Mountpoint); when another tool then marks it
// ("d/"), or a directory that had one is emptied here, rmdir must delete
// that marker too, or the directory comes back (at once in a listing,
// and at the next mount). Before, rmdir took such a directory for one
// only this host knew and left the marker.
func TestRmdirDeletesAMarkerAnotherToolWrote(t *testing.T) {
	for _, emptied := range []bool{false, true} {
		name := "made here"
		if emptied {
			name = "emptied here"
		}
		t.Run(name, func(t *testing.T) {
			srv, bucket := setup(t)
			args := []string{"--allow-delete", "--no-posix-metadata"}
			if emptied {
				srv.Put(t, bucket, "d/", nil)
				srv.Put(t, bucket, "d/f", []byte("one\n"))
			}
			m := mount(t, srv, bucket, args...)
			if emptied {
				if err := os.Remove(filepath.Join(m.Dir, "d/f")); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := os.Mkdir(filepath.Join(m.Dir, "d"), 0o755); err != nil {
					t.Fatal(err)
				}
				srv.Put(t, bucket, "d/", nil)
			}
			if err := os.Remove(filepath.Join(m.Dir, "d")); err != nil {
				t.Fatalf("rmdir d: %v", err)
			}
			if keys := srv.Keys(t, bucket, ""); len(keys) != 0 {
				t.Fatalf("S3 holds %q after rmdir, want nothing", keys)
			}
			if entries, err := os.ReadDir(m.Dir); err != nil || len(entries) != 0 {
				t.Fatalf("listing after rmdir: %v, %v; want nothing", entries, err)
			}
			m.Unmount(t)
			m = mount(t, srv, bucket, args...)
			if entries, err := os.ReadDir(m.Dir); err != nil || len(entries) != 0 {
				t.Fatalf("listing after a remount: %v, %v; want nothing", entries, err)
			}
		})
	}
}
