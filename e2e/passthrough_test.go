package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
	"golang.org/x/sys/unix"
)

// FUSE passthrough (the kernel reads a file whose bytes are all in the
// spool straight from the spool's data file) and --no-passthrough.

const passthroughOnLog = "reads of files in the spool: FUSE passthrough"

// ptMount mounts with metrics (to tell whether reads reached the daemon)
// and, for "off", --no-passthrough.
func ptMount(t *testing.T, srv *testenv.Server, b, mode string, extra ...string) (*testenv.Mount, string) {
	t.Helper()
	return ptMountVia(t, srv.Endpoint, nil, srv, b, mode, extra...)
}

// ptMountVia is ptMount through endpoint (a fault proxy), with env added
// to the daemon's environment.
func ptMountVia(t *testing.T, endpoint string, env []string, srv *testenv.Server, b, mode string, extra ...string) (*testenv.Mount, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	args := append([]string{"--metrics-addr", addr}, extra...)
	if mode == "off" {
		args = append(args, "--no-passthrough")
	}
	m := testenv.MountBinaryEnv(t, env, endpoint, srv, b, args...)
	if mode == "on" {
		if c := strings.Count(m.Stderr(), passthroughOnLog); c != 1 {
			t.Fatalf("the log says %d times that passthrough is on, want once:\n%s", c, m.Stderr())
		}
	} else if !strings.Contains(m.Stderr(), "FUSE passthrough off") || !strings.Contains(m.Stderr(), "--no-passthrough") {
		t.Fatalf("the log does not say passthrough is off because of --no-passthrough:\n%s", m.Stderr())
	}
	return m, addr
}

// ptCounters are the daemon's count of FUSE reads and of opens the kernel
// serves from the spool file.
func ptCounters(t *testing.T, addr string) (reads, localOpens float64) {
	t.Helper()
	v := scrapeValues(t, addr, `s3mount_fuse_op_seconds_count{op="read"}`, "s3mount_passthrough_opens_total")
	return v[0], v[1]
}

// scrapeValues are the values of the named series (name and labels, as
// printed) on the daemon's metrics endpoint; 0 for one not printed.
func scrapeValues(t *testing.T, addr string, series ...string) []float64 {
	t.Helper()
	out := make([]float64, len(series))
	for _, l := range strings.Split(scrapeText(t, addr), "\n") {
		for i, s := range series {
			if strings.HasPrefix(l, s+" ") {
				out[i], _ = strconv.ParseFloat(l[len(s)+1:], 64)
			}
		}
	}
	return out
}

// checkPassthrough: with passthrough on, the reads since before were all
// served by the kernel from the spool file (none reached the daemon) and
// at least one open was local; off, the reads reached the daemon.
func checkPassthrough(t *testing.T, mode, addr string, readsBefore float64) {
	t.Helper()
	reads, local := ptCounters(t, addr)
	switch mode {
	case "on":
		if local < 1 || reads != readsBefore {
			t.Fatalf("passthrough on: %v local opens, %v FUSE reads reached the daemon: want >= 1 and none", local, reads-readsBefore)
		}
	default:
		if local != 0 || reads == readsBefore {
			t.Fatalf("passthrough off: %v local opens, %v FUSE reads reached the daemon: want none and some", local, reads-readsBefore)
		}
	}
}

