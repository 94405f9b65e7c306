package testenv

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// WaitCachedFile waits (up to 60 s) until the data cache under dir (a
// mount's --cache) holds the file of an object of size bytes wholly —
// that size, no hole: every block written (a reader's last blocks are
// stored just after it got them) — other than those in not, and returns
// its path.
func WaitCachedFile(t testing.TB, dir string, size int64, not ...string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var found string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !slices.Contains(not, p) && wholeFile(p, size) {
				found = p
			}
			return nil
		})
		if found != "" {
			return found
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: no wholly cached object of %d bytes in %s", size, dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wholeFile: p is size bytes long and has no hole.
func wholeFile(p string, size int64) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() != size {
		return false
	}
	hole, err := unix.Seek(int(f.Fd()), 0, unix.SEEK_HOLE)
	return err == nil && hole == size
}

// OtherFSDir is a new directory on /dev/shm (tmpfs: another file system
// than the temporary directory's, where tests keep spools), removed at
// the end.
func OtherFSDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/dev/shm", "s3mount-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
