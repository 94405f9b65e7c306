package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// An edit in place of an object larger than the whole buffer: its writes
// add no unpublished bytes (the edit holds them all already) and must
// write what they were given. Before, a reservation of 0 bytes did not fit
// the over-full buffer and write() returned 0 with no error (found by the
// model test, seed 848300483).
func TestEditLargerThanBuffer(t *testing.T) {
	for _, mode := range []string{"blocking", "non-blocking"} {
		t.Run(mode, func(t *testing.T) {
			srv := testenv.StartServer(t)
			b := srv.NewBucket(t)
			orig := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB
			srv.Put(t, b, "big.dat", orig)
			m := mount(t, srv, b, "--allow-overwrite", "--buffer-mode", mode, "--max-buffer-size", "64k")
			f, err := os.OpenFile(filepath.Join(m.Dir, "big.dat"), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]byte(nil), orig...)
			for i, off := range []int{1000, 70000, 200000} {
				p := bytes.Repeat([]byte{'X' + byte(i)}, 100)
				n, err := syscall.Pwrite(int(f.Fd()), p, int64(off))
				if err != nil || n != len(p) {
					f.Close()
					t.Fatalf("pwrite of %d bytes at %d: wrote %d, %v", len(p), off, n, err)
				}
				copy(want[off:], p)
			}
			if err := f.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			if got := srv.Get(t, b, "big.dat"); !bytes.Equal(got, want) {
				t.Fatalf("S3 holds %d bytes, not the edited file (%d bytes)", len(got), len(want))
			}
		})
	}
}

// A spool disk that another program filled: a write that met it waits
// (as on a full buffer) and goes on once the disk has room again, even
// when nothing of the mount's own can be published to free it. Before,
// the mark "disk full" was cleared only by a publication or by freeing
// published bytes, so the write waited for good (found by the model test).
func TestWriteWaitsForDiskFilledByOthers(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	disk := tmpfsDisk(t, "2m")
	m := mount(t, srv, b, "--spool-dir", filepath.Join(disk, "spool"))
	f, err := os.OpenFile(filepath.Join(m.Dir, "data.bin"), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	filler := fillDisk(t, disk) // another program fills the disk

	data := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	done := make(chan error, 1)
	go func() {
		_, err := f.Write(data)
		done <- err
	}()
	// The write meets the full disk (the daemon says so) and waits.
	if !waitUntil(time.Minute, func() bool { return bytes.Contains([]byte(m.Stderr()), []byte("spool disk is full")) }) {
		os.Remove(filler)
		t.Fatal("the write never met the full spool disk")
	}
	select {
	case err := <-done:
		os.Remove(filler)
		t.Fatalf("the write on a full spool disk returned (%v); it must wait for room", err)
	default:
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the write once the disk had room: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the write still waits a minute after the disk has room again")
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := srv.Get(t, b, "data.bin"); !bytes.Equal(got, data) {
		t.Fatalf("S3 holds %d bytes, want the %d written", len(got), len(data))
	}
}

// tmpfsDisk mounts a tmpfs of size (mount's -o size=) for a spool (and
// cache) to fill; unmounted at t.Cleanup.
func tmpfsDisk(t *testing.T, size string) string {
	t.Helper()
	return testenv.SmallDisk(t, size)
}

// fillDisk fills the file system of disk to its last page with a file,
// as another program would, and returns its path (removing it makes
// room again).
func fillDisk(t *testing.T, disk string) string {
	t.Helper()
	filler := filepath.Join(disk, "filler")
	testenv.FillDisk(t, filler)
	return filler
}
