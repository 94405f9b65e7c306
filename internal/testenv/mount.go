package testenv

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Mount is a running s3mount daemon (foreground child process).
type Mount struct {
	Dir      string
	SpoolDir string
	Cmd      *exec.Cmd
	Endpoint string

	dev    string // "major:minor" of the FUSE mount, for abortFuse
	out    LockedBuffer
	exited chan struct{}
	once   sync.Once
}

// MountBinary mounts bucket on a fresh temp dir with the real binary:
// s3mount -f --endpoint-url endpoint --force-path-style --region R [extra] bucket dir.
// A fresh --spool-dir is added unless extra has one. It returns once the
// mount shows in /proc/self/mountinfo; t.Cleanup unmounts it.
func MountBinary(t testing.TB, endpoint string, srv *Server, bucket string, extra ...string) *Mount {
	t.Helper()
	return MountBinaryEnv(t, nil, endpoint, srv, bucket, extra...)
}

// MountBinaryEnv is MountBinary with env (KEY=value) added to the daemon's
// environment.
func MountBinaryEnv(t testing.TB, env []string, endpoint string, srv *Server, bucket string, extra ...string) *Mount {
	t.Helper()
	return MountBinaryAt(t, Binary(t), env, endpoint, srv, bucket, extra...)
}

// MountBinaryAt is MountBinaryEnv with the s3mount binary at bin (a
// benchmark compares two builds side by side).
func MountBinaryAt(t testing.TB, bin string, env []string, endpoint string, srv *Server, bucket string, extra ...string) *Mount {
	t.Helper()
	m := &Mount{Endpoint: endpoint, exited: make(chan struct{})}
	var err error
	if m.Dir, err = os.MkdirTemp("", "s3mount-mnt-"); err != nil {
		t.Fatal(err)
	}
	var ownSpool bool
	m.SpoolDir = spoolArg(extra)
	if m.SpoolDir == "" {
		if m.SpoolDir, err = os.MkdirTemp("", "s3mount-spool-"); err != nil {
			t.Fatal(err)
		}
		ownSpool = true
		extra = append([]string{"--spool-dir", m.SpoolDir}, extra...)
	}
	// Registered first so it runs last: only after the unmount.
	t.Cleanup(func() {
		if mounted(m.Dir) {
			t.Logf("testenv: %s still mounted; leaving it in place", m.Dir)
			return
		}
		os.Remove(m.Dir) // never RemoveAll: it would walk into a live mount
		if ownSpool {
			os.RemoveAll(m.SpoolDir)
		}
	})
	args := append([]string{"-f", "--endpoint-url", endpoint, "--force-path-style", "--region", srv.Region}, extra...)
	args = append(args, bucket, m.Dir)
	m.Cmd = exec.Command(bin, args...)
	m.Cmd.Env = append(append(os.Environ(), srv.Env()...), env...)
	m.Cmd.Stdout, m.Cmd.Stderr = &m.out, &m.out
	m.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := m.Cmd.Start(); err != nil {
		t.Fatalf("testenv: start s3mount: %v", err)
	}
	go func() { m.Cmd.Wait(); close(m.exited) }()
	atExit(func() { m.stop(nil, syscall.SIGKILL, 5*time.Second) })
	t.Cleanup(func() {
		m.Unmount(t)
		if t.Failed() {
			t.Logf("s3mount %s output:\n%s", strings.Join(args, " "), m.Stderr())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The daemon logs "mounted" once go-fuse's start-up (which opens a
		// file in the mount itself) is over: a SIGKILL before that would
		// leave a daemon thread waiting on its own dead mount.
		if m.dev = mountDev(m.Dir); m.dev != "" && (strings.Contains(m.Stderr(), "msg=mounted") || logsElsewhere(extra)) {
			break
		}
		select {
		case <-m.exited:
			t.Fatalf("testenv: s3mount exited before mounting (%v):\n%s", m.Cmd.ProcessState, m.Stderr())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s not mounted after 30s:\n%s", m.Dir, m.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return m
}

// logsElsewhere: the daemon's log lines do not reach stderr.
func logsElsewhere(args []string) bool {
	for _, a := range args {
		if a == "--no-log" || a == "-l" || strings.HasPrefix(a, "--log-directory") {
			return true
		}
	}
	return false
}

func spoolArg(args []string) string {
	for i, a := range args {
		if a == "--spool-dir" && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--spool-dir="); ok {
			return v
		}
	}
	return ""
}

// Unmount stops the daemon with SIGTERM (it publishes everything first) and
// waits up to 60 s, then kills it. Idempotent.
func (m *Mount) Unmount(t testing.TB) {
	t.Helper()
	m.stop(t, syscall.SIGTERM, 60*time.Second)
}

// Kill SIGKILLs the daemon and lazily unmounts the dead mount.
func (m *Mount) Kill(t testing.TB) {
	t.Helper()
	m.stop(t, syscall.SIGKILL, 10*time.Second)
}

func (m *Mount) stop(t testing.TB, sig syscall.Signal, wait time.Duration) {
	m.once.Do(func() {
		fail := func(format string, args ...any) {
			if t != nil {
				t.Errorf(format, args...)
			}
		}
		m.Cmd.Process.Signal(sig)
		if !m.waitExit(wait) {
			fail("testenv: s3mount did not exit %v after %v; killing it", wait, sig)
			m.Cmd.Process.Kill()
			if !m.waitExit(10 * time.Second) {
				// A thread stuck in a FUSE request to its own dead server
				// keeps the process from exiting: abort the connection.
				abortFuse(m.dev)
				exec.Command("umount", "-l", m.Dir).Run()
				if !m.waitExit(10 * time.Second) {
					fail("testenv: s3mount pid %d does not exit even after SIGKILL and FUSE abort", m.Cmd.Process.Pid)
				}
			}
		}
		if mounted(m.Dir) {
			if sig != syscall.SIGKILL {
				fail("testenv: s3mount exited but %s is still mounted", m.Dir)
			}
			abortFuse(m.dev)
			exec.Command("umount", "-l", m.Dir).Run()
		}
	})
}

func (m *Mount) waitExit(d time.Duration) bool {
	select {
	case <-m.exited:
		return true
	case <-time.After(d):
		return false
	}
}

// abortFuse aborts the FUSE connection of device "major:minor" through
// fusectl (mounted here if it is not), failing every request waiting on it.
func abortFuse(dev string) {
	_, minor, ok := strings.Cut(dev, ":")
	if !ok {
		return
	}
	const ctl = "/sys/fs/fuse/connections"
	abort := ctl + "/" + minor + "/abort"
	if _, err := os.Stat(abort); err != nil {
		exec.Command("mount", "-t", "fusectl", "none", ctl).Run()
	}
	os.WriteFile(abort, []byte("1"), 0o200)
}

// Stderr is everything the daemon printed so far (stdout and stderr).
func (m *Mount) Stderr() string { return m.out.String() }

// mounted reports whether dir is a mount point in /proc/self/mountinfo.
func mounted(dir string) bool { return mountDev(dir) != "" }

// mountDev is the device ("0:42") mounted on dir, "" if none.
func mountDev(dir string) string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Field 5 is the mount point, with spaces etc. octal-escaped.
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMountinfo(fields[4]) == dir {
			return fields[2]
		}
	}
	return ""
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, ok := octal(s[i+1 : i+4]); ok {
				b.WriteByte(n)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal(s string) (byte, bool) {
	var n int
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		n = n*8 + int(c-'0')
	}
	return byte(n), n < 256
}

// LockedBuffer is a bytes.Buffer safe for a child process's writer
// goroutines and the test reading it at the same time.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Len is the number of bytes written so far.
func (l *LockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}
