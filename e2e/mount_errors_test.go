package e2e

import (
	"bytes"
	"context"
	"net"
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

// runS3mount runs the binary to completion (daemon mode unless args say
// -f) and returns its exit code and stderr. Whatever it mounted at dir is
// unmounted, and any daemon serving dir killed, at t.Cleanup.
func runS3mount(t *testing.T, env []string, dir string, args ...string) (int, string) {
	t.Helper()
	cleanupMount(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run s3mount: %v", err)
	}
	return code, stderr.String()
}

// cleanupMount makes sure nothing stays mounted at dir nor serves it.
func cleanupMount(t *testing.T, dir string) {
	t.Cleanup(func() {
		for _, pid := range daemonsOf(dir) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if isMounted(t, dir) {
			exec.Command("umount", "-l", dir).Run()
		}
	})
}

// daemonsOf finds live s3mount processes whose command line names dir.
func daemonsOf(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) < 2 || filepath.Base(args[0]) != "s3mount" || args[len(args)-1] != dir || !procAlive(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// procAlive: a zombie (exited, not yet reaped by init) counts as gone.
func procAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestMountErrors: each mount-time failure prints one sentence and exits
// non-zero, through the daemon's parent (no -f), leaving nothing mounted.
func TestMountErrors(t *testing.T) {
	srv, b := setup(t)
	okDir := t.TempDir()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base := func(endpoint string) []string {
		return []string{"--endpoint-url", endpoint, "--force-path-style", "--region", srv.Region,
			"--spool-dir", t.TempDir()}
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		dir  string
		want []string // all of these words, case-insensitive
	}{
		{"no-such-bucket", nil, append(base(srv.Endpoint), "no-such-bucket-s3mount"), okDir, []string{"bucket", "no-such-bucket-s3mount"}},
		{"wrong-secret", []string{"AWS_SECRET_ACCESS_KEY=wrong-secret"}, append(base(srv.Endpoint), b), okDir, []string{"credentials"}},
		{"unreachable", nil, append(base(closedPort(t)), b), okDir, []string{"127.0.0.1"}},
		{"missing-dir", nil, append(base(srv.Endpoint), b), filepath.Join(okDir, "missing"), []string{"missing", "exist"}},
		{"dir-is-file", nil, append(base(srv.Endpoint), b), file, []string{"not a directory"}},
		{"bad-flag-value", nil, append(base(srv.Endpoint), "--max-threads", "abc", b), okDir, []string{"--max-threads", "abc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append(srv.Env(), tc.env...)
			start := time.Now()
			code, stderr := runS3mount(t, env, tc.dir, append(tc.args, tc.dir)...)
			t.Logf("exit %d after %v: %s", code, time.Since(start).Round(time.Millisecond), strings.TrimSpace(stderr))
			if code == 0 {
				t.Fatalf("exit 0, want an error")
			}
			msg := strings.TrimSpace(stderr)
			if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "s3mount: ") {
				t.Errorf("stderr is not one line starting with \"s3mount: \": %q", stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(strings.ToLower(msg), strings.ToLower(w)) {
					t.Errorf("message %q does not mention %q", msg, w)
				}
			}
			if strings.Contains(msg, srv.SecretKey) || strings.Contains(msg, "wrong-secret") {
				t.Errorf("message shows a secret: %q", msg)
			}
			if isMounted(t, tc.dir) {
				t.Errorf("%s is mounted after a failed mount", tc.dir)
			}
			if p := daemonsOf(tc.dir); len(p) > 0 {
				t.Errorf("daemon processes %v left running", p)
			}
		})
	}
}

// TestMountDaemon: without -f the command exits 0 only once the mount is
// live; the daemon stops on umount and on SIGTERM, publishing first.
func TestMountDaemon(t *testing.T) {
	srv, b := setup(t)
	srv.Put(t, b, "hello", []byte("hi"))
	for _, stop := range []string{"umount", "sigterm"} {
		t.Run(stop, func(t *testing.T) {
			dir := t.TempDir()
			code, stderr := runS3mount(t, srv.Env(), dir, "--endpoint-url", srv.Endpoint, "--force-path-style",
				"--region", srv.Region, "--spool-dir", t.TempDir(), "--no-log", b, dir)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !isMounted(t, dir) {
				t.Fatal("the command exited 0 but the mount is not live")
			}
			pids := daemonsOf(dir)
			if len(pids) != 1 {
				t.Fatalf("want one daemon serving %s, found %v", dir, pids)
			}
			if got, err := os.ReadFile(filepath.Join(dir, "hello")); err != nil || string(got) != "hi" {
				t.Fatalf("read through the daemon's mount: %q, %v", got, err)
			}
			key := "written-before-" + stop
			if err := os.WriteFile(filepath.Join(dir, key), []byte(stop), 0o644); err != nil {
				t.Fatal(err)
			}
			if stop == "umount" {
				if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
					t.Fatalf("umount: %v %s", err, out)
				}
			} else {
				syscall.Kill(pids[0], syscall.SIGTERM)
			}
			if !waitUntil(60*time.Second, func() bool { return !procAlive(pids[0]) }) {
				t.Fatalf("daemon %d still running 60s after %s", pids[0], stop)
			}
			if isMounted(t, dir) {
				t.Fatal("still mounted after the daemon exited")
			}
			if got := srv.Get(t, b, key); string(got) != stop {
				t.Fatalf("S3 has %q for %s", got, key)
			}
		})
	}
}

// TestMountForegroundSignals: SIGINT and SIGTERM unmount a foreground
// mount cleanly (exit 0, nothing left mounted).
func TestMountForegroundSignals(t *testing.T) {
	srv, b := setup(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir, key := t.TempDir(), "f-"+sig.String()
			cleanupMount(t, dir)
			cmd := exec.Command(testenv.Binary(t), "-f", "--endpoint-url", srv.Endpoint, "--force-path-style",
				"--region", srv.Region, "--spool-dir", t.TempDir(), b, dir)
			cmd.Env = append(os.Environ(), srv.Env()...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() { cmd.Process.Kill(); <-done })
			if !waitUntil(30*time.Second, func() bool { return isMounted(t, dir) }) {
				t.Fatalf("not mounted after 30s")
			}
			if err := os.WriteFile(filepath.Join(dir, key), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd.Process.Signal(sig)
			select {
			case err := <-done:
				done <- err // for the cleanup
				if err != nil {
					t.Fatalf("exit after %v: %v\n%s", sig, err, out.String())
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("still running 60s after %v", sig)
			}
			if isMounted(t, dir) {
				t.Fatalf("still mounted after %v", sig)
			}
			if got := srv.Get(t, b, key); string(got) != "x" {
				t.Fatalf("S3 has %q", got)
			}
		})
	}
}

// TestMountHelpMatchesReadme: README.md shows `s3mount --help` verbatim.
func TestMountHelpMatchesReadme(t *testing.T) {
	out, err := exec.Command(testenv.Binary(t), "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, bytes.TrimRight(out, "\n")) {
		t.Fatal("README.md does not contain the output of s3mount --help verbatim: update its Options section")
	}
}
