package e2e

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// An object replaced by another host and opened again inside the metadata
// TTL: the new open has read nothing yet, so it reads the new object
// rather than failing with ESTALE.
func TestFreshOpenAfterRemoteReplace(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	v1 := bytes.Repeat([]byte("old object\n"), 1000)
	v2 := bytes.Repeat([]byte("new object!\n"), 1000)
	srv.Put(t, b, "obj", v1)
	m := testenv.MountBinary(t, srv.Endpoint, srv, b, "--metadata-ttl", "60")
	p := filepath.Join(m.Dir, "obj")
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, v1) {
		t.Fatalf("first read: %v", err)
	}
	srv.Put(t, b, "obj", v2)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("a fresh open of a replaced object: %v", err)
	}
	// The kernel still believes the old size (metadata TTL 60 s): what it
	// reads must be a prefix of the new object, never old bytes.
	if !bytes.HasPrefix(v2, got) || len(got) == 0 {
		t.Fatalf("fresh open read %d bytes that are not the new object's", len(got))
	}
}

// A key keeps its inode number for the mount's life, even after the kernel
// forgot the inode; a new file under a rotated name gets a new number.
func TestStableInodeNumbers(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	srv.Put(t, b, "a.log", []byte("a\n"))
	m := testenv.MountBinary(t, srv.Endpoint, srv, b, "--allow-delete")
	p := filepath.Join(m.Dir, "a.log")
	ino := func(p string) uint64 {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	first := ino(p)
	// Make the kernel forget dentries and inodes, then look again.
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("2"), 0); err != nil {
		t.Fatalf("drop_caches: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if again := ino(p); again != first {
		t.Fatalf("inode number changed from %d to %d after the kernel forgot it", first, again)
	}
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	if moved := ino(p + ".1"); moved != first {
		t.Fatalf("rename changed the inode number from %d to %d", first, moved)
	}
	if err := os.WriteFile(p, []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fresh := ino(p); fresh == first {
		t.Fatal("a new file under the rotated name kept the old inode number")
	}
}

// fallocate where it is cheap: keep-size succeeds without changing the
// file, plain allocation extends it with zeros, punching holes is refused.
func TestFallocate(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m := testenv.MountBinary(t, srv.Endpoint, srv, b)
	p := filepath.Join(m.Dir, "pre.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("head"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Fallocate(int(f.Fd()), 1 /* KEEP_SIZE */, 0, 1<<20); err != nil {
		t.Fatalf("fallocate keep-size: %v", err)
	}
	if st, _ := f.Stat(); st.Size() != 4 {
		t.Fatalf("keep-size changed the size to %d", st.Size())
	}
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, 1<<16); err != nil {
		t.Fatalf("fallocate: %v", err)
	}
	if st, _ := f.Stat(); st.Size() != 1<<16 {
		t.Fatalf("fallocate left the size at %d, want 65536", st.Size())
	}
	if err := syscall.Fallocate(int(f.Fd()), 0x02|0x01 /* PUNCH_HOLE|KEEP_SIZE */, 0, 4); err != syscall.EOPNOTSUPP {
		t.Fatalf("punch hole: %v, want EOPNOTSUPP", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got := srv.Get(t, b, "pre.bin")
	if len(got) != 1<<16 || string(got[:4]) != "head" || got[len(got)-1] != 0 {
		t.Fatalf("object is %d bytes starting %q", len(got), got[:min(4, len(got))])
	}
}
