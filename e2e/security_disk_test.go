package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/spool"
	"github.com/s3mount/s3mount/internal/testenv"
)

// `s3mount recover --export DIR` over a crafted journal (root exporting
// another user's spool): keys that lead outside DIR, and symlinks planted
// inside DIR, are refused one line each, their data stays in the spool, the
// exit status is 1, and nothing is written outside DIR.
func TestRecoverExportStaysInsideDir(t *testing.T) {
	root := t.TempDir()
	spoolDir, exp := filepath.Join(root, "spool"), filepath.Join(root, "export")
	victim, outside := filepath.Join(root, "victim"), filepath.Join(root, "outside")
	for _, d := range []string{spoolDir, exp, victim, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(spoolDir, "IDENTITY"), []byte("b-1/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Planted by the spool's owner, who may also write to DIR.
	os.Symlink(outside, filepath.Join(exp, "sub"))
	os.Symlink(filepath.Join(outside, "linked.txt"), filepath.Join(exp, "linked.txt"))

	hostile := []string{
		"../victim/planted.txt",
		filepath.Join(victim, "absolute.txt"),
		"ok/../../victim/dots.txt",
		"ok/a\x00b",
		"ok//empty.txt",
		"sub/planted.txt",
		"linked.txt",
	}
	// A legal key whose name would fake a line or drive the terminal: it
	// is exported, and shown quoted.
	const odd = "ok/new\nline\x1b[2J.txt"
	keys := append([]string{"ok/kept.txt", odd}, hostile...)
	for i, k := range keys {
		id := "f" + string(rune('a'+i))
		j, _ := json.Marshal(spool.Journal{Key: k, Kind: spool.KindWhole, Dirty: true, Size: 5, Mode: 0o644})
		if err := os.WriteFile(filepath.Join(spoolDir, id+".json"), j, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(spoolDir, id+".data"), []byte("data\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	cmd := exec.Command(testenv.Binary(t), "recover", spoolDir, "--export", exp)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("recover --export exited with %v, want status 1\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if len(lines) != len(hostile) {
		t.Errorf("want one stderr line per refused key (%d), got:\n%s", len(hostile), stderr.String())
	}
	for _, k := range hostile {
		want := "s3mount: not exported: key " + strconv.Quote(k)
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("no line %q in stderr:\n%s", want, stderr.String())
		}
	}
	if b, err := os.ReadFile(filepath.Join(exp, "ok", "kept.txt")); err != nil || string(b) != "data\n" {
		t.Errorf("the plain key was not exported: %q %v", b, err)
	}
	if !strings.Contains(stdout.String(), "exported "+strconv.Quote(odd)+" -> ") {
		t.Errorf("the odd key is not shown quoted:\n%s", stdout.String())
	}
	if out, err := exec.Command(testenv.Binary(t), "recover", spoolDir).Output(); err != nil || !strings.Contains(string(out), strconv.Quote(odd)) {
		t.Errorf("recover's list does not show the odd key quoted (%v):\n%s", err, out)
	}
	// Only the spool's own files and the exports exist as files.
	want := map[string]bool{filepath.Join(exp, "ok", "kept.txt"): true, filepath.Join(exp, odd): true, filepath.Join(spoolDir, "IDENTITY"): true}
	for i := range keys {
		id := "f" + string(rune('a'+i))
		want[filepath.Join(spoolDir, id+".json")] = true
		want[filepath.Join(spoolDir, id+".data")] = true // the data stays in the spool
	}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("walk %s: %v", p, err)
			return nil
		}
		if d.Type().IsRegular() && !want[p] {
			t.Errorf("recover wrote %s", p)
		}
		if d.Type().IsRegular() {
			delete(want, p)
		}
		return nil
	})
	for p := range want {
		t.Errorf("%s is missing", p)
	}
}

// A prefix that is not a plain path below the bucket is a usage error (exit
// status 2, one line), as from the s3:// URI.
func TestPrefixOutsideBucketRefused(t *testing.T) {
	dir := t.TempDir()
	for _, c := range [][]string{
		{"--prefix", "../x/", "b-1", dir},
		{"--prefix", "a//b/", "b-1", dir},
		{"s3://b-1/a/../../x/", dir},
	} {
		cmd := exec.Command(testenv.Binary(t), c...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("s3mount %q: %v, want exit status 2\n%s", c, err, out)
		}
		msg := string(out)
		if !strings.HasPrefix(msg, "s3mount: invalid ") || !strings.Contains(msg, "component") || strings.Count(msg, "\n") != 1 {
			t.Errorf("s3mount %q: want one line naming the bad component, got:\n%s", c, out)
		}
	}
}

// secNobody is the uid and gid of user nobody, the non-root user that
// mounts in these tests.
const secNobody = 65534

// nobodyRig is what a mount by nobody needs: the binary where nobody may run
// it, and a tree nobody owns (mount point, spool, TMPDIR, HOME).
type nobodyRig struct {
	srv              *testenv.Server
	bin, root        string
	mnt, spool, tmp  string
	home, badMntRoot string
}

func newNobodyRig(t *testing.T, srv *testenv.Server) *nobodyRig {
	t.Helper()
	requireFusermount3(t)
	root, err := os.MkdirTemp("", "s3mount-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(root, 0o755)
	r := &nobodyRig{srv: srv, root: root, bin: filepath.Join(root, "s3mount")}
	t.Cleanup(func() {
		if !isMounted(t, r.mnt) {
			os.RemoveAll(root)
		}
	})
	copyFile(t, testenv.Binary(t), r.bin, 0o755)
	for _, d := range []*string{&r.mnt, &r.spool, &r.tmp, &r.home} {
		*d, err = os.MkdirTemp(root, "d-")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(*d, secNobody, secNobody); err != nil {
			t.Fatal(err)
		}
	}
	cleanupMount(t, r.mnt)
	return r
}

// requireFusermount3: mounting without root needs fusermount3 (package
// fuse3; CI installs it). Missing, the test fails rather than skips.
func requireFusermount3(t *testing.T) {
	t.Helper()
	p, err := exec.LookPath("fusermount3")
	if err != nil {
		t.Fatalf("fusermount3 is not installed (apt-get install fuse3; .ci/run installs it): %v", err)
	}
	if st, err := os.Stat(p); err != nil || st.Mode()&os.ModeSetuid == 0 {
		t.Fatalf("%s is not setuid root (%v): users cannot mount with it", p, err)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// command is the s3mount binary run as nobody with args.
func (r *nobodyRig) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Dir = "/"
	cmd.Env = append([]string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL=C", "HOME=" + r.home, "TMPDIR=" + r.tmp}, r.srv.Env()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: secNobody, Gid: secNobody}}
	return cmd
}

// mountArgs are the arguments of a mount of bucket at r.mnt.
func (r *nobodyRig) mountArgs(bucket string, extra ...string) []string {
	args := append([]string{"--endpoint-url", r.srv.Endpoint, "--force-path-style", "--region", r.srv.Region,
		"--spool-dir", r.spool}, extra...)
	return append(args, bucket, r.mnt)
}

// run runs s3mount as nobody to its end: exit status and stderr.
func (r *nobodyRig) run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := r.command(ctx, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stderr.String()
	} else if err != nil {
		t.Fatalf("run s3mount as nobody: %v", err)
	}
	return 0, stderr.String()
}

// mountForeground mounts bucket at r.mnt as nobody (-f) and returns once the
// mount is live, with a function that unmounts it (SIGTERM) and returns the
// daemon's log.
func (r *nobodyRig) mountForeground(t *testing.T, bucket string) func() string {
	t.Helper()
	cmd := r.command(context.Background(), append([]string{"-f"}, r.mountArgs(bucket)...)...)
	var out testenv.LockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	live := waitUntil(60*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		return isMounted(t, r.mnt) && strings.Contains(out.String(), "msg=mounted")
	})
	select {
	case <-exited:
		t.Fatalf("s3mount as nobody exited before mounting:\n%s", out.String())
	default:
	}
	if !live {
		cmd.Process.Kill()
		t.Fatalf("s3mount as nobody not mounted after 60s:\n%s", out.String())
	}
	stopped := false
	stop := func() string {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Errorf("s3mount as nobody did not stop within 60s of SIGTERM")
			}
		}
		return out.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}

// statusPointerName is the daemon's pointer file name for mount point dir.
func statusPointerName(dir string) string {
	h := sha256.Sum256([]byte(dir))
	return hex.EncodeToString(h[:8])
}

// The status pointer of a non-root mount lives in $TMPDIR/s3mount-<uid>.
// There, it is created 0600 in a 0700 directory and `s3mount status DIR`
// finds the mount; when another user got to the directory first (owns it,
// made it a symlink, planted a symlink at the pointer's path), the mount
// still works, one log line says `s3mount status` will not find it,
// nothing is written there or through the symlink, and `s3mount status`
// refuses the directory.
func TestStatusPointerOfNonRootMount(t *testing.T) {
	srv, b := setup(t)
	r := newNobodyRig(t, srv)
	setFuseDeviceMode(t, 0o666)
	ptrDir := filepath.Join(r.tmp, "s3mount-65534")
	name := statusPointerName(r.mnt)

	t.Run("own directory", func(t *testing.T) {
		stop := r.mountForeground(t, b)
		st, err := os.Lstat(ptrDir)
		if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 || st.Sys().(*syscall.Stat_t).Uid != secNobody {
			t.Fatalf("%s: %v %v, want a 0700 directory of nobody", ptrDir, st, err)
		}
		st, err = os.Lstat(filepath.Join(ptrDir, name))
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
			t.Fatalf("pointer: %v %v, want a 0600 file", st, err)
		}
		if code, out := r.run(t, "status", r.mnt); code != 0 {
			t.Fatalf("s3mount status as nobody: exit %d: %s", code, out)
		}
		stop()
		os.RemoveAll(ptrDir)
	})

	// Planted by another user (root plays them): a world-writable directory
	// of theirs holding a symlink at the pointer's path to a file of ours.
	victim := filepath.Join(r.home, "victim")
	os.WriteFile(victim, []byte("keep\n"), 0o644)
	os.Chown(victim, secNobody, secNobody)
	foreign := filepath.Join(r.root, "foreign")
	for tc, plant := range map[string]func(){
		"directory of another user": func() {
			os.Mkdir(ptrDir, 0o777)
			os.Chmod(ptrDir, 0o777)
			os.Symlink(victim, filepath.Join(ptrDir, name))
		},
		"symlink to a directory of another user": func() {
			os.Mkdir(foreign, 0o777)
			os.Chmod(foreign, 0o777)
			os.Symlink(victim, filepath.Join(foreign, name))
			os.Symlink(foreign, ptrDir)
		},
	} {
		t.Run(tc, func(t *testing.T) {
			plant()
			defer os.RemoveAll(foreign)
			defer os.RemoveAll(ptrDir)
			stop := r.mountForeground(t, b)
			code, out := r.run(t, "status", r.mnt)
			log := stop()
			if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
				t.Errorf("the planted symlink was followed: victim holds %q", b)
			}
			for _, d := range []string{ptrDir, foreign} {
				ents, _ := os.ReadDir(d)
				for _, e := range ents {
					if e.Type()&os.ModeSymlink == 0 {
						t.Errorf("s3mount wrote %s in the other user's directory", filepath.Join(d, e.Name()))
					}
				}
			}
			if !regexp.MustCompile("level=WARN msg=\"`s3mount status` will not find this mount.*s3mount-65534").MatchString(log) {
				t.Errorf("no log line says `s3mount status` will not find the mount:\n%s", log)
			}
			if code != 1 || !strings.Contains(out, "cannot use the status pointer") {
				t.Errorf("s3mount status as nobody: exit %d, %q; want a refusal of the directory", code, out)
			}
		})
	}
}

