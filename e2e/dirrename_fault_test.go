package e2e

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/s3mount/s3mount/internal/testenv"
)

// A directory rename over an empty directory whose writes all lose their
// answers (S3 applies them; the mount hears nothing) fails, and the
// directory it was to replace keeps its mode and owner — in S3 too. The
// copy of the source's marker over the target's landed all the same;
// before, the target then showed the source's mode and owner though the
// rename had failed (found by the reference model, TestModelDirs seed
// 461177419); the rename failed with ECONNRESET. (versitygw's POSIX backend refuses a copy onto another
// directory's marker key, DirectoryObjectContainsData: there the marker is
// put anew, and that put's lost answer lands the same; MinIO applies the
// copy.)
func TestFailedDirRenameKeepsTheTargetsAttributes(t *testing.T) {
	srv, b := setup(t)
	st := srv.Store(t, b)
	// One attempt per request: the SDK's retries of each lost answer
	// (every one lost too) would only add their backoffs.
	p := testenv.NewProxy(t, srv.Endpoint)
	m := testenv.MountBinaryEnv(t, []string{"AWS_MAX_ATTEMPTS=1"}, p.URL, srv, b, "--allow-delete")
	at := func(n string) string { return filepath.Join(m.Dir, n) }
	for _, d := range []struct {
		name     string
		mode     os.FileMode
		uid, gid int
	}{{"w", 0o750, 7, 8}, {"x", 0o700, 9, 10}} {
		if err := os.Mkdir(at(d.name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(at(d.name), d.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(at(d.name), d.uid, d.gid); err != nil {
			t.Fatal(err)
		}
	}
	if a := headAttrs(t, st, "x/"); a == nil || a.Mode != syscall.S_IFDIR|0o700 || a.UID != 9 {
		t.Fatalf("x's marker holds %+v, want mode 040700, owner 9 (the test proves nothing)", a)
	}
	p.SetLostAnswers(1)
	err := syscall.Rename(at("x"), at("w")) // (os.Rename refuses a directory as the new name)
	p.SetLostAnswers(0)
	if err != syscall.EIO {
		// (Not the network's ECONNRESET, which a lost answer's reset
		// carries: rename(2) never returns it.)
		t.Fatalf("rename with every write's answer lost: %v; want EIO", err)
	}
	t.Logf("rename: %v; %d writes lost their answers", err, p.Writes())
	if a := headAttrs(t, st, "w/"); a == nil || a.Mode != syscall.S_IFDIR|0o750 || a.UID != 7 || a.GID != 8 {
		t.Fatalf("after the failed rename w's marker holds %+v; want mode 040750, owner 7:8", a)
	}
	for _, c := range []struct {
		name     string
		mode     uint32
		uid, gid uint32
	}{{"w", 0o750, 7, 8}, {"x", 0o700, 9, 10}} {
		if s := statOf(t, at(c.name)); s.Mode&0o7777 != c.mode || s.Uid != c.uid || s.Gid != c.gid {
			t.Errorf("%s after the failed rename: mode %o owner %d:%d, want %o %d:%d", c.name, s.Mode&0o7777, s.Uid, s.Gid, c.mode, c.uid, c.gid)
		}
	}
	m.Unmount(t)
	m2 := mount(t, srv, b)
	if s := statOf(t, filepath.Join(m2.Dir, "w")); s.Mode&0o7777 != 0o750 || s.Uid != 7 {
		t.Fatalf("w after a remount: mode %o owner %d, want 750, 7", s.Mode&0o7777, s.Uid)
	}
}
