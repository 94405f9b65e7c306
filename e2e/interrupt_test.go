package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/s3mount/s3mount/internal/testenv"
)

// A caller that takes signals while its request waits on S3 (Go programs
// take SIGURG for preemption all the time) gets its rename, stat and read
// done, never EINTR: the kernel interrupts the request, the mount carries
// on because the caller is not dying. (CI once failed TestToolRenames on
// exactly this.)
func TestSignalsDoNotFailOperations(t *testing.T) {
	srv, b := setup(t)
	srv.Put(t, b, "a.txt", []byte("a\n"))
	srv.Put(t, b, "r.txt", []byte("read me\n"))
	p := testenv.NewProxy(t, srv.Endpoint)
	m := testenv.MountBinary(t, p.URL, srv, b, "--allow-delete")
	at := func(n string) string { return filepath.Join(m.Dir, n) }
	// Every S3 request now takes long enough for many signals to land.
	p.SetLatency(300 * time.Millisecond)

	var sent atomic.Int64
	run := func(what string, op func() error) {
		t.Helper()
		errc := make(chan error, 1)
		tidc := make(chan int, 1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tidc <- unix.Gettid()
			errc <- op()
		}()
		tid := <-tidc
		for {
			select {
			case err := <-errc:
				if err != nil {
					t.Fatalf("%s while taking signals: %v", what, err)
				}
				return
			case <-time.After(5 * time.Millisecond):
				// SIGURG: the Go runtime catches it, so the thread lives on.
				if unix.Tgkill(os.Getpid(), tid, syscall.SIGURG) == nil {
					sent.Add(1)
				}
			}
		}
	}
	before := p.Requests()
	run("rename(RENAME_NOREPLACE)", func() error {
		return unix.Renameat2(unix.AT_FDCWD, at("a.txt"), unix.AT_FDCWD, at("c.txt"), unix.RENAME_NOREPLACE)
	})
	run("stat of a missing name", func() error {
		var st unix.Stat_t
		if err := unix.Stat(at("missing"), &st); !errors.Is(err, syscall.ENOENT) {
			return err
		}
		return nil
	})
	run("read", func() error {
		got, err := readRaw(at("r.txt"))
		if err == nil && string(got) != "read me\n" {
			t.Errorf("read %q", got)
		}
		return err
	})
	run("write and close", func() error {
		fd, err := unix.Open(at("w.txt"), unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if _, err := unix.Write(fd, []byte("written\n")); err != nil {
			unix.Close(fd)
			return err
		}
		return unix.Close(fd)
	})
	if p.Requests()-before < 4 || sent.Load() < 20 {
		t.Fatalf("the test did not exercise signals during S3 requests: %d requests, %d signals",
			p.Requests()-before, sent.Load())
	}
	p.SetLatency(0)
	if got, err := os.ReadFile(at("c.txt")); err != nil || string(got) != "a\n" {
		t.Fatalf("c.txt after the rename: %q %v", got, err)
	}
	if got := srv.Get(t, b, "w.txt"); string(got) != "written\n" {
		t.Fatalf("w.txt in S3: %q", got)
	}
}

// readRaw reads a file with plain syscalls (os.ReadFile retries EINTR).
func readRaw(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			return out, err
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
	}
}

// A process killed while its request waits on a slow S3 is let go at once,
// not after the request ends, and the mount serves on.
func TestKilledCallerIsLetGo(t *testing.T) {
	srv, b := setup(t)
	srv.Put(t, b, "slow.txt", []byte("slow\n"))
	p := testenv.NewProxy(t, srv.Endpoint)
	m := testenv.MountBinary(t, p.URL, srv, b)
	const latency = 2 * time.Minute
	p.SetLatency(latency)
	before := p.Requests()
	cmd := exec.Command("cat", filepath.Join(m.Dir, "slow.txt"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if !waitUntil(30*time.Second, func() bool { return p.Requests() > before }) {
		cmd.Process.Kill()
		t.Fatal("cat's lookup never reached S3")
	}
	start := time.Now()
	cmd.Process.Kill()
	select {
	case <-exited:
		t.Logf("killed cat exited %v after the kill", time.Since(start).Round(time.Millisecond))
	case <-time.After(latency / 2):
		t.Fatalf("a killed cat still waits on its S3 request after %v", latency/2)
	}
	p.SetLatency(0)
	if got, err := os.ReadFile(filepath.Join(m.Dir, "slow.txt")); err != nil || string(got) != "slow\n" {
		t.Fatalf("read after the kill: %q %v", got, err)
	}
}