// A root mount's pointer is a 0600 file in the 0700 /run/s3mount.
func TestStatusPointerOfRootMount(t *testing.T) {
	srv, b := setup(t)
	m := mount(t, srv, b)
	st, err := os.Lstat("/run/s3mount")
	if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Fatalf("/run/s3mount: %v %v, want a 0700 directory", st, err)
	}
	st, err = os.Lstat(filepath.Join("/run/s3mount", statusPointerName(m.Dir)))
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
		t.Fatalf("pointer: %v %v, want a 0600 file", st, err)
	}
	if out, err := exec.Command(testenv.Binary(t), "status", m.Dir).CombinedOutput(); err != nil {
		t.Fatalf("s3mount status: %v\n%s", err, out)
	}
}

// When fusermount3 refuses a non-root mount, the one-line error carries
// fusermount's own reason, in the foreground and through the background
// daemon's parent alike.
func TestFusermountReasonShown(t *testing.T) {
	srv, b := setup(t)
	r := newNobodyRig(t, srv)
	requireNoUserAllowOther(t)
	rootsDir := filepath.Join(r.root, "roots")
	os.Mkdir(rootsDir, 0o755) // root's: nobody may not mount on it

	for _, tc := range []struct {
		name, dir string
		devMode   os.FileMode // of /dev/fuse: fusermount3 opens it as the user
		extra     []string
		reason    string
	}{
		{"/dev/fuse closed to users", r.mnt, 0o600, nil, "failed to open /dev/fuse: Permission denied"},
		{"allow-other without user_allow_other", r.mnt, 0o666, []string{"--allow-other"}, "option allow_other only allowed if 'user_allow_other' is set in /etc/fuse.conf"},
		{"mount point of another user", rootsDir, 0o666, nil, "user has no write access to mountpoint " + rootsDir},
	} {
		for _, fg := range []bool{true, false} {
			t.Run(tc.name+map[bool]string{true: " -f", false: " daemon"}[fg], func(t *testing.T) {
				setFuseDeviceMode(t, tc.devMode)
				cleanupMount(t, tc.dir)
				args := r.mountArgs(b, tc.extra...)
				args[len(args)-1] = tc.dir
				if fg {
					args = append([]string{"-f"}, args...)
				}
				code, stderr := r.run(t, args...)
				if code == 0 {
					t.Fatalf("exit 0, want a failure:\n%s", stderr)
				}
				var line string
				for _, l := range strings.Split(stderr, "\n") {
					if strings.HasPrefix(l, "s3mount: ") {
						line = l
					}
				}
				// fusermount names itself by the path go-fuse ran.
				want := regexp.MustCompile(`^s3mount: cannot mount at ` + regexp.QuoteMeta(tc.dir) + `: \S*fusermount3: ` + regexp.QuoteMeta(tc.reason))
				if !want.MatchString(line) {
					t.Errorf("error line:\n %q\nwant it to start with\n %q\nstderr:\n%s", line, want, stderr)
				}
				if isMounted(t, tc.dir) {
					t.Errorf("%s is mounted", tc.dir)
				}
			})
		}
	}
}

