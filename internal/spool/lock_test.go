package spool

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Two daemons on one --spool-dir would both adopt and publish the same
// files: the second Open is refused with one sentence naming the directory
// and the holder's pid, and Close lets the next one in.
func TestSecondOpenIsRefusedUntilClose(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	_, _, err := Open(dir, testIdentity, Options{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	want := fmt.Sprintf("spool directory %s is in use by another s3mount (pid %d); give each mount its own --spool-dir", dir, os.Getpid())
	if err.Error() != want {
		t.Fatalf("second Open says %q, want %q", err, want)
	}
	s.Close()
	s.Close() // twice is harmless
	open(t, dir, Options{})
}

// The lock goes with its process, however that ends (SIGKILL here).
func TestLockGoesWithProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHolderEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("lock holder said %q (%v)", line, err)
	}
	_, _, err = Open(dir, testIdentity, Options{})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("(pid %d)", cmd.Process.Pid)) {
		t.Fatalf("Open beside a live holder: %v, want ErrLocked naming pid %d", err, cmd.Process.Pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	open(t, dir, Options{})
}
