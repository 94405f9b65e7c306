package testenv

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// SmallDisk mounts a tmpfs of size ("1m", "2m") on a temp dir, for a
// spool to fill (the tests run as root); unmounted at t.Cleanup.
func SmallDisk(t testing.TB, size string) string {
	t.Helper()
	disk := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", disk).CombinedOutput(); err != nil {
		t.Fatalf("testenv: mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", disk).Run() })
	return disk
}

// FillDisk fills the disk path is on to its last page, as another program
// would, with a file at path.
func FillDisk(t testing.TB, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, size := range []int{64 << 10, 4 << 10} { // to the last page
		chunk := make([]byte, size)
		for {
			if _, err := f.Write(chunk); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("testenv: filling the disk: %v", err)
				}
				break
			}
		}
	}
}
