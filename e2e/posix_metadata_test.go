package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/testenv"
)

// headAttrs is what S3 holds as key's POSIX attributes (nil: none).
func headAttrs(t *testing.T, st s3store.Store, key string) *s3store.Attrs {
	t.Helper()
	h, err := st.Head(context.Background(), key)
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	return h.Attrs
}

func statOf(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

// logrotate's `create 0640 www-data adm`, chmod, chown and touch -d are
// stored with the objects (s3fs's x-amz-meta-mode/uid/gid/mtime) and come
// back after a remount: the private log stays private, also to a user who
// lists the directory first.
func TestPosixMetadataSurvivesRemount(t *testing.T) {
	srv, b := setup(t)
	st := srv.Store(t, b)
	m := mount(t, srv, b)
	at := func(n string) string { return filepath.Join(m.Dir, n) }

	// logrotate: create the new log with its mode and owner, then nginx
	// appends to it.
	fd, err := syscall.Open(at("access.log"), syscall.O_CREAT|syscall.O_WRONLY|syscall.O_APPEND, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Fchown(fd, 33, 4); err != nil {
		t.Fatal(err)
	}
	syscall.Write(fd, []byte("GET / 200\n"))
	syscall.Close(fd)

	// Control: a world-readable file another user can read.
	if err := os.WriteFile(at("public.txt"), []byte("public\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A published file whose attributes alone change.
	if err := os.WriteFile(at("data.txt"), []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(at("data.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	mtime := time.Unix(1600000000, 0)
	if err := os.Chtimes(at("data.txt"), mtime, mtime); err != nil {
		t.Fatal(err)
	}

	want := map[string]s3store.Attrs{
		"access.log": {Mode: 0o100640, UID: 33, GID: 4},
		"data.txt":   {Mode: 0o100600, UID: 0, GID: 0, Mtime: mtime},
	}
	if !waitUntil(time.Minute, func() bool {
		for k, w := range want {
			if !srv.Exists(t, b, k) {
				return false
			}
			a := headAttrs(t, st, k)
			if a == nil || a.Mode != w.Mode || a.UID != w.UID || a.GID != w.GID || !w.Mtime.IsZero() && !a.Mtime.Equal(w.Mtime) {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("S3 does not hold the attributes: access.log %+v, data.txt %+v", headAttrs(t, st, "access.log"), headAttrs(t, st, "data.txt"))
	}
	if got := srv.Get(t, b, "data.txt"); string(got) != "data\n" {
		t.Fatalf("data.txt holds %q after its attributes changed", got)
	}
	m.Unmount(t)

	m2 := mount(t, srv, b, "--allow-other")
	// List first: the listing must not hand the kernel default modes.
	if out, err := exec.Command("ls", "-l", m2.Dir).CombinedOutput(); err != nil {
		t.Fatalf("ls -l: %v\n%s", err, out)
	}
	for k, w := range want {
		s := statOf(t, filepath.Join(m2.Dir, k))
		if s.Mode != w.Mode || s.Uid != w.UID || s.Gid != w.GID {
			t.Errorf("%s after the remount: mode %o uid %d gid %d, want %o %d %d", k, s.Mode, s.Uid, s.Gid, w.Mode, w.UID, w.GID)
		}
		if !w.Mtime.IsZero() && s.Mtim.Sec != w.Mtime.Unix() {
			t.Errorf("%s after the remount: mtime %d, want %d", k, s.Mtim.Sec, w.Mtime.Unix())
		}
	}
	asNobody := func(name string) ([]byte, error) {
		cat := exec.Command("cat", filepath.Join(m2.Dir, name))
		cat.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		return cat.CombinedOutput()
	}
	if out, err := asNobody("public.txt"); err != nil || string(out) != "public\n" {
		t.Fatalf("another user cannot read a 0644 file (the test proves nothing): %v\n%s", err, out)
	}
	if out, err := asNobody("access.log"); err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Fatalf("another user reads the 0640 log after a remount: %v\n%s", err, out)
	}
}

// Objects written by s3fs (or anything writing its headers) show their
// modes, owners and mtimes; objects without them show the mount's defaults.
func TestPosixMetadataFromOtherTools(t *testing.T) {
	srv, b := setup(t)
	st := srv.Store(t, b)
	mt := time.Unix(1500000000, 0)
	if _, err := st.Put(context.Background(), "s3fs.txt", bytes.NewReader([]byte("x\n")), 2,
		s3store.Cond{Attrs: &s3store.Attrs{Mode: 0o100604, UID: 1000, GID: 100, Mtime: mt}}); err != nil {
		t.Fatal(err)
	}
	srv.Put(t, b, "plain.txt", []byte("y\n"))
	m := mount(t, srv, b, "--file-mode", "0444", "--uid", "7", "--gid", "8")
	// Listed, then appended to at once (the kernel may open it without a
	// lookup): the publication keeps the attributes the object had.
	if _, err := os.ReadDir(m.Dir); err != nil {
		t.Fatal(err)
	}
	af, err := os.OpenFile(filepath.Join(m.Dir, "s3fs.txt"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	af.WriteString("first\n")
	if err := af.Sync(); err != nil {
		t.Fatal(err)
	}
	af.Close()
	if a := headAttrs(t, st, "s3fs.txt"); a == nil || a.Mode != 0o100604 || a.UID != 1000 || a.GID != 100 {
		t.Fatalf("after an append to a listed file S3 holds attrs %+v", a)
	}
	s := statOf(t, filepath.Join(m.Dir, "s3fs.txt"))
	// (mtime: the append's time now.)
	if s.Mode != 0o100604 || s.Uid != 1000 || s.Gid != 100 || s.Mtim.Sec <= mt.Unix() {
		t.Fatalf("s3fs.txt: mode %o uid %d gid %d mtime %d", s.Mode, s.Uid, s.Gid, s.Mtim.Sec)
	}
	s = statOf(t, filepath.Join(m.Dir, "plain.txt"))
	if s.Mode != 0o100444 || s.Uid != 7 || s.Gid != 8 {
		t.Fatalf("plain.txt: mode %o uid %d gid %d, want the mount's defaults", s.Mode, s.Uid, s.Gid)
	}
	// Appending keeps the attributes the object had.
	f, err := os.OpenFile(filepath.Join(m.Dir, "s3fs.txt"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("more\n")
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if a := headAttrs(t, st, "s3fs.txt"); a == nil || a.Mode != 0o100604 || a.UID != 1000 || a.GID != 100 {
		t.Fatalf("after an append S3 holds attrs %+v", a)
	}
}

// --no-posix-metadata: chmod lasts for the mount's life and nothing is
// written to S3 for it.
func TestNoPosixMetadata(t *testing.T) {
	srv, b := setup(t)
	st := srv.Store(t, b)
	m := testenv.MountBinary(t, srv.Endpoint, srv, b, "--no-posix-metadata")
	p := filepath.Join(m.Dir, "f.txt")
	if err := os.WriteFile(p, []byte("f\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if s := statOf(t, p); s.Mode != 0o100600 {
		t.Fatalf("mode %o after chmod", s.Mode)
	}
	m.Unmount(t)
	if a := headAttrs(t, st, "f.txt"); a != nil {
		t.Fatalf("--no-posix-metadata wrote attributes %+v", a)
	}
}

// ls of a directory while the mount stores chmods and mtimes (each a copy
// of the object onto itself) shows every file. MinIO's listing leaves an
// object out while such a copy runs; before, readdir did too, and tar c
// of the mount skipped a symlink tar x had just made (TestSymlinkTreeTools
// failed in CI).
func TestListingWhileAttributesAreStored(t *testing.T) {
	srv, b := setup(t)
	m := mount(t, srv, b, "--close-delay", "100ms")
	const files, rounds = 20, 6
	name := func(i int) string { return fmt.Sprintf("f%02d", i) }
	for i := 0; i < files; i++ {
		srv.Put(t, b, "d/"+name(i), []byte("x\n"))
	}
	dir := filepath.Join(m.Dir, "d")
	st := srv.Store(t, b)
	for r := 0; r < rounds; r++ {
		mode, mtime := os.FileMode(0o600+r), time.Unix(int64(1600000000+r), 0)
		for i := 0; i < files; i++ {
			p := filepath.Join(dir, name(i))
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
		// S3 is asked beside the listings, not between two of them:
		// the copies take milliseconds.
		stored := make(chan bool, 1)
		go func() {
			stored <- waitUntil(time.Minute, func() bool {
				for i := 0; i < files; i++ {
					h, err := st.Head(context.Background(), "d/"+name(i))
					if err != nil || h.Attrs == nil || h.Attrs.Mode&0o777 != uint32(mode) || !h.Attrs.Mtime.Equal(mtime) {
						return false
					}
				}
				return true
			})
		}()
		for listing := 1; ; listing++ {
			select {
			case ok := <-stored:
				if !ok {
					t.Fatalf("round %d: the modes and mtimes were not stored within a minute", r)
				}
			default:
				es, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				if len(es) != files {
					var names []string
					for _, e := range es {
						names = append(names, e.Name())
					}
					t.Fatalf("round %d, listing %d while the attributes are stored: %d names %v, want %d", r, listing, len(es), names, files)
				}
				continue
			}
			break
		}
	}
}