// A reader opened while a writer holds the log open sees every write at
// once: its bytes, the size (fstat of the reader and stat of the name)
// and an mtime that advances; with passthrough on and off.
func TestPassthroughReadWhileWriting(t *testing.T) {
	for _, mode := range []string{"on", "off"} {
		t.Run(mode, func(t *testing.T) {
			srv, b := setup(t)
			m, addr := ptMount(t, srv, b, mode, "--upload-interval", "1h")
			p := filepath.Join(m.Dir, "live.log")
			w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, err := w.WriteString("first\n"); err != nil {
				t.Fatal(err)
			}
			before, _ := ptCounters(t, addr)
			r, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			all := []byte("first\n")
			var last time.Time
			for i := 0; i < 50; i++ {
				line := []byte(fmt.Sprintf("event %d %s\n", i, strings.Repeat("x", i*97%300)))
				if _, err := w.Write(line); err != nil {
					t.Fatal(err)
				}
				all = append(all, line...)
				got := make([]byte, len(line))
				if n, err := r.ReadAt(got, int64(len(all)-len(line))); n != len(line) || !bytes.Equal(got, line) {
					t.Fatalf("write %d: reader saw %q (%v), want %q", i, got[:n], err, line)
				}
				var fst, st syscall.Stat_t
				if err := syscall.Fstat(int(r.Fd()), &fst); err != nil {
					t.Fatal(err)
				}
				if err := syscall.Stat(p, &st); err != nil {
					t.Fatal(err)
				}
				if fst.Size != int64(len(all)) || st.Size != int64(len(all)) {
					t.Fatalf("write %d: fstat size %d, stat size %d, want %d", i, fst.Size, st.Size, len(all))
				}
				mt := time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
				if mt.Before(last) {
					t.Fatalf("mtime went back from %v to %v", last, mt)
				}
				last = mt
			}
			if !last.After(time.Now().Add(-time.Minute)) {
				t.Fatalf("mtime %v does not follow the writes", last)
			}
			// A whole-file read (grep, cat) through the reader.
			whole, err := io.ReadAll(io.NewSectionReader(r, 0, 1<<30))
			if err != nil || !bytes.Equal(whole, all) {
				t.Fatalf("whole read: %d bytes (%v), want %d", len(whole), err, len(all))
			}
			checkPassthrough(t, mode, addr, before)
			r.Close()
			w.Close()
			m.Unmount(t)
			if got := srv.Get(t, b, "live.log"); !bytes.Equal(got, all) {
				t.Fatalf("object: %d bytes, want %d", len(got), len(all))
			}
		})
	}
}

// readAllAt reads f from off to its end.
func readAllAt(t *testing.T, f *os.File, off int64) string {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(f, off, 1<<40))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// copytruncate of a log a reader holds open: the copy has every byte, and
// after the truncation the reader sees the new, shorter file (never the
// old bytes past its end), then what is written after; also truncation
// to a size inside the file. With passthrough on and off.
func TestPassthroughTruncateUnderReader(t *testing.T) {
	for _, mode := range []string{"on", "off"} {
		t.Run(mode, func(t *testing.T) {
			srv, b := setup(t)
			m, addr := ptMount(t, srv, b, mode, "--upload-interval", "1h")
			p := filepath.Join(m.Dir, "app.log")
			w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var old bytes.Buffer
			for i := 0; i < 2000; i++ {
				fmt.Fprintf(&old, "old line %d\n", i)
			}
			if _, err := w.Write(old.Bytes()); err != nil {
				t.Fatal(err)
			}
			before, _ := ptCounters(t, addr)
			r, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := readAllAt(t, r, 0); got != old.String() {
				t.Fatalf("reader before the rotation: %d bytes, want %d", len(got), old.Len())
			}
			bash(t, fmt.Sprintf("cp %q %q.1 && truncate -s 0 %q", p, p, p))
			var st syscall.Stat_t
			if err := syscall.Fstat(int(r.Fd()), &st); err != nil || st.Size != 0 {
				t.Fatalf("fstat of the reader after truncate: size %d (%v), want 0", st.Size, err)
			}
			if got := readAllAt(t, r, 0); got != "" {
				t.Fatalf("reader after truncate -s 0: %q..., want nothing", got[:min(len(got), 40)])
			}
			if got := readAllAt(t, r, int64(old.Len()-20)); got != "" {
				t.Fatalf("reader at its old offset after truncate: %q, want nothing", got)
			}
			if _, err := w.WriteString("after rotation\n"); err != nil {
				t.Fatal(err)
			}
			if got := readAllAt(t, r, 0); got != "after rotation\n" {
				t.Fatalf("reader after a write past the truncation: %q", got)
			}
			if err := os.Truncate(p, 5); err != nil {
				t.Fatal(err)
			}
			if got := readAllAt(t, r, 0); got != "after" {
				t.Fatalf("reader after truncate -s 5: %q, want %q", got, "after")
			}
			if _, err := w.WriteString("!\n"); err != nil {
				t.Fatal(err)
			}
			if got := readAllAt(t, r, 0); got != "after!\n" {
				t.Fatalf("reader after truncate -s 5 and a write: %q", got)
			}
			checkPassthrough(t, mode, addr, before)
			// (The copy, published at close and read back from S3, is read
			// through the daemon.)
			if got, err := os.ReadFile(p + ".1"); err != nil || string(got) != old.String() {
				t.Fatalf("the copy: %d bytes (%v), want %d", len(got), err, old.Len())
			}
			r.Close()
			w.Close()
			m.Unmount(t)
			if got := string(srv.Get(t, b, "app.log")); got != "after!\n" {
				t.Fatalf("object: %q, want %q", got, "after!\n")
			}
			if got := srv.Get(t, b, "app.log.1"); !bytes.Equal(got, old.Bytes()) {
				t.Fatalf("the copy's object: %d bytes, want %d", len(got), old.Len())
			}
		})
	}
}

