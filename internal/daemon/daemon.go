// Package daemon puts s3mount in the background the way Mountpoint does: the
// command the user ran waits until the mount is live (exit 0) or has failed
// (one error sentence, exit 1). Go cannot fork, so the parent re-executes its
// own binary, detached in a new session, and the child reports over a pipe.
//
// Parent:  if err := daemon.Start(os.Args[1:]); err != nil { print; exit 1 }; exit 0
// Child:   daemon.IsChild() is true; mount; daemon.Ready() or daemon.Fail(err)
//
// In the foreground (-f) the process is not a child and Ready/Fail do nothing,
// so main can call them unconditionally.
package daemon

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// EnvChild tells a re-executed s3mount that it is the daemon child and which
// file descriptor reaches the waiting parent.
const EnvChild = "S3MOUNT_DAEMON_CHILD"

// DefaultTimeout bounds how long the parent waits for Ready or Fail.
const DefaultTimeout = 60 * time.Second

const (
	msgReady = "ready"
	msgError = "error "
)

// Config says how to start the child. Zero fields take defaults.
type Config struct {
	Path    string        // executable; default os.Executable()
	Args    []string      // arguments after the program name
	Env     []string      // extra KEY=VALUE entries for the child
	Timeout time.Duration // default DefaultTimeout
}

// Start re-executes this program with args in the background and waits for
// it to report. It returns nil once the child called Ready; the child's
// sentence if it called Fail; or, if it exited or timed out first, an error
// with its exit status and the tail of its stderr.
func Start(args []string) error { return StartWith(Config{Args: args}) }

// StartWith is Start with explicit settings.
func StartWith(c Config) error {
	if c.Path == "" {
		p, err := os.Executable()
		if err != nil {
			return fmt.Errorf("cannot find the s3mount executable to start in the background: %v", err)
		}
		c.Path = p
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	reportR, reportW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer reportR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		reportW.Close()
		return err
	}

	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = append(withoutChildEnv(os.Environ()), c.Env...)
	cmd.Env = append(cmd.Env, EnvChild+"=3") // ExtraFiles[0] is fd 3
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, errW
	cmd.ExtraFiles = []*os.File{reportW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal, own session
	err = cmd.Start()
	reportW.Close()
	errW.Close()
	if err != nil {
		errR.Close()
		return fmt.Errorf("cannot start s3mount in the background: %v", err)
	}

	tail := &tailWriter{max: 2048}
	stderrDone := make(chan struct{})
	go func() {
		defer close(stderrDone)
		defer errR.Close()
		io.Copy(tail, errR) // until the child redirects fd 2 (Ready) or exits
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // also reaps the child whenever it ends

	report := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(reportR).ReadString('\n')
		report <- strings.TrimSuffix(line, "\n")
	}()

	timer := time.NewTimer(c.Timeout)
	defer timer.Stop()
	select {
	case msg := <-report:
		switch {
		case msg == msgReady:
			errR.Close() // as if we had exited: the child must not depend on us reading
			return nil
		case strings.HasPrefix(msg, msgError):
			// The child exits right after; return once it has, so that a
			// failed mount leaves no process behind.
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
			}
			return errors.New(strings.TrimPrefix(msg, msgError))
		}
		// The report pipe closed without a message: the child is exiting.
		select {
		case werr := <-exited:
			return earlyExit(werr, tail, stderrDone)
		case <-timer.C:
		}
	case werr := <-exited:
		// A child that reported and then exited makes both cases ready and
		// select picks at random: its sentence, if any, wins.
		select {
		case msg := <-report:
			if strings.HasPrefix(msg, msgError) {
				return errors.New(strings.TrimPrefix(msg, msgError))
			}
		case <-time.After(2 * time.Second):
		}
		return earlyExit(werr, tail, stderrDone)
	case <-timer.C:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	return fmt.Errorf("s3mount did not finish mounting within %v; stopped the background process (pid %d)%s",
		c.Timeout, cmd.Process.Pid, tail.suffix())
}

func earlyExit(werr error, tail *tailWriter, stderrDone <-chan struct{}) error {
	select { // let the last stderr bytes arrive
	case <-stderrDone:
	case <-time.After(2 * time.Second):
	}
	status := "exit status 0"
	if werr != nil {
		status = strings.TrimPrefix(werr.Error(), "exit status ")
		if _, err := strconv.Atoi(status); err == nil {
			status = "exit status " + status
		}
	}
	return fmt.Errorf("s3mount exited (%s) before the mount was ready%s", status, tail.suffix())
}

func withoutChildEnv(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, EnvChild+"=") {
			out = append(out, e)
		}
	}
	return out
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// suffix is ": <stderr tail>" or "" when the child printed nothing.
func (t *tailWriter) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	return ": " + s
}

// Child side.

var child struct {
	once     sync.Once
	mu       sync.Mutex
	report   *os.File // nil when not a child or already reported
	isChild  bool
	reported bool
}

func initChild() {
	child.once.Do(func() {
		v, ok := os.LookupEnv(EnvChild)
		if !ok {
			return
		}
		os.Unsetenv(EnvChild) // not for processes we might start
		fd, err := strconv.Atoi(v)
		if err != nil || fd < 3 {
			return
		}
		unix.CloseOnExec(fd)
		child.report = os.NewFile(uintptr(fd), "s3mount-daemon-report")
		child.isChild = true
	})
}

// IsChild reports whether this process is the background child started by
// Start (and so must call Ready or Fail).
func IsChild() bool {
	initChild()
	return child.isChild
}

// Ready tells the waiting parent that the mount is live. It first points
// stdout and stderr at /dev/null: the parent stops reading them when it
// exits, and a write to a broken pipe on fd 1 or 2 would kill the daemon.
// Use RedirectOutput afterwards to keep crash output in a log file.
func Ready() {
	send(func() error { return RedirectOutput(nil) }, msgReady)
}

// Fail sends err, as one sentence, to the waiting parent, which prints it and
// exits 1. The caller still exits itself.
func Fail(err error) {
	msg := "mount failed"
	if err != nil {
		msg = strings.Join(strings.Fields(err.Error()), " ") // one line
	}
	send(nil, msgError+msg)
}

func send(before func() error, msg string) {
	initChild()
	child.mu.Lock()
	defer child.mu.Unlock()
	if !child.isChild || child.reported {
		return
	}
	child.reported = true
	if before != nil {
		if err := before(); err != nil {
			msg = msgError + "cannot detach from the terminal: " + err.Error()
		}
	}
	child.report.WriteString(msg + "\n") // the parent may be gone; nothing to do then
	child.report.Close()
	child.report = nil
}

// RedirectOutput points file descriptors 1 and 2 (and so os.Stdout,
// os.Stderr and Go's panic output) at f, or at /dev/null when f is nil.
func RedirectOutput(f *os.File) error {
	if f == nil {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer null.Close()
		f = null
	}
	for _, fd := range []int{1, 2} {
		if err := unix.Dup2(int(f.Fd()), fd); err != nil {
			return fmt.Errorf("redirecting fd %d: %w", fd, err)
		}
	}
	return nil
}
