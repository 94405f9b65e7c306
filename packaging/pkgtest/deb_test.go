//go:build debinstall

package pkgtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// TestDebPackage: dpkg -i the package, mount a bucket by an /etc/fstab line
// of type s3mount (mount(8) -> the installed mount.s3mount -> the installed
// /usr/bin/s3mount), write and read, umount (everything published), then
// dpkg -r leaves nothing but the conffiles and dpkg -P removes those too.
// /etc/fstab is restored byte for byte.
func TestDebPackage(t *testing.T) {
	deb := builtDeb(t)
	if exec.Command("dpkg", "-s", "s3mount").Run() == nil {
		t.Fatal("s3mount is installed on this machine; this test installs and removes it: remove it first")
	}
	srv := testenv.StartServer(t)
	bucket := srv.NewBucket(t)
	srv.Put(t, bucket, "seed.txt", []byte("from s3\n"))
	restoreFstab(t)

	run(t, "dpkg", "-i", deb)
	t.Cleanup(func() { exec.Command("dpkg", "-P", "s3mount").Run() })
	files := strings.Fields(run(t, "dpkg", "-L", "s3mount"))
	conffiles := conffilesOf(t)
	if out := run(t, "/usr/bin/s3mount", "--version"); !strings.HasPrefix(out, "s3mount ") || !strings.Contains(out, "\ncommit: ") {
		t.Fatalf("installed s3mount --version: %q", out)
	}

	dir, spool := t.TempDir(), t.TempDir()
	line := fmt.Sprintf("%s %s s3mount _netdev,nofail,endpoint-url=%s,force-path-style,region=%s,spool-dir=%s,upload-interval=1s 0 0\n",
		bucket, dir, srv.Endpoint, srv.Region, spool)
	appendFile(t, "/etc/fstab", "# s3mount package test (TestDebPackage), removed when it ends\n"+line)
	mount := exec.Command("mount", dir)
	// Credentials from the environment; PATH without a test build of s3mount.
	mount.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, srv.Env()...)
	out, err := mount.CombinedOutput()
	pid := daemonPid(dir)
	t.Cleanup(func() {
		if mounted(t, dir) {
			exec.Command("umount", "-l", dir).Run()
		}
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if err != nil {
		t.Fatalf("mount %s: %v\n%s", dir, err, out)
	}
	if !mounted(t, dir) || pid <= 0 {
		t.Fatalf("mount returned but %s is not served (pid %d)", dir, pid)
	}
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe != "/usr/bin/s3mount" {
		t.Fatalf("the daemon runs %q, want the installed /usr/bin/s3mount", exe)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "seed.txt")); err != nil || string(got) != "from s3\n" {
		t.Fatalf("read seed.txt: %q, %v", got, err)
	}
	appendFile(t, filepath.Join(dir, "app.log"), "written through the package\n")
	if got, err := os.ReadFile(filepath.Join(dir, "app.log")); err != nil || string(got) != "written through the package\n" {
		t.Fatalf("read back app.log: %q, %v", got, err)
	}
	run(t, "umount", dir)
	if !waitFor(60*time.Second, func() bool { return !alive(pid) }) {
		t.Fatalf("s3mount %d still running 60 s after umount", pid)
	}
	if got := srv.Get(t, bucket, "app.log"); string(got) != "written through the package\n" {
		t.Fatalf("after umount S3 has %q", got)
	}

	run(t, "dpkg", "-r", "s3mount")
	for _, f := range files {
		_, err := os.Lstat(f)
		st, serr := os.Stat(f) // directories (and /sbin -> usr/sbin) are shared
		switch {
		case conffiles[f] && err != nil:
			t.Errorf("dpkg -r removed the conffile %s", f)
		case !conffiles[f] && err == nil && !(serr == nil && st.IsDir()):
			t.Errorf("dpkg -r left %s", f)
		}
	}
	if len(conffiles) == 0 {
		t.Error("the package has no conffiles")
	}
	run(t, "dpkg", "-P", "s3mount")
	for f := range conffiles {
		if _, err := os.Lstat(f); err == nil {
			t.Errorf("dpkg -P left %s", f)
		}
	}
}

// builtDeb is the one .deb for this architecture in bin/packages.
func builtDeb(t *testing.T) string {
	debs, _ := filepath.Glob(filepath.Join("..", "..", "bin", "packages", "s3mount_*_"+runtime.GOARCH+".deb"))
	if len(debs) != 1 {
		t.Fatalf("want one bin/packages/s3mount_*_%s.deb (make package), found %q", runtime.GOARCH, debs)
	}
	abs, err := filepath.Abs(debs[0])
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// restoreFstab puts /etc/fstab back exactly as it was when the test ends.
func restoreFstab(t *testing.T) {
	orig, err := os.ReadFile("/etc/fstab")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat("/etc/fstab")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile("/etc/fstab", orig, st.Mode().Perm()); err != nil {
			t.Errorf("restore /etc/fstab: %v", err)
		}
		if now, err := os.ReadFile("/etc/fstab"); err != nil || !bytes.Equal(now, orig) {
			t.Errorf("/etc/fstab is not as it was: %v", err)
		}
	})
}

func conffilesOf(t *testing.T) map[string]bool {
	out := run(t, "dpkg-query", "-W", "-f", "${Conffiles}\n", "s3mount")
	m := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 2 {
			m[f[0]] = true
		}
	}
	return m
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// daemonPid is the s3mount process whose command line names dir.
func daemonPid(dir string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if filepath.Base(args[0]) != "s3mount" {
			continue
		}
		for _, a := range args[1:] {
			if a == dir {
				var pid int
				fmt.Sscan(e.Name(), &pid)
				return pid
			}
		}
	}
	return 0
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b) // the state follows the parenthesised command name
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// mounted reads the mount table (a stat of a hung FUSE mount would block).
func mounted(t *testing.T, dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