// Writers that open while a reader reads the spool file directly (the
// kernel then allows only opens that name the same file) open without
// EIO, their bytes reach the reader at once and S3 at the end; a
// read-write open reads through the daemon, a second reader maps the file.
// Once every such open is closed, page-cached opens work again.
func TestPassthroughWritersBesideReader(t *testing.T) {
	srv, b := setup(t)
	m, addr := ptMount(t, srv, b, "on", "--upload-interval", "1h")
	p := filepath.Join(m.Dir, "shared.log")
	w1, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	want := "w1 first\n"
	if _, err := w1.WriteString(want); err != nil {
		t.Fatal(err)
	}
	before, _ := ptCounters(t, addr)
	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	w2, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatalf("a writer opening beside a passthrough reader: %v", err)
	}
	if _, err := w2.WriteString("w2 line\n"); err != nil {
		t.Fatal(err)
	}
	want += "w2 line\n"
	bash(t, fmt.Sprintf("echo 'shell line' >> %q", p))
	want += "shell line\n"
	rw, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("a read-write open beside a passthrough reader: %v", err)
	}
	if _, err := rw.WriteAt([]byte("rw line\n"), int64(len(want))); err != nil {
		t.Fatal(err)
	}
	want += "rw line\n"
	if got := readAllAt(t, rw, 0); got != want {
		t.Fatalf("read through the read-write open: %q, want %q", got, want)
	}
	// Its reads reach the daemon; from here on only local opens read.
	before, _ = ptCounters(t, addr)
	if got := readAllAt(t, r, 0); got != want {
		t.Fatalf("reader: %q, want %q", got, want)
	}
	r2, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	mm, err := syscall.Mmap(int(r2.Fd()), 0, len(want), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap of a second reader: %v", err)
	}
	if string(mm) != want {
		t.Fatalf("mmap: %q, want %q", mm, want)
	}
	syscall.Munmap(mm)
	r2.Close()
	rw.Close()
	r.Close()
	w1.Close()
	// Only w2 (which named the spool file) is open: a new reader still
	// reads it directly, and sees what w2 writes.
	r3, err := os.Open(p)
	if err != nil {
		t.Fatalf("a reader beside the remaining writer: %v", err)
	}
	if _, err := w2.WriteString("w2 again\n"); err != nil {
		t.Fatal(err)
	}
	want += "w2 again\n"
	if got := readAllAt(t, r3, 0); got != want {
		t.Fatalf("reader beside the remaining writer: %q, want %q", got, want)
	}
	r3.Close()
	w2.Close()
	checkPassthrough(t, "on", addr, before)
	_, local := ptCounters(t, addr)
	if local < 3 {
		t.Fatalf("%v opens read the spool file directly, want 3", local)
	}
	// Nothing names the spool file any more: a page-cached read-write
	// open, then a reader beside it (which must then be page-cached too).
	rw, err = os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err = os.Open(p)
	if err != nil {
		t.Fatalf("a reader beside a page-cached read-write open: %v", err)
	}
	if got := readAllAt(t, r, 0); got != want {
		t.Fatalf("page-cached reader: %q, want %q", got, want)
	}
	if _, l := ptCounters(t, addr); l != local {
		t.Fatalf("a reader beside a page-cached open read the spool file directly (%v local opens, were %v)", l, local)
	}
	r.Close()
	rw.Close()
	m.Unmount(t)
	if got := string(srv.Get(t, b, "shared.log")); got != want {
		t.Fatalf("object: %q, want %q", got, want)
	}
}

