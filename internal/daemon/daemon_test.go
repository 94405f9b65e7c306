package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary doubles as the daemon child: Start re-executes it, and
// TestMain runs the behaviour named by this variable instead of the tests.
const envMode = "DAEMON_TEST_MODE"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envMode); mode != "" {
		runChild(mode)
		return
	}
	os.Exit(m.Run())
}

func waitForFile(path string, limit time.Duration) bool {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return true
		}
	}
	return false
}

func runChild(mode string) {
	dir := os.Getenv("DAEMON_TEST_DIR")
	switch mode {
	case "ready":
		if !IsChild() {
			os.Exit(10)
		}
		// What the child sees, for the parent test to check.
		facts := fmt.Sprintf("env=%q sid_is_pid=%v", os.Getenv(EnvChild), syscall.Getpid() == mustSid())
		os.WriteFile(filepath.Join(dir, "facts"), []byte(facts), 0o644)
		fmt.Fprintln(os.Stderr, "mounting...")
		if !waitForFile(filepath.Join(dir, "gate"), 30*time.Second) {
			Fail(errors.New("gate never opened"))
			os.Exit(1)
		}
		Ready()
		Ready() // a second call is a no-op
		// Once the parent has returned it reads no more; writing to fds 1
		// and 2 must not kill us (SIGPIPE on a broken pipe).
		if !waitForFile(filepath.Join(dir, "returned"), 30*time.Second) {
			os.Exit(1)
		}
		for i := 0; i < 1000; i++ {
			fmt.Fprintln(os.Stderr, "still serving", i)
			fmt.Println("stdout too", i)
		}
		os.WriteFile(filepath.Join(dir, "done"), []byte("ok"), 0o644)
		os.Exit(0)
	case "fail":
		fmt.Fprintln(os.Stderr, "some log noise")
		Fail(fmt.Errorf("bucket %q does not exist\n(check --region)", "nope"))
		Ready() // after Fail: ignored
		os.Exit(1)
	case "exit":
		fmt.Fprintln(os.Stderr, "fatal: cannot open /dev/fuse")
		os.Exit(3)
	case "hang":
		select {}
	}
	os.Exit(20)
}

func mustSid() int {
	sid, err := unix.Getsid(0)
	if err != nil {
		return -1
	}
	return sid
}

func start(t *testing.T, mode string, timeout time.Duration) (string, chan error) {
	t.Helper()
	dir := t.TempDir()
	done := make(chan error, 1)
	go func() {
		done <- StartWith(Config{
			Args:    []string{"-test.run=^$"},
			Env:     []string{envMode + "=" + mode, "DAEMON_TEST_DIR=" + dir},
			Timeout: timeout,
		})
	}()
	return dir, done
}

func TestStartReturnsOnlyAfterReady(t *testing.T) {
	dir, done := start(t, "ready", 60*time.Second)
	if !waitForFile(filepath.Join(dir, "facts"), 30*time.Second) {
		t.Fatal("the child never started")
	}
	select {
	case err := <-done:
		t.Fatalf("Start returned before the child called Ready: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	os.WriteFile(filepath.Join(dir, "gate"), nil, 0o644)
	if err := <-done; err != nil {
		t.Fatalf("Start after Ready = %v, want nil", err)
	}
	os.WriteFile(filepath.Join(dir, "returned"), nil, 0o644)
	if !waitForFile(filepath.Join(dir, "done"), 30*time.Second) {
		t.Fatal("the child did not survive writing to stdout/stderr after Ready")
	}
	facts, _ := os.ReadFile(filepath.Join(dir, "facts"))
	if string(facts) != `env="" sid_is_pid=true` {
		t.Errorf("child facts = %s; want the env variable consumed and a new session", facts)
	}
}

func TestStartReturnsTheChildsSentence(t *testing.T) {
	_, done := start(t, "fail", 60*time.Second)
	err := <-done
	want := `bucket "nope" does not exist (check --region)`
	if err == nil || err.Error() != want {
		t.Fatalf("Start = %v, want %q", err, want)
	}
}

func TestStartReportsEarlyExit(t *testing.T) {
	_, done := start(t, "exit", 60*time.Second)
	err := <-done
	want := "s3mount exited (exit status 3) before the mount was ready: fatal: cannot open /dev/fuse"
	if err == nil || err.Error() != want {
		t.Fatalf("Start = %v, want %q", err, want)
	}
}

func TestStartTimesOutAndStopsTheChild(t *testing.T) {
	_, done := start(t, "hang", 500*time.Millisecond)
	err := <-done
	if err == nil || !strings.HasPrefix(err.Error(), "s3mount did not finish mounting within 500ms; stopped the background process (pid ") {
		t.Fatalf("Start = %v, want a timeout sentence", err)
	}
	var pid int
	fmt.Sscanf(err.Error()[strings.Index(err.Error(), "(pid ")+5:], "%d", &pid)
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			break // gone (and reaped by Start's Wait)
		}
		if time.Now().After(end) {
			t.Fatalf("child %d still running after the timeout", pid)
		}
	}
}

func TestNotAChild(t *testing.T) {
	if IsChild() {
		t.Fatal("the test process is not a daemon child")
	}
	Ready() // no-ops outside a child
	Fail(errors.New("x"))
}

func TestWaitForSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s := WaitForSignal(ctx); s != nil {
		t.Fatalf("WaitForSignal(cancelled) = %v, want nil", s)
	}
	// Our own registration keeps SIGTERM from killing the test binary
	// before WaitForSignal has installed its handler.
	guard := make(chan os.Signal, 64)
	signal.Notify(guard, syscall.SIGTERM)
	defer signal.Stop(guard)
	got := make(chan os.Signal, 1)
	ready := make(chan struct{})
	go func() {
		close(ready)
		got <- WaitForSignal(context.Background())
	}()
	<-ready
	// Notify may not be installed yet when we signal; resend until seen.
	for {
		syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
		select {
		case s := <-got:
			if s != syscall.SIGTERM {
				t.Fatalf("WaitForSignal = %v, want SIGTERM", s)
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}
