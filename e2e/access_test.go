package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Other local users, played by nobody (uid and gid 65534), against mounts
// made by root (these tests run as root).

const nobodyID = 65534

// asNobody runs name args as nobody, with stdin and stdout if given, and
// returns what it printed and how it ended.
func asNobody(t *testing.T, stdin, stdout *os.File, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyID, Gid: nobodyID}}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	err := cmd.Run()
	return out.String(), err
}

// nobodyRefused runs a command as nobody and fails the test unless it was
// refused with EACCES.
func nobodyRefused(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := asNobody(t, nil, nil, name, args...)
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("as nobody, %s %s: err %v, output %q; want Permission denied", name, strings.Join(args, " "), err, out)
	}
}

// nobodyReads runs cat as nobody and fails the test unless it printed want.
func nobodyReads(t *testing.T, path string, want []byte) {
	t.Helper()
	out, err := asNobody(t, nil, nil, "cat", path)
	if err != nil || out != string(want) {
		t.Errorf("as nobody, cat %s: err %v, output %q; want %q", path, err, out, want)
	}
}

// requireSearchable: nobody must be able to walk to the mount point, or the
// kernel refuses it before s3mount is asked and a refusal proves nothing.
func requireSearchable(t *testing.T, mnt string) {
	t.Helper()
	for d := filepath.Dir(mnt); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			t.Fatalf("%s is mode %v: other users cannot reach %s (set TMPDIR to a searchable directory)", d, st.Mode().Perm(), mnt)
		}
		if d == "/" {
			return
		}
	}
}

const refusalLine = "--allow-root admits only root and the mounting user"

