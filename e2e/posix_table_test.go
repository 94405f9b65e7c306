package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// POSIX semantics per syscall family, as root and as another user: every
// case runs on a local ext4 directory (the reference: what Linux file
// systems give) and on the mount (--allow-other: the kernel checks
// permissions against what stat shows; --allow-delete and
// --allow-overwrite: nothing refused by policy). The errno of every step,
// the attributes of every name the case touches and which times a step
// changed must be the same. Where s3mount knowingly differs from ext4
// (docs/DIFFERENCES.md) the case says so in want.

type posixCase struct {
	family, name string
	setup        []probeStep // as root, in the case's directory
	as           int         // who runs steps: 0 (root) or nobodyID
	steps        []probeStep // compared step by step
	check        []probeStep // as root after the steps, compared
	// mountWant, when set, is the mount's expected line i (steps, then
	// checks) where s3mount documents a difference from ext4
	// (docs/DIFFERENCES.md).
	mountWant map[int]string
}

func st(op, path string) probeStep { return probeStep{Op: op, Path: path} }
func mkfile(path string, mode uint32) probeStep {
	return probeStep{Op: "open", Path: path, Flags: unix.O_CREAT | unix.O_WRONLY | unix.O_EXCL, Mode: mode}
}
func chmod(path string, mode uint32) probeStep { return probeStep{Op: "chmod", Path: path, Mode: mode} }
func chown(path string, uid, gid int) probeStep {
	return probeStep{Op: "chown", Path: path, UID: uid, GID: gid}
}
func openf(path string, flags int, mode uint32) probeStep {
	return probeStep{Op: "open", Path: path, Flags: flags, Mode: mode}
}
func mkdirp(path string, mode uint32) probeStep {
	return probeStep{Op: "mkdir", Path: path, Mode: mode}
}
func renamep(a, b string) probeStep { return probeStep{Op: "rename", Path: a, To: b} }
func truncp(path string, size int64) probeStep {
	return probeStep{Op: "truncate", Path: path, Size: size}
}