// SIGKILL of the daemon while a writer appends and a reader reads the
// spool file directly: the remount publishes every acknowledged line once.
func TestPassthroughSigkillThenRemount(t *testing.T) {
	srv, b := setup(t)
	spoolDir := t.TempDir()
	m, addr := ptMount(t, srv, b, "on", "--spool-dir", spoolDir, "--upload-interval", "300ms")
	p := filepath.Join(m.Dir, "crash.log")
	a := openAppender(t, p, "P")
	a.write(1)
	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 1
	for n < 2000 {
		n++
		if !a.write(n) {
			t.Fatalf("write %d failed before the kill", n)
		}
		if n%400 == 0 {
			if got := readAllAt(t, r, 0); !strings.HasSuffix(got, lineOf("P", n)) {
				t.Fatalf("reader after line %d ends with %q", n, got[max(0, len(got)-120):])
			}
			time.Sleep(400 * time.Millisecond) // publications mid-stream
		}
	}
	if _, local := ptCounters(t, addr); local < 1 {
		t.Fatal("the reader did not read the spool file directly")
	}
	m.Kill(t)
	for a.write(n + 1) {
		n++
	}
	a.f.Close()
	r.Close()
	acked := int(a.acked.Load())
	m2 := mount(t, srv, b, "--spool-dir", spoolDir)
	m2.Unmount(t)
	counts, _ := countLines(t, srv.Get(t, b, "crash.log"))
	for i := 1; i <= acked; i++ {
		if c := counts[lineOf("P", i)]; c != 1 {
			t.Fatalf("acknowledged line %d is in S3 %d times", i, c)
		}
	}
	if len(counts) != acked {
		t.Fatalf("S3 has %d distinct lines, %d were acknowledged", len(counts), acked)
	}
}

// openDirectReader opens p for reading; the kernel must read its spool
// file directly (the test needs it).
func openDirectReader(t *testing.T, addr, p string) *os.File {
	t.Helper()
	_, local0 := ptCounters(t, addr)
	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, local := ptCounters(t, addr); local != local0+1 {
		r.Close()
		t.Fatalf("the reader does not read the spool file directly (%v local opens, were %v): the test needs it", local, local0)
	}
	return r
}

