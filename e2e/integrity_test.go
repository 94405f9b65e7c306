package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// holder is a bash process that ran a setup script and keeps its file
// descriptors open (an interactive shell after `exec 9>>F`) until released.
type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   testenv.LockedBuffer
	done  chan error
}

// holdFDs runs script, which must end by printing "ready", then waits
// (with its descriptors open) until release.
func holdFDs(t *testing.T, script string) *holder {
	t.Helper()
	h := &holder{done: make(chan error, 1)}
	h.cmd = exec.Command("bash", "-c", script+"\nread -r _")
	var err error
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	h.cmd.Stdout, h.cmd.Stderr = &h.out, &h.out
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.done <- h.cmd.Wait() }()
	t.Cleanup(func() { h.release(t) })
	if !waitUntil(60*time.Second, func() bool { return strings.Contains(h.out.String(), "ready") }) {
		t.Fatalf("setup script not ready after 60 s:\n%s\noutput: %s", script, h.out.String())
	}
	return h
}

// release lets the holder exit (closing its descriptors); idempotent.
func (h *holder) release(t *testing.T) {
	if h.stdin == nil {
		return
	}
	h.stdin.Close()
	h.stdin = nil
	select {
	case <-h.done:
	case <-time.After(60 * time.Second):
		h.cmd.Process.Kill()
		<-h.done
		t.Errorf("holder shell did not exit 60 s after release (stuck closing a file on the mount)")
	}
}

// spoolJournals lists the journals left in a spool directory.
func spoolJournals(dir string) []string {
	left, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	return left
}