// --allow-root: nobody is refused on every way in, by s3mount (its log
// names the uid); the same command as nobody succeeds on an --allow-other
// mount of the same bucket; root reads; a descriptor root opened and hands
// to nobody keeps working, as with libfuse's allow_root.
func TestAllowRootRefusesOtherUsers(t *testing.T) {
	srv, bucket := setup(t)
	secret := []byte("root's eyes only\n")
	srv.Put(t, bucket, "secret.txt", secret)
	srv.Put(t, bucket, "dir/inner.txt", secret)
	srv.Put(t, bucket, "handed.txt", []byte("handed over\n"))
	m := mount(t, srv, bucket, "--allow-root")
	requireSearchable(t, m.Dir)

	// Before root looks at anything, so nothing is in the kernel's caches:
	// every one of these reaches s3mount.
	nobodyRefused(t, "stat", filepath.Join(m.Dir, "secret.txt"))
	nobodyRefused(t, "cat", filepath.Join(m.Dir, "secret.txt"))
	nobodyRefused(t, "ls", m.Dir)
	nobodyRefused(t, "ls", filepath.Join(m.Dir, "dir"))
	nobodyRefused(t, "stat", "-f", m.Dir)
	nobodyRefused(t, "touch", filepath.Join(m.Dir, "planted.txt"))
	nobodyRefused(t, "mkdir", filepath.Join(m.Dir, "planted"))
	if !waitUntil(10*time.Second, func() bool {
		return strings.Contains(m.Stderr(), refusalLine) && strings.Contains(m.Stderr(), "uid=65534")
	}) {
		t.Errorf("s3mount did not log the refusal of uid 65534:\n%s", m.Stderr())
	}

	// The control: the same commands as nobody get in on an --allow-other
	// mount of the same bucket, next to this one.
	other := mount(t, srv, bucket, "--allow-other")
	if filepath.Dir(other.Dir) != filepath.Dir(m.Dir) {
		t.Fatalf("mounts in different directories: %s, %s", other.Dir, m.Dir)
	}
	nobodyReads(t, filepath.Join(other.Dir, "secret.txt"), secret)
	if out, err := asNobody(t, nil, nil, "ls", other.Dir); err != nil || !strings.Contains(out, "secret.txt") {
		t.Errorf("as nobody, ls on the --allow-other mount: err %v, output %q", err, out)
	}

	// Root reads.
	if got, err := os.ReadFile(filepath.Join(m.Dir, "secret.txt")); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("root reading under --allow-root: %q, %v", got, err)
	}
	if ents, err := os.ReadDir(m.Dir); err != nil || len(ents) != 3 {
		t.Errorf("root listing under --allow-root: %d entries, %v", len(ents), err)
	}
	// What root just read is in the page cache: nobody still cannot open it.
	nobodyRefused(t, "cat", filepath.Join(m.Dir, "secret.txt"))
	nobodyRefused(t, "ls", m.Dir)

	// A descriptor root opened is a grant: nobody reads through it (the
	// reads reach s3mount from uid 65534: root never read this file).
	f, err := os.Open(filepath.Join(m.Dir, "handed.txt"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := asNobody(t, f, nil, "cat")
	f.Close()
	if err != nil || out != "handed over\n" {
		t.Errorf("as nobody, cat on a descriptor root opened: err %v, output %q", err, out)
	}
	// ... and writes through it, as a server that opens its log as root
	// and then drops privileges; its close (FLUSH) comes from nobody too.
	log, err := os.OpenFile(filepath.Join(m.Dir, "app.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	out, err = asNobody(t, nil, log, "echo", "from nobody")
	if err != nil {
		t.Errorf("as nobody, echo into a descriptor root opened: %v %q", err, out)
	}
	if err := log.Close(); err != nil {
		t.Errorf("close app.log: %v", err)
	}

	m.Unmount(t) // publishes everything first
	if got := srv.Get(t, bucket, "app.log"); string(got) != "from nobody\n" {
		t.Errorf("app.log in S3: %q, want %q", got, "from nobody\n")
	}
	for _, k := range []string{"planted.txt", "planted/"} {
		if srv.Exists(t, bucket, k) {
			t.Errorf("nobody's %s reached S3", k)
		}
	}
}

// --allow-other admits everyone, and the kernel enforces the modes stat
// shows (default_permissions): nobody reads a 0644 file but not a 0600
// one, and cannot create in a 0755 directory root owns.
func TestAllowOtherEnforcesModes(t *testing.T) {
	srv, bucket := setup(t)
	data := []byte("readable by all\n")
	srv.Put(t, bucket, "open.txt", data)
	m := mount(t, srv, bucket, "--allow-other")
	requireSearchable(t, m.Dir)

	nobodyReads(t, filepath.Join(m.Dir, "open.txt"), data)
	if out, err := asNobody(t, nil, nil, "stat", "-c", "%a %u", filepath.Join(m.Dir, "open.txt")); err != nil || out != "644 0\n" {
		t.Errorf("as nobody, stat: err %v, output %q; want 644 0", err, out)
	}
	nobodyRefused(t, "touch", filepath.Join(m.Dir, "new.txt"))
	nobodyRefused(t, "sh", "-c", "echo more >> "+filepath.Join(m.Dir, "open.txt"))

	private := mount(t, srv, bucket, "--allow-other", "--file-mode", "0600")
	nobodyRefused(t, "cat", filepath.Join(private.Dir, "open.txt"))
	if got, err := os.ReadFile(filepath.Join(private.Dir, "open.txt")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("root reading a 0600 file: %q, %v", got, err)
	}

	private.Unmount(t)
	m.Unmount(t)
	if got := srv.Get(t, bucket, "open.txt"); !bytes.Equal(got, data) {
		t.Errorf("open.txt changed in S3: %q", got)
	}
	if srv.Exists(t, bucket, "new.txt") {
		t.Error("nobody's new.txt reached S3")
	}
}

// Neither flag: the kernel turns every other user away before s3mount is
// asked (no allow_other), so s3mount logs nothing.
func TestNoAllowFlagKeepsOtherUsersOut(t *testing.T) {
	srv, bucket := setup(t)
	data := []byte("mine\n")
	srv.Put(t, bucket, "mine.txt", data)
	m := mount(t, srv, bucket)
	requireSearchable(t, m.Dir)

	nobodyRefused(t, "stat", m.Dir)
	nobodyRefused(t, "cat", filepath.Join(m.Dir, "mine.txt"))
	nobodyRefused(t, "ls", m.Dir)
	if got, err := os.ReadFile(filepath.Join(m.Dir, "mine.txt")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("root reading its own mount: %q, %v", got, err)
	}
	if strings.Contains(m.Stderr(), refusalLine) {
		t.Errorf("s3mount saw another user's request without allow_other:\n%s", m.Stderr())
	}
}
