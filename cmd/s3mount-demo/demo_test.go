package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// TestDemo is `make demo` as a user runs it: the sample bucket appears at
// the directory, a log append lands, and Ctrl-C (SIGINT) publishes,
// unmounts and stops the S3 server.
func TestDemo(t *testing.T) {
	demoBin := filepath.Join(t.TempDir(), "s3mount-demo")
	if out, err := exec.Command("go", "build", "-o", demoBin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	cmd := exec.Command(demoBin, dir)
	cmd.Env = append(os.Environ(), "S3MOUNT_BIN="+testenv.Binary(t))
	var out testenv.LockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	if !waitFor(60*time.Second, func() bool { return mounted(t, dir) }) {
		t.Fatalf("not mounted after 60s:\n%s", out.String())
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.txt"))
	if err != nil || !strings.Contains(string(readme), "mounted by s3mount") {
		t.Fatalf("README.txt: %v %q", err, readme)
	}
	f, err := os.OpenFile(filepath.Join(dir, "logs", "app.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("hello\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "logs", "app.log"))
	if want := "2026-01-01T00:00:00Z demo started\nhello\n"; err != nil || string(got) != want {
		t.Fatalf("logs/app.log: %v %q, want %q", err, got, want)
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("s3mount-demo after SIGINT: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("s3mount-demo still running 60s after SIGINT:\n%s", out.String())
	}
	if mounted(t, dir) {
		t.Fatal("still mounted after s3mount-demo exited")
	}
	if !strings.Contains(out.String(), "everything published") {
		t.Fatalf("s3mount did not publish everything before the server stopped:\n%s", out.String())
	}
}

func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// mounted reads the mount table (a stat of a hung FUSE mount would block).
func mounted(t *testing.T, dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if f := strings.Fields(s.Text()); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}