// A read-write open beside a reader of the spool file (Python's
// open('a+') beside `tail -f`), another host's line appended meanwhile:
// its close publishes what it wrote after theirs, or nothing if it wrote
// nothing, not the whole file over theirs. Before, every such open was
// published whole (a shared mapping might have written the spool file):
// a whole upload, refused as a conflict, the open's lines kept in the
// spool. When its line was published before the other host's (fsync),
// the bytes S3 got during the open are read back and found unchanged.
func TestPassthroughReadWriteOpenBesideReader(t *testing.T) {
	for _, c := range []struct {
		name         string
		flags        int
		line         string
		fsync        bool
		theirs, want string
	}{
		{"nothing written", os.O_RDWR, "", false, "line one\nanother host's line\n", "line one\nanother host's line\n"},
		{"appended", os.O_RDWR | os.O_APPEND, "ours\n", false, "line one\nanother host's line\n", "line one\nanother host's line\nours\n"},
		{"appended, fsync", os.O_RDWR | os.O_APPEND, "ours\n", true, "line one\nours\nanother host's line\n", "line one\nours\nanother host's line\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, b := setup(t)
			m, addr := ptMount(t, srv, b, "on", "--upload-interval", "1s", "--allow-overwrite", "--metadata-ttl", "1h")
			p := filepath.Join(m.Dir, "app.log")
			w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.WriteString("line one\n"); err != nil {
				t.Fatal(err)
			}
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			r := openDirectReader(t, addr, p)
			rw, err := os.OpenFile(p, c.flags, 0)
			if err != nil {
				t.Fatal(err)
			}
			if c.line != "" {
				if _, err := rw.WriteString(c.line); err != nil {
					t.Fatal(err)
				}
			}
			if c.fsync {
				if err := rw.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			srv.Put(t, b, "app.log", []byte(c.theirs))
			if err := rw.Close(); err != nil {
				t.Fatal(err)
			}
			r.Close()
			w.Close()
			m.Unmount(t)
			if got := string(srv.Get(t, b, "app.log")); got != c.want {
				t.Errorf("S3 holds %q, want %q", got, c.want)
			}
			if strings.Contains(m.Stderr(), "publication refused") {
				t.Errorf("a conflict was reported:\n%s", m.Stderr())
			}
		})
	}
}

// As TestPassthroughReadWriteOpenBesideReader's "appended, fsync", with S3
// down when the read-write open closes: the look at the bytes S3 got
// during the open is its publication job's, retried until S3 is back;
// then the bytes read back unchanged and the log goes on as an append
// after the other host's line. Before, the close's one GET failed and the
// file was published whole: refused as a conflict after the other host's
// line (the open's lines kept in the spool, EIO at the next fsync).
func TestPassthroughReadWriteOpenBesideReaderS3Down(t *testing.T) {
	srv, b := setup(t)
	p := testenv.NewProxy(t, srv.Endpoint)
	// Two tries per request: the look fails quickly while S3 is down.
	m, addr := ptMountVia(t, p.URL, []string{"AWS_MAX_ATTEMPTS=2"}, srv, b, "on", "--upload-interval", "1s", "--allow-overwrite", "--metadata-ttl", "1h")
	path := filepath.Join(m.Dir, "app.log")
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteString("line one\n"); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	r := openDirectReader(t, addr, path)
	defer r.Close()
	rw, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rw.WriteString("ours\n"); err != nil {
		t.Fatal(err)
	}
	if err := rw.Sync(); err != nil {
		t.Fatal(err)
	}
	srv.Put(t, b, "app.log", []byte("line one\nours\nanother host's line\n"))
	p.SetOutage(true)
	if err := rw.Close(); err != nil {
		p.SetOutage(false)
		t.Fatal(err)
	}
	// The close's release reaches the daemon after close(2) returns: the
	// job's look fails while S3 is down.
	if !waitUntil(time.Minute, func() bool { return strings.Contains(m.Stderr(), "publication failed") }) {
		p.SetOutage(false)
		t.Fatalf("no failed publication logged while S3 was down:\n%s", m.Stderr())
	}
	p.SetOutage(false)
	r.Close()
	if _, err := w.WriteString("two\n"); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatalf("fsync once S3 is back: %v", err)
	}
	w.Close()
	m.Unmount(t)
	if got, want := string(srv.Get(t, b, "app.log")), "line one\nours\nanother host's line\ntwo\n"; got != want {
		t.Errorf("S3 holds %q, want %q", got, want)
	}
	if strings.Contains(m.Stderr(), "publication refused") {
		t.Errorf("a conflict was reported:\n%s", m.Stderr())
	}
}