// statusFiles is the file list `s3mount status --json` shows for a mount.
func statusFiles(t *testing.T, m *testenv.Mount) ([]map[string]any, error) {
	t.Helper()
	out, err := exec.Command(testenv.Binary(t), "status", "--json", m.Dir).Output()
	if err != nil {
		return nil, err
	}
	var rep struct {
		Files []map[string]any `json:"files"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return nil, fmt.Errorf("status --json: %v: %q", err, out)
	}
	return rep.Files, nil
}

// waitDrained waits (bounded) until the mount's spool holds no journal and
// `s3mount status` shows no file: recovery and adoption are over. It
// reports (t.Errorf) a spool that does not drain, so the caller can still
// check what S3 holds.
func waitDrained(t *testing.T, m *testenv.Mount) {
	t.Helper()
	var files []map[string]any
	var err error
	if !waitUntil(90*time.Second, func() bool {
		files, err = statusFiles(t, m)
		return err == nil && len(files) == 0 && len(spoolJournals(m.SpoolDir)) == 0
	}) {
		var js []string
		for _, p := range spoolJournals(m.SpoolDir) {
			b, _ := os.ReadFile(p)
			js = append(js, fmt.Sprintf("%s: %s", filepath.Base(p), b))
		}
		t.Errorf("spool not drained 90 s after the remount: journals %v, status files %v (err %v)\n%s",
			js, files, err, m.Stderr())
	}
}

// A writer without O_APPEND in non-blocking mode (dd of 64 MiB through a
// 16 MiB buffer) waits for room: every byte arrives, none is dropped.
func TestNonBlockingPlainWriterNeverLosesBytes(t *testing.T) {
	srv, b := setup(t)
	m := mount(t, srv, b, "--buffer-mode", "non-blocking", "--max-buffer-size", "16m")
	src := filepath.Join(t.TempDir(), "src.bin")
	data := randBytes(64, 64<<20)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(m.Dir, "big.bin")
	out, ddErr := exec.Command("dd", "if="+src, "of="+dst, "bs=1M", "conv=fsync").CombinedOutput()
	t.Logf("dd: %v\n%s", ddErr, out)
	var shown []byte
	if ddErr == nil {
		var err error
		if shown, err = os.ReadFile(dst); err != nil {
			t.Fatalf("read back through the mount: %v", err)
		}
	}
	m.Unmount(t)
	if ddErr != nil {
		// The contract (README): in non-blocking mode a writer without
		// O_APPEND waits for room as in blocking mode; it is never dropped.
		t.Fatalf("dd failed (%v): a plain writer in non-blocking mode must wait for room, not fail: %q\n%s", ddErr, out, m.Stderr())
	}
	if !bytes.Equal(shown, data) {
		t.Errorf("dd succeeded but the mount shows %d bytes (sha %s), the source has %d (sha %s); first difference at %d",
			len(shown), sha(shown)[:12], len(data), sha(data)[:12], firstDiff(shown, data))
	}
	if !srv.Exists(t, b, "big.bin") {
		t.Fatalf("dd, fsync and close succeeded, S3 has no big.bin\n%s", m.Stderr())
	}
	if got := srv.Get(t, b, "big.bin"); !bytes.Equal(got, data) {
		t.Fatalf("dd, fsync and close succeeded, but S3 holds %d bytes (sha %s), the source %d (sha %s); first difference at %d\n%s",
			len(got), sha(got)[:12], len(data), sha(data)[:12], firstDiff(got, data), m.Stderr())
	}
}

// A file unlinked while open is gone: its bytes are never published, after
// a clean stop or a SIGKILL of the daemon and a remount with the same spool.
func TestUnlinkedOpenFileNotResurrected(t *testing.T) {
	for _, sig := range []string{"SIGTERM", "SIGKILL"} {
		t.Run(sig, func(t *testing.T) {
			srv, b := setup(t)
			spool := t.TempDir()
			m := mount(t, srv, b, "--spool-dir", spool, "--allow-delete")
			f := filepath.Join(m.Dir, "secret.log")
			h := holdFDs(t, fmt.Sprintf("set -e\nexec 9>>%q\necho token >&9\nrm %q\necho ready", f, f))
			if sig == "SIGKILL" {
				m.Kill(t)
			} else {
				m.Unmount(t)
			}
			h.release(t)
			if srv.Exists(t, b, "secret.log") {
				t.Fatalf("after the %s of the daemon S3 holds the unlinked secret.log: %q", sig, srv.Get(t, b, "secret.log"))
			}
			m2 := mount(t, srv, b, "--spool-dir", spool, "--allow-delete")
			waitDrained(t, m2)
			m2.Unmount(t)
			if srv.Exists(t, b, "secret.log") {
				t.Fatalf("the remount after a %s resurrected the unlinked secret.log: %q\n%s", sig, srv.Get(t, b, "secret.log"), m2.Stderr())
			}
		})
	}
}

// A log unlinked while open and a new file created under the same name:
// after a SIGKILL and a remount S3 holds exactly the new file's bytes, and
// the spool drains.
func TestRecreatedNameAfterUnlinkOneJournal(t *testing.T) {
	srv, b := setup(t)
	spool := t.TempDir()
	m := mount(t, srv, b, "--spool-dir", spool, "--allow-delete")
	f := filepath.Join(m.Dir, "app.log")
	h := holdFDs(t, fmt.Sprintf("set -e\nexec 9>>%q\necho old-bytes-of-the-unlinked-file >&9\nrm %q\nexec 8>>%q\necho new >&8\necho ready", f, f, f))
	m.Kill(t)
	h.release(t)
	m2 := mount(t, srv, b, "--spool-dir", spool, "--allow-delete")
	waitDrained(t, m2)
	m2.Unmount(t)
	if !srv.Exists(t, b, "app.log") {
		t.Fatalf("after the remount S3 has no app.log (the recreated file's bytes are lost)\n%s", m2.Stderr())
	}
	if got := srv.Get(t, b, "app.log"); string(got) != "new\n" {
		t.Fatalf("S3 app.log = %q, want %q\n%s", got, "new\n", m2.Stderr())
	}
	if left := spoolJournals(spool); len(left) != 0 {
		t.Fatalf("spool still holds %v", left)
	}
}

// Appends to a file that was rm'ed while open (well over the 1 MiB buffer)
// must not hold the buffer: appends to another file keep completing.
func TestUnlinkUnderWriterDoesNotStallMount(t *testing.T) {
	srv, b := setup(t)
	m := mount(t, srv, b, "--max-buffer-size", "1m", "--upload-interval", "200ms", "--allow-delete")
	gone, err := os.OpenFile(filepath.Join(m.Dir, "gone.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(m.Dir, "gone.log")); err != nil {
		t.Fatal(err)
	}
	live := openAppender(t, filepath.Join(m.Dir, "live.log"), "L")
	const goneLines, liveLines = 40000, 20000 // ~4.3 MiB and ~2.1 MiB of 107-byte lines
	goneDone := make(chan error, 1)
	go func() {
		for i := 1; i <= goneLines; i++ {
			if _, err := gone.WriteString(lineOf("G", i)); err != nil {
				goneDone <- fmt.Errorf("write %d to the unlinked file: %v", i, err)
				return
			}
		}
		goneDone <- nil
	}()
	liveDone := make(chan bool, 1)
	go func() {
		ok := true
		for i := 1; i <= liveLines && ok; i++ {
			ok = live.write(i)
		}
		liveDone <- ok
	}()
	select {
	case ok := <-liveDone:
		if !ok {
			t.Fatal("an append to live.log failed")
		}
	case <-time.After(2 * time.Minute):
		stalled := live.acked.Load()
		m.Kill(t) // fails the stuck writes, so that the writers end
		waitChan(goneDone, time.Minute)
		t.Fatalf("appends to live.log stalled at line %d of %d: the unlinked file's bytes hold the buffer\n%s",
			stalled, liveLines, m.Stderr())
	}
	select {
	case err := <-goneDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		m.Kill(t)
		waitChan(goneDone, time.Minute)
		t.Fatalf("writes to the unlinked file stalled (4 MiB through a 1 MiB buffer that its bytes can never leave)\n%s", m.Stderr())
	}
	gone.Close()
	live.f.Close()
	m.Unmount(t)
	counts, _ := countLines(t, srv.Get(t, b, "live.log"))
	for i := 1; i <= liveLines; i++ {
		if c := counts[lineOf("L", i)]; c != 1 {
			t.Fatalf("live.log line %d is in S3 %d times", i, c)
		}
	}
	if srv.Exists(t, b, "gone.log") {
		t.Fatal("S3 holds the unlinked gone.log")
	}
}

// fsync of a read-only descriptor (what `sync FILE` does) publishes the
// bytes a log handle wrote: after it returns, S3 holds them.
func TestFsyncReadOnlyDescriptorPublishes(t *testing.T) {
	srv, b := setup(t)
	m := mount(t, srv, b, "--upload-interval", "10m")
	p := filepath.Join(m.Dir, "app.log")
	log, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	var want bytes.Buffer
	for i := 1; i <= 100; i++ {
		want.WriteString(lineOf("S", i))
	}
	if _, err := log.Write(want.Bytes()); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sync", p).CombinedOutput(); err != nil {
		t.Fatalf("sync %s: %v %s", p, err, out)
	}
	if !srv.Exists(t, b, "app.log") {
		t.Fatalf("sync FILE returned, S3 has no app.log\n%s", m.Stderr())
	}
	if got := srv.Get(t, b, "app.log"); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("sync FILE returned, S3 holds %d bytes, want %d", len(got), want.Len())
	}
	// The same through a read-only descriptor of this process.
	if _, err := log.WriteString(lineOf("S", 101)); err != nil {
		t.Fatal(err)
	}
	want.WriteString(lineOf("S", 101))
	ro, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Sync(); err != nil {
		t.Fatalf("fsync O_RDONLY: %v", err)
	}
	if got := srv.Get(t, b, "app.log"); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("fsync O_RDONLY returned, S3 holds %d bytes, want %d", len(got), want.Len())
	}
}

// waitChan waits up to d for one value on c.
func waitChan[T any](c <-chan T, d time.Duration) {
	select {
	case <-c:
	case <-time.After(d):
	}
}
