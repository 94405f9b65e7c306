package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// mount(8) looks for helpers in /sbin only: the test installs
// packaging/mount.s3mount there (unless the same file already is) and
// removes it afterwards.
const helperPath = "/sbin/mount.s3mount"

func installHelper(t *testing.T) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "packaging", "mount.s3mount"))
	if err != nil {
		t.Fatal(err)
	}
	if cur, err := os.ReadFile(helperPath); err == nil {
		if !bytes.Equal(cur, src) {
			t.Fatalf("%s exists and is not packaging/mount.s3mount; refusing to replace it", helperPath)
		}
		return // installed (a concurrent run, or a real install): leave it
	}
	if err := os.WriteFile(helperPath, src, 0o755); err != nil {
		t.Fatalf("install %s: %v", helperPath, err)
	}
	t.Cleanup(func() { os.Remove(helperPath) })
}

// An fstab entry of type s3mount: `mount DIR` goes through mount(8) and the
// helper to the daemon, returns once the mount is live, the bucket is
// readable and writable, and `umount DIR` makes the daemon publish and exit.
func TestFstabMountAndUmount(t *testing.T) {
	srv, bucket := setup(t)
	srv.Put(t, bucket, "seed.txt", []byte("from s3\n"))
	installHelper(t)
	dir, spool := t.TempDir(), t.TempDir()
	fstab := filepath.Join(t.TempDir(), "fstab")
	line := fmt.Sprintf("%s %s s3mount _netdev,nofail,rw,endpoint-url=%s,force-path-style,region=%s,spool-dir=%s,upload-interval=1s 0 0\n",
		bucket, dir, srv.Endpoint, srv.Region, spool)
	if err := os.WriteFile(fstab, []byte("# test fstab\n"+line), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("mount", "-T", fstab, dir)
	cmd.Env = append(os.Environ(), srv.Env()...)
	cmd.Env = append(cmd.Env, "S3MOUNT_BIN="+testenv.Binary(t))
	out, err := cmd.CombinedOutput()
	pid := daemonPid(dir)
	t.Cleanup(func() {
		if isMounted(t, dir) {
			exec.Command("umount", "-l", dir).Run()
		}
		if pid > 0 && alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if err != nil {
		t.Fatalf("mount -T %s %s: %v\n%s", fstab, dir, err, out)
	}
	// Daemon mode: mount returned, so the mount is live now.
	if !isMounted(t, dir) {
		t.Fatalf("mount returned but %s is not mounted", dir)
	}
	if pid <= 0 {
		t.Fatalf("no s3mount daemon serving %s", dir)
	}
	got, err := os.ReadFile(filepath.Join(dir, "seed.txt"))
	if err != nil || string(got) != "from s3\n" {
		t.Fatalf("read through the fstab mount: %q, %v", got, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "app.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("logged before umount\n"))
	f.Close()

	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		t.Fatalf("umount %s: %v\n%s", dir, err, out)
	}
	if !waitUntil(60*time.Second, func() bool { return !alive(pid) }) {
		t.Fatalf("s3mount daemon %d still running 60 s after umount", pid)
	}
	if got := srv.Get(t, bucket, "app.log"); string(got) != "logged before umount\n" {
		t.Fatalf("after umount S3 has %q", got)
	}
}

// The helper turns mount(8)'s calling convention into s3mount's: -o
// options passed on, mount's -s/-n/-v dropped, -f (fake) mounts nothing.
func TestMountHelperArguments(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "s3mount")
	// A stand-in binary that prints the arguments it got.
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nfor a; do echo \"[$a]\"; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	helper, err := filepath.Abs(filepath.Join("..", "packaging", "mount.s3mount"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(helper, args...)
		cmd.Env = append(os.Environ(), "S3MOUNT_BIN="+fake)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"b", "/mnt", "-o", "rw,prefix=a/,_netdev"}, "[b]\n[/mnt]\n[-o]\n[rw,prefix=a/,_netdev]\n"},
		{[]string{"s3://b/p/", "/mnt", "-s", "-n", "-v", "-o", `uid=1,x=a\,b`, "-t", "s3mount"}, "[s3://b/p/]\n[/mnt]\n[-o]\n[uid=1,x=a\\,b]\n"},
		{[]string{"b", "/mnt with space"}, "[b]\n[/mnt with space]\n"},
		{[]string{"b", "/mnt", "-f", "-o", "rw"}, ""},
	}
	for _, c := range cases {
		got, err := run(c.args...)
		if err != nil || got != c.want {
			t.Errorf("mount.s3mount %q: %q, %v; want %q", c.args, got, err, c.want)
		}
	}
	if out, err := run("b", "/mnt", "-N", "123"); err == nil {
		t.Errorf("-N accepted: %q", out)
	} else if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 32 {
		t.Errorf("-N: %v, want exit status 32", err)
	}
}

// daemonPid finds the s3mount process whose arguments name dir.
func daemonPid(dir string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) > 2 && filepath.Base(args[0]) == "s3mount" && contains(args, dir) {
			return pid
		}
	}
	return 0
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// State is the field after the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