// A read-write open made while a reader reads the spool file directly
// names that file too, so a shared writable mapping of it writes the data
// file past the daemon. With --allow-overwrite (published bytes may be
// replaced) the file is published whole after such an open:
// S3 ends up with the bytes the mount showed (before, it kept the old
// ones for good: the changed range had been published already).
func TestPassthroughSharedMapIsPublished(t *testing.T) {
	srv, b := setup(t)
	m, addr := ptMount(t, srv, b, "on", "--upload-interval", "1s", "--allow-overwrite")
	p := filepath.Join(m.Dir, "mapped.log")
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString("line one\nline two\n"); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := string(srv.Get(t, b, "mapped.log")); got != "line one\nline two\n" {
		t.Fatalf("object after fsync: %q", got)
	}
	r := openDirectReader(t, addr, p)
	rw, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	mm, err := syscall.Mmap(int(rw.Fd()), 0, 8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatalf("shared writable mmap beside a passthrough reader: %v", err)
	}
	copy(mm, "LINE ONE")
	if err := unix.Msync(mm, unix.MS_SYNC); err != nil {
		t.Fatal(err)
	}
	syscall.Munmap(mm)
	if err := rw.Close(); err != nil {
		t.Fatal(err)
	}
	want := "LINE ONE\nline two\n"
	if got := readAllAt(t, r, 0); got != want {
		t.Fatalf("the reader after the mapped write: %q, want %q", got, want)
	}
	r.Close()
	w.Close()
	deadline := time.Now().Add(time.Minute)
	for {
		got := string(srv.Get(t, b, "mapped.log"))
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute after the mapped write S3 holds %q; the mount showed %q", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.Unmount(t)
	if got := string(srv.Get(t, b, "mapped.log")); got != want {
		t.Fatalf("after unmount S3 holds %q, want %q", got, want)
	}
}

// As TestPassthroughSharedMapIsPublished, the daemon SIGKILLed while the
// mapping is still open: the open recorded that every byte S3 has is to
// be compared, so the remount reads them back before publishing and
// publishes the file whole. The log's new line is published while the
// open lasts (fsync), without a look (a mapped write may follow any).
// Before, nothing was recorded until the open's release, which never
// came: S3 kept the bytes from before the mapped write for good.
func TestPassthroughSharedMapSurvivesSIGKILL(t *testing.T) {
	srv, b := setup(t)
	spoolDir := t.TempDir()
	m, addr := ptMount(t, srv, b, "on", "--spool-dir", spoolDir, "--upload-interval", "1s", "--allow-overwrite")
	p := filepath.Join(m.Dir, "mapped.log")
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteString("line one\nline two\n"); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	r := openDirectReader(t, addr, p)
	defer r.Close()
	rw, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if _, err := w.WriteString("line three\n"); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatalf("fsync while the read-write open lasts: %v", err)
	}
	if got, want := string(srv.Get(t, b, "mapped.log")), "line one\nline two\nline three\n"; got != want {
		t.Fatalf("S3 holds %q while the read-write open lasts, want %q", got, want)
	}
	mm, err := syscall.Mmap(int(rw.Fd()), 0, 8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatalf("shared writable mmap beside a passthrough reader: %v", err)
	}
	defer syscall.Munmap(mm)
	copy(mm, "LINE ONE")
	if err := unix.Msync(mm, unix.MS_SYNC); err != nil {
		t.Fatal(err)
	}
	want := "LINE ONE\nline two\nline three\n"
	if got := readAllAt(t, r, 0); got != want {
		t.Fatalf("the reader after the mapped write: %q, want %q", got, want)
	}
	m.Kill(t)
	syscall.Munmap(mm)
	rw.Close()
	r.Close()
	w.Close()
	m2 := mount(t, srv, b, "--spool-dir", spoolDir, "--allow-overwrite")
	m2.Unmount(t)
	if got := string(srv.Get(t, b, "mapped.log")); got != want {
		t.Fatalf("after the remount S3 holds %q; the mount showed %q", got, want)
	}
	if strings.Contains(m2.Stderr(), "publication refused") {
		t.Errorf("a conflict was reported:\n%s", m2.Stderr())
	}
}