// setFuseDeviceMode sets the permission bits of /dev/fuse until the test
// ends: fusermount3 opens it with the user's rights, so a user may mount
// only where it is 0666 (as on most distributions).
func setFuseDeviceMode(t *testing.T, mode os.FileMode) {
	t.Helper()
	const dev = "/dev/fuse"
	st, err := os.Stat(dev)
	if err != nil {
		t.Fatalf("%s: %v", dev, err)
	}
	if st.Mode().Perm() == mode {
		return
	}
	if err := os.Chmod(dev, mode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.Chmod(dev, st.Mode().Perm()); err != nil {
			t.Errorf("restoring the mode of %s: %v", dev, err)
		}
	})
}

// requireNoUserAllowOther: fusermount3 refuses allow_other to users only
// without user_allow_other in /etc/fuse.conf. A machine that has it gets it
// commented out for the test and restored after.
func requireNoUserAllowOther(t *testing.T) {
	t.Helper()
	const conf = "/etc/fuse.conf"
	b, err := os.ReadFile(conf)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	active := regexp.MustCompile(`(?m)^[ \t]*user_allow_other[ \t]*$`)
	if !active.Match(b) {
		return
	}
	st, _ := os.Stat(conf)
	if err := os.WriteFile(conf, active.ReplaceAll(b, []byte("#user_allow_other")), st.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(conf, b, st.Mode().Perm()); err != nil {
			t.Errorf("restoring %s: %v", conf, err)
		}
	})
}
