package e2e

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// treeOf describes every name under root as lstat and readlink see it:
// type, permission bits, owner, a regular file's bytes and mtime, a
// directory's mtime, a link's target. Symlinks' own mtimes are left out.
func treeOf(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		desc := fmt.Sprintf("%o %d:%d", st.Mode, st.Uid, st.Gid)
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case syscall.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %q mtime %d", b, st.Mtim.Sec)
		case syscall.S_IFDIR:
			desc += fmt.Sprintf(" mtime %d", st.Mtim.Sec)
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	var diffs []string
	for k, w := range want {
		if got[k] != w {
			diffs = append(diffs, fmt.Sprintf("%s: got %q, want %q", k, got[k], w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: extra %q", k, g))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Fatalf("%s differs from the source:\n%s", what, strings.Join(diffs, "\n"))
	}
}

// sourceTree makes a tree with relative, absolute, dangling and
// directory symlinks, a FIFO, private modes and owners, and set mtimes.
func sourceTree(t *testing.T) string {
	src := t.TempDir()
	bash(t, fmt.Sprintf(`set -e; cd %q
		mkdir -p logs/old private
		echo line1 > logs/app-2026-12-06.log
		echo old > logs/old/app-2026-12-05.log
		ln -s app-2026-12-06.log logs/current.log
		ln -s ../logs/old private/old-logs
		ln -s /var/log/syslog logs/system
		ln -s does-not-exist logs/dangling
		mkfifo -m 0620 logs/control
		echo secret > private/key && chmod 0600 private/key && chown 33:4 private/key
		chmod 0750 private && chown 33:4 private && chmod 0700 logs/old
		touch -h -d @1600000000 logs/*.log logs/old/*.log private/key
		touch -d @1500000000 logs/old private logs .`, src))
	return src
}

// tar x, tar c and rsync -a of a tree with symlinks, a FIFO and private
// directories work on the mount, and a remount shows the same tree
// (links, directory modes, owners and mtimes). find -type l sees the
// links from the listing's types.
func TestSymlinkTreeTools(t *testing.T) {
	srv, b := setup(t)
	src := sourceTree(t)
	want := treeOf(t, src)
	m := mount(t, srv, b, "--allow-delete")
	tarDir, rsyncDir := filepath.Join(m.Dir, "tar"), filepath.Join(m.Dir, "rsync")
	if err := os.Mkdir(tarDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bash(t, fmt.Sprintf(`set -e -o pipefail; tar -C %q -cf - . | tar -C %q -xpf -`, src, tarDir))
	sameTree(t, "tar x on the mount", treeOf(t, tarDir), want)
	bash(t, fmt.Sprintf(`rsync -a %q/ %q/`, src, rsyncDir))
	sameTree(t, "rsync -a to the mount", treeOf(t, rsyncDir), want)

	// S3 holds the links in s3fs's form.
	st := srv.Store(t, b)
	if got := string(srv.Get(t, b, "tar/logs/current.log")); got != "app-2026-12-06.log" {
		t.Errorf("link object body %q", got)
	}
	if a := headAttrs(t, st, "tar/logs/current.log"); a == nil || a.Mode != syscall.S_IFLNK|0o777 {
		t.Errorf("link object mode %+v", a)
	}
	if a := headAttrs(t, st, "tar/private/"); a == nil || a.Mode != syscall.S_IFDIR|0o750 || a.UID != 33 || a.GID != 4 {
		t.Errorf("private/ marker %+v", a)
	}
	// tar's chmod of the FIFO after mknod is stored a close delay later.
	if !waitUntil(time.Minute, func() bool {
		a := headAttrs(t, st, "tar/logs/control")
		return a != nil && a.Mode == syscall.S_IFIFO|0o620
	}) {
		t.Errorf("FIFO object mode %+v", headAttrs(t, st, "tar/logs/control"))
	}

	// tar c of the mount extracts to the same tree elsewhere.
	back := t.TempDir()
	bash(t, fmt.Sprintf(`set -e -o pipefail; tar -C %q -cf - . | tar -C %q -xpf -`, tarDir, back))
	sameTree(t, "tar c of the mount", treeOf(t, back), want)

	m.Unmount(t)
	m = mount(t, srv, b, "--allow-delete")
	for _, d := range []string{"tar", "rsync"} {
		sameTree(t, d+" after a remount", treeOf(t, filepath.Join(m.Dir, d)), want)
	}
	links := bash(t, fmt.Sprintf(`cd %q && find . -type l | sort`, filepath.Join(m.Dir, "tar")))
	if links != "./logs/current.log\n./logs/dangling\n./logs/system\n./private/old-logs\n" {
		t.Errorf("find -type l after a remount:\n%s", links)
	}
}

// ln -s, readlink, lstat, following, rename and unlink of links; hard
// links stay EPERM; a FIFO on the mount is a pipe local to this host.
func TestSymlinkOps(t *testing.T) {
	srv, b := setup(t)
	srv.Put(t, b, "app-1.log", []byte("one\n"))
	srv.Put(t, b, "app-2.log", []byte("two\n"))
	m := mount(t, srv, b, "--allow-delete")
	at := func(n string) string { return filepath.Join(m.Dir, n) }
	check := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}

	if err := os.Symlink("app-1.log", at("current.log")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(at("current.log")); err != nil || got != "app-1.log" {
		t.Fatalf("readlink: %q, %v", got, err)
	}
	if fi, err := os.Lstat(at("current.log")); err != nil || fi.Mode()&os.ModeSymlink == 0 || fi.Size() != int64(len("app-1.log")) {
		t.Fatalf("lstat: %v, %v", fi, err)
	}
	if b, err := os.ReadFile(at("current.log")); err != nil || string(b) != "one\n" {
		t.Fatalf("read through the link: %q, %v", b, err)
	}
	check("ln -s over an existing name", os.Symlink("x", at("app-2.log")), syscall.EEXIST)
	check("hard link", os.Link(at("app-1.log"), at("hard")), syscall.EPERM)

	// Rotation the usual way: a new link renamed over the old one.
	if err := os.Symlink("app-2.log", at("current.log.new")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(at("current.log.new"), at("current.log")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(at("current.log")); err != nil || string(b) != "two\n" {
		t.Fatalf("read through the renamed link: %q, %v", b, err)
	}
	if err := os.Symlink("/etc/hostname", at("abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(at("abs")); err != nil {
		t.Fatal(err)
	}
	check("lstat of an unlinked link", func() error { _, err := os.Lstat(at("abs")); return err }(), syscall.ENOENT)

	// A FIFO: the kernel serves it as a pipe on this host; nothing of it
	// goes through S3.
	if err := unix.Mkfifo(at("fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := unix.Open(at("fifo"), unix.O_WRONLY|unix.O_NONBLOCK, 0)
	check("open of a FIFO for writing with no reader", err, syscall.ENXIO)
	got := make(chan string, 1)
	go func() {
		b, err := os.ReadFile(at("fifo"))
		got <- fmt.Sprint(string(b), err)
	}()
	w, err := os.OpenFile(at("fifo"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("through the pipe\n")
	w.Close()
	select {
	case s := <-got:
		if s != "through the pipe\n<nil>" {
			t.Errorf("read from the FIFO: %q", s)
		}
	case <-time.After(time.Minute):
		t.Fatal("FIFO reader never finished")
	}

	// A device node: stored with its number, never opened (nodev).
	if err := unix.Mknod(at("null"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(at("null"), &st); err != nil || st.Mode != unix.S_IFCHR|0o644 || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		t.Errorf("lstat of the device node: mode %o rdev %d:%d, %v", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), err)
	}
	_, err = unix.Open(at("null"), unix.O_RDONLY, 0)
	check("open of a device node", err, syscall.EACCES)
	// lchown and lutimes of a link are stored like a file's.
	if err := os.Lchown(at("current.log"), 33, 4); err != nil {
		t.Fatal(err)
	}
	mt := time.Unix(1600000000, 0)
	if err := unix.Lutimes(at("current.log"), []unix.Timeval{unix.NsecToTimeval(mt.UnixNano()), unix.NsecToTimeval(mt.UnixNano())}); err != nil {
		t.Fatal(err)
	}

	m.Unmount(t)
	if a := headAttrs(t, srv.Store(t, b), "current.log"); a == nil || a.Mode != syscall.S_IFLNK|0o777 || a.UID != 33 || a.GID != 4 || !a.Mtime.Equal(mt) {
		t.Errorf("link's attributes after lchown and lutimes: %+v", a)
	}
	if a := headAttrs(t, srv.Store(t, b), "null"); a == nil || a.Mode != syscall.S_IFCHR|0o644 || a.Rdev != uint32(unix.Mkdev(1, 3)) {
		t.Errorf("device node's object: %+v", a)
	}
	keys := srv.Keys(t, b, "")
	if strings.Join(keys, " ") != "app-1.log app-2.log current.log fifo null" {
		t.Fatalf("objects: %v", keys)
	}
	if got := string(srv.Get(t, b, "current.log")); got != "app-2.log" {
		t.Errorf("current.log holds %q", got)
	}
	if data := srv.Get(t, b, "fifo"); len(data) != 0 {
		t.Errorf("FIFO object holds %q", data)
	}
	if h, err := srv.Store(t, b).Head(context.Background(), "fifo"); err != nil || h.Attrs == nil || h.Attrs.Mode != syscall.S_IFIFO|0o600 {
		t.Errorf("FIFO object: %+v, %v", h.Attrs, err)
	}
}

// With --no-posix-metadata the type of an object cannot be stored:
// symlinks and FIFOs are EPERM as before, mkdir makes no marker, and a
// listing asks nothing per file.
func TestSymlinkNoPosixMetadata(t *testing.T) {
	srv, b := setup(t)
	srv.Put(t, b, "small", []byte("x"))
	m := mount(t, srv, b, "--no-posix-metadata")
	at := func(n string) string { return filepath.Join(m.Dir, n) }
	if err := os.Symlink("small", at("link")); !errors.Is(err, syscall.EPERM) {
		t.Errorf("symlink: %v, want EPERM", err)
	}
	if err := unix.Mkfifo(at("fifo"), 0o644); !errors.Is(err, syscall.EPERM) {
		t.Errorf("mkfifo: %v, want EPERM", err)
	}
	if err := os.Mkdir(at("d"), 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(m.Dir)
	if err != nil || len(ents) != 2 || !ents[1].Type().IsRegular() {
		t.Fatalf("listing: %v, %v", ents, err)
	}
	m.Unmount(t)
	if keys := srv.Keys(t, b, ""); strings.Join(keys, " ") != "small" {
		t.Fatalf("objects: %v", keys)
	}
}
