package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The probe: one syscall per step, run in a directory, its errno and the
// attributes after it reported, so that one table of steps can run on a
// local ext4 directory and on the mount, as root and as another user, and
// the two be compared. Steps as another user run in a child process (this
// test binary again, S3MOUNT_PROBE set, credentials changed).

type probeStep struct {
	Op    string `json:"op"` // see runStep
	Path  string `json:"path"`
	To    string `json:"to,omitempty"`
	Flags int    `json:"flags,omitempty"`
	Mode  uint32 `json:"mode,omitempty"`
	UID   int    `json:"uid,omitempty"`
	GID   int    `json:"gid,omitempty"`
	Size  int64  `json:"size,omitempty"`
}

// probeResult is what a step did: its errno name and, for
// stat and the steps that read back, what they saw.
type probeResult struct {
	Errno string `json:"errno"`          // "ok" or the errno's name
	Stat  string `json:"stat,omitempty"` // mode, owner, size, link target
}

func (s probeStep) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", s.Op, s.Path)
	if s.To != "" {
		fmt.Fprintf(&b, " -> %s", s.To)
	}
	if s.Flags != 0 {
		fmt.Fprintf(&b, " flags=%#o", s.Flags)
	}
	if s.Mode != 0 {
		fmt.Fprintf(&b, " mode=%#o", s.Mode)
	}
	if s.Op == "chown" {
		fmt.Fprintf(&b, " %d:%d", s.UID, s.GID)
	}
	return b.String()
}

// statLine is what is compared of a file's attributes: type and mode bits,
// owner, size for files, the target of a link.
func statLine(path string, follow bool) (string, error) {
	var st unix.Stat_t
	var err error
	if follow {
		err = unix.Stat(path, &st)
	} else {
		err = unix.Lstat(path, &st)
	}
	if err != nil {
		return "", err
	}
	s := fmt.Sprintf("mode=%#o uid=%d gid=%d", st.Mode, st.Uid, st.Gid)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		s += fmt.Sprintf(" size=%d", st.Size)
	case unix.S_IFLNK:
		t, _ := os.Readlink(path)
		s += " target=" + t
	}
	return s, nil
}

// times are a file's ctime and mtime, to tell which a step changed.
func times(path string) (ctime, mtime unix.Timespec, err error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return ctime, mtime, err
	}
	return st.Ctim, st.Mtim, nil
}

// runStep runs one step in dir. marks keeps the times "mark" saw, for
// "changed" (which times moved since).
func runStep(dir string, s probeStep, marks map[string][2]unix.Timespec) probeResult {
	p := filepath.Join(dir, s.Path)
	to := filepath.Join(dir, s.To)
	var err error
	var out string
	switch s.Op {
	case "open":
		var fd int
		fd, err = unix.Open(p, s.Flags|unix.O_CLOEXEC, s.Mode)
		if err == nil {
			err = unix.Close(fd)
		}
	case "write": // append a line through O_WRONLY|O_APPEND
		var f *os.File
		f, err = os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			_, err = f.WriteString("line\n")
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	case "read":
		_, err = os.ReadFile(p)
	case "mkdir":
		err = unix.Mkdir(p, s.Mode)
	case "rmdir":
		err = unix.Rmdir(p)
	case "unlink":
		err = unix.Unlink(p)
	case "rename":
		err = unix.Rename(p, to)
	case "rename-noreplace":
		err = unix.Renameat2(unix.AT_FDCWD, p, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	case "link":
		err = unix.Link(p, to)
	case "symlink": // Path is the link, To its target as written
		err = unix.Symlink(s.To, p)
	case "readlink":
		out, err = os.Readlink(p)
	case "chmod":
		err = unix.Chmod(p, s.Mode)
	case "chown":
		err = unix.Lchown(p, s.UID, s.GID)
	case "truncate":
		err = unix.Truncate(p, s.Size)
	case "utimes-now":
		err = unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}, 0)
	case "utimes":
		ts := unix.NsecToTimespec(1_700_000_000_000_000_000)
		err = unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, 0)
	case "stat":
		out, err = statLine(p, true)
	case "lstat":
		out, err = statLine(p, false)
	case "mark":
		var c, m unix.Timespec
		c, m, err = times(p)
		marks[s.Path] = [2]unix.Timespec{c, m}
	case "changed":
		var c, m unix.Timespec
		c, m, err = times(p)
		was := marks[s.Path]
		if s.To != "" {
			was = marks[s.To] // the times of the name it had (a rename)
		}
		out = fmt.Sprintf("ctime changed=%v mtime changed=%v", c != was[0], m != was[1])
	default:
		err = fmt.Errorf("unknown probe op %q", s.Op)
	}
	return probeResult{Errno: errnoName(err), Stat: out}
}

// probeChild is the child process: steps from the environment, results
// as JSON on stdout. Called from TestMain before anything else.
func probeChild() bool {
	spec := os.Getenv("S3MOUNT_PROBE")
	if spec == "" {
		return false
	}
	var in struct {
		Dir   string      `json:"dir"`
		Steps []probeStep `json:"steps"`
	}
	if err := json.Unmarshal([]byte(spec), &in); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(2)
	}
	marks := map[string][2]unix.Timespec{}
	var out []probeResult
	for _, s := range in.Steps {
		out = append(out, runStep(in.Dir, s, marks))
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(2)
	}
	os.Exit(0)
	return true
}

// probeBinary is this test binary where other users may run it (go test
// builds it in a private directory).
var probeBinary string

func copyProbeBinary(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	probeBinary = filepath.Join(dir, "probe")
	if err := os.WriteFile(probeBinary, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// probeAs runs steps in dir as uid:gid (0: in this process).
func probeAs(t *testing.T, uid int, dir string, steps []probeStep, marks map[string][2]unix.Timespec) []probeResult {
	t.Helper()
	if uid == 0 {
		var out []probeResult
		for _, s := range steps {
			out = append(out, runStep(dir, s, marks))
		}
		return out
	}
	spec, _ := json.Marshal(map[string]any{"dir": dir, "steps": steps})
	cmd := exec.Command(probeBinary)
	cmd.Dir = "/"
	cmd.Env = []string{"S3MOUNT_PROBE=" + string(spec)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe as uid %d: %v\n%s", uid, err, stderr.String())
	}
	var out []probeResult
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("probe output %q: %v", b, err)
	}
	return out
}