func posixCases() []posixCase {
	const nb = nobodyID
	// d: a directory nobody may write in; w: one everyone may; t: sticky.
	dirs := []probeStep{mkdirp("d", 0o755), mkdirp("w", 0o777), chmod("w", 0o777), mkdirp("t", 0o777), chmod("t", 0o1777)}
	with := func(s ...probeStep) []probeStep { return append(append([]probeStep(nil), dirs...), s...) }
	var cs []posixCase
	add := func(c posixCase) { cs = append(cs, c) }

	// open
	for _, who := range []int{0, nb} {
		u := map[int]string{0: "root", nb: "user"}[who]
		add(posixCase{family: "open", name: u + " opens files by mode", as: who,
			setup: with(mkfile("d/ro", 0o644), mkfile("d/priv", 0o600), mkfile("d/all", 0o666)),
			steps: []probeStep{openf("d/ro", unix.O_RDONLY, 0), openf("d/ro", unix.O_WRONLY, 0), openf("d/priv", unix.O_RDONLY, 0),
				openf("d/all", unix.O_RDWR, 0), openf("d/missing", unix.O_RDONLY, 0), openf("d", unix.O_WRONLY, 0),
				openf("d/ro/x", unix.O_RDONLY, 0)}})
		add(posixCase{family: "create", name: u + " creates in its own, a shared and a closed directory", as: who,
			setup: with(),
			steps: []probeStep{mkfile("w/new", 0o640), mkfile("w/new", 0o640), mkfile("d/new", 0o644),
				openf("w/trunc", unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o600), mkfile("w/"+strings.Repeat("n", 256), 0o644)},
			check: []probeStep{st("stat", "w/new"), st("stat", "w/trunc")}})
		add(posixCase{family: "mkdir", name: u + " makes and removes directories", as: who,
			setup: with(mkfile("w/file", 0o644), mkdirp("w/full", 0o755), mkfile("w/full/x", 0o644)),
			steps: []probeStep{mkdirp("w/sub", 0o750), mkdirp("w/sub", 0o750), mkdirp("d/sub", 0o755), mkdirp("w/file/sub", 0o755),
				st("rmdir", "w/full"), st("rmdir", "w/file"), st("rmdir", "w/sub"), st("rmdir", "w/sub")},
			check: []probeStep{st("stat", "w/full")}})
		add(posixCase{family: "unlink", name: u + " unlinks in shared, closed and sticky directories", as: who,
			setup: with(mkfile("w/a", 0o644), mkfile("d/b", 0o666), mkfile("t/c", 0o666), mkdirp("w/dir", 0o777)),
			steps: []probeStep{st("unlink", "w/a"), st("unlink", "d/b"), st("unlink", "t/c"), st("unlink", "w/dir"), st("unlink", "w/missing")},
			check: []probeStep{st("stat", "w/a"), st("stat", "d/b"), st("stat", "t/c")}})
		add(posixCase{family: "rename", name: u + " renames in shared, closed and sticky directories", as: who,
			setup: with(mkfile("w/a", 0o644), mkfile("w/b", 0o644), mkfile("d/c", 0o666), mkfile("t/e", 0o666), mkdirp("w/dir", 0o777), st("mark", "w/a")),
			steps: []probeStep{renamep("w/a", "w/a2"), renamep("d/c", "d/c2"), renamep("t/e", "t/e2"), renamep("w/b", "w/dir"),
				renamep("w/dir", "w/a2"), {Op: "rename-noreplace", Path: "w/a2", To: "w/b"}},
			check: []probeStep{st("stat", "w/a2"), st("stat", "d/c"), st("stat", "t/e"), st("stat", "w/b")}})
		add(posixCase{family: "chmod", name: u + " changes modes of its own and root's files", as: who,
			setup: with(mkfile("w/root", 0o644), st("mark", "w/root")),
			steps: []probeStep{mkfile("w/own", 0o644), chmod("w/own", 0o600), chmod("w/root", 0o600), chmod("w/own", 0o4755), chmod("w/own", 0o2755)},
			check: []probeStep{st("stat", "w/own"), st("stat", "w/root")}})
		add(posixCase{family: "chown", name: u + " gives files away", as: who,
			setup: with(mkfile("w/f", 0o644), chmod("w/f", 0o6755), st("mark", "w/f")),
			steps: []probeStep{chown("w/f", nb, nb), chown("w/f", 0, 0)},
			check: []probeStep{st("stat", "w/f"), st("changed", "w/f")}})
		add(posixCase{family: "truncate", name: u + " truncates by mode", as: who,
			setup: with(mkfile("w/ro", 0o644), st("write", "w/ro"), mkfile("w/all", 0o666), st("write", "w/all"), st("mark", "w/all")),
			steps: []probeStep{truncp("w/ro", 0), truncp("w/all", 2), truncp("w/missing", 0)},
			check: []probeStep{st("stat", "w/ro"), st("stat", "w/all"), st("changed", "w/all")}})
		add(posixCase{family: "utimensat", name: u + " sets times by ownership and mode", as: who,
			setup: with(mkfile("w/all", 0o666), mkfile("w/ro", 0o644)),
			steps: []probeStep{st("utimes-now", "w/all"), st("utimes", "w/all"), st("utimes-now", "w/ro"), st("utimes", "w/ro")}})
		add(posixCase{family: "symlink", name: u + " makes, reads and follows links", as: who,
			setup: with(mkfile("w/target", 0o644), probeStep{Op: "symlink", Path: "w/loop1", To: "loop2"}, probeStep{Op: "symlink", Path: "w/loop2", To: "loop1"}),
			steps: []probeStep{{Op: "symlink", Path: "w/rel", To: "target"}, {Op: "symlink", Path: "w/abs", To: "/nonexistent/x"},
				{Op: "symlink", Path: "w/rel", To: "other"}, {Op: "symlink", Path: "d/no", To: "target"},
				st("readlink", "w/rel"), st("readlink", "w/target"), st("lstat", "w/rel"), st("stat", "w/rel"), st("stat", "w/abs"),
				openf("w/loop1", unix.O_RDONLY, 0), openf("w/rel", unix.O_RDONLY|unix.O_NOFOLLOW, 0),
				renamep("w/rel", "w/rel2"), st("unlink", "w/abs")},
			check: []probeStep{st("lstat", "w/rel2"), st("lstat", "w/abs")}})
		add(posixCase{family: "create", name: u + " creates in a setgid directory", as: who,
			setup: with(mkdirp("g", 0o777), chown("g", 0, 4), chmod("g", 0o2777)),
			steps: []probeStep{mkfile("g/f", 0o644), mkdirp("g/sub", 0o755)},
			check: []probeStep{st("stat", "g/f"), st("stat", "g/sub")}})
		add(posixCase{family: "write", name: u + " writes a setuid file", as: who,
			setup: with(mkfile("w/f", 0o666), chmod("w/f", 0o6777), st("mark", "w/f")),
			steps: []probeStep{{Op: "write", Path: "w/f"}},
			check: []probeStep{st("stat", "w/f"), st("changed", "w/f")}})
	}
	// Hard links: S3 has no way to give one object two keys.
	add(posixCase{family: "link", name: "hard links are refused (documented)",
		setup:     with(mkfile("w/a", 0o644)),
		steps:     []probeStep{{Op: "link", Path: "w/a", To: "w/b"}},
		check:     []probeStep{st("stat", "w/b")},
		mountWant: map[int]string{0: "link w/a -> w/b: EPERM ", 1: "check stat w/b: ENOENT "}})
	// Times as root (the user cases check errno and modes).
	add(posixCase{family: "times", name: "chmod, chown, write, truncate and rename change ctime (and mtime where they should)",
		setup: with(mkfile("w/a", 0o644), mkfile("w/b", 0o644), mkfile("w/c", 0o644), mkfile("w/e", 0o644), mkfile("w/r", 0o644),
			st("mark", "w/a"), st("mark", "w/b"), st("mark", "w/c"), st("mark", "w/e"), st("mark", "w/r"), st("mark", "w")),
		steps: []probeStep{chmod("w/a", 0o600), chown("w/b", nb, nb), {Op: "write", Path: "w/c"}, truncp("w/e", 0), renamep("w/r", "w/r2")},
		check: []probeStep{st("changed", "w/a"), st("changed", "w/b"), st("changed", "w/c"), st("changed", "w/e"),
			{Op: "changed", Path: "w/r2", To: "w/r"}, st("changed", "w")}})
	return cs
}

// posixDir makes a directory other users can reach (t.TempDir's parents
// are private).
func posixDir(t *testing.T, parent string) string {
	t.Helper()
	dir, err := os.MkdirTemp(parent, "posix")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// runCase runs c in dir and returns one line per compared step.
func runCase(t *testing.T, c posixCase, dir string) []string {
	t.Helper()
	marks := map[string][2]unix.Timespec{}
	for i, r := range probeAs(t, 0, dir, c.setup, marks) {
		if r.Errno != "ok" {
			t.Fatalf("%s: setup step %d (%v) failed in %s: %s", c.name, i, c.setup[i], dir, r.Errno)
		}
	}
	if len(marks) > 0 {
		// The kernel stamps times from a coarse clock: let it tick, so
		// that a change shows as a different time.
		time.Sleep(20 * time.Millisecond)
	}
	var out []string
	for i, r := range probeAs(t, c.as, dir, c.steps, marks) {
		out = append(out, fmt.Sprintf("%v: %s %s", c.steps[i], r.Errno, r.Stat))
	}
	for i, r := range probeAs(t, 0, dir, c.check, marks) {
		out = append(out, fmt.Sprintf("check %v: %s %s", c.check[i], r.Errno, r.Stat))
	}
	return out
}

func TestPosixSemanticsTable(t *testing.T) {
	srv, bucket := setup(t)
	tmp := posixDir(t, "")
	copyProbeBinary(t, tmp)
	t.Run("allow-other", func(t *testing.T) {
		m := mount(t, srv, bucket, "--allow-other", "--allow-delete", "--allow-overwrite", "--prefix", "other/")
		requireSearchable(t, m.Dir)
		runPosixTable(t, posixCases(), filepath.Join(tmp, "other"), m.Dir)
	})
	// Without --allow-other only the mounting user (root) gets in.
	t.Run("root only", func(t *testing.T) {
		m := mount(t, srv, bucket, "--allow-delete", "--allow-overwrite", "--prefix", "root/")
		var cs []posixCase
		for _, c := range posixCases() {
			if c.as == 0 {
				cs = append(cs, c)
			}
		}
		runPosixTable(t, cs, filepath.Join(tmp, "root"), m.Dir)
	})
}

// runPosixTable runs cs under ref (ext4) and mnt, and reports every step
// whose result differs.
func runPosixTable(t *testing.T, cs []posixCase, tmp, mntDir string) {
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(mntDir, 0o755); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for i, c := range cs {
		name := fmt.Sprintf("%s/%s", c.family, c.name)
		ref := filepath.Join(tmp, fmt.Sprint(i))
		mnt := filepath.Join(mntDir, fmt.Sprint(i))
		for _, d := range []string{ref, mnt} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		want, got := runCase(t, c, ref), runCase(t, c, mnt)
		for j := range want {
			w := want[j]
			if mw, ok := c.mountWant[j]; ok {
				w = mw
			}
			if j >= len(got) || got[j] != w {
				g := "(missing)"
				if j < len(got) {
					g = got[j]
				}
				t.Errorf("%s:\n  ext4:  %s\n  mount: %s", name, w, g)
				failed++
			}
		}
	}
	if failed > 0 {
		t.Logf("%d steps differ from ext4", failed)
	}
}
