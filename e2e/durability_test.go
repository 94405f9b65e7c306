package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// lineOf is the n-th line a durability writer writes (fixed width, so
// byte counts are easy to reason about).
func lineOf(tag string, n int) string {
	return fmt.Sprintf("%s-%d-%0100d\n", tag, n, n)
}

// appender writes numbered lines through one O_APPEND fd and remembers
// which write() calls succeeded.
type appender struct {
	f     *os.File
	tag   string
	acked atomic.Int64 // lines whose write returned success
	lat   []time.Duration
}

func openAppender(t *testing.T, path, tag string) *appender {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return &appender{f: f, tag: tag}
}

// write writes line n; false once the mount is gone.
func (a *appender) write(n int) bool {
	start := time.Now()
	_, err := a.f.WriteString(lineOf(a.tag, n))
	a.lat = append(a.lat, time.Since(start))
	if err != nil {
		return false
	}
	a.acked.Store(int64(n))
	return true
}

// countLines maps each well-formed line of obj to how often it occurs, and
// fails on any torn line: marker lines are the only foreign lines allowed
// (non-blocking mode never publishes part of a line).
func countLines(t *testing.T, obj []byte) (map[string]int, []string) {
	t.Helper()
	counts := map[string]int{}
	var markers []string
	re := regexp.MustCompile(`^([A-Z]+)-(\d+)-(\d{100})$`)
	for _, l := range lines(string(obj)) {
		if strings.HasPrefix(l, "s3mount: dropped ") {
			markers = append(markers, l)
			continue
		}
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("torn or foreign line in the object: %q", l)
		}
		n, _ := strconv.Atoi(m[2])
		if fmt.Sprintf("%0100d", n) != m[3] {
			t.Fatalf("corrupt line %q", l)
		}
		counts[l+"\n"]++
	}
	return counts, markers
}

// markedBytes is the sum of the byte counts the marker lines report.
func markedBytes(t *testing.T, markers []string) int {
	t.Helper()
	re := regexp.MustCompile(`^s3mount: dropped (\d+) bytes in (\d+) writes`)
	sum := 0
	for _, m := range markers {
		g := re.FindStringSubmatch(m)
		if g == nil {
			t.Fatalf("malformed marker %q", m)
		}
		n, _ := strconv.Atoi(g[1])
		sum += n
	}
	return sum
}

// SIGKILL of the daemon while a writer appends; a remount with the same
// spool publishes the rest. Every line whose write() succeeded is in S3
// exactly once.
func TestSigkillThenRemount(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	spoolDir := t.TempDir()
	m := testenv.MountBinary(t, srv.Endpoint, srv, b, "--spool-dir", spoolDir, "--upload-interval", "300ms")
	a := openAppender(t, filepath.Join(m.Dir, "crash.log"), "K")
	n := 0
	for n < 3000 {
		n++
		if !a.write(n) {
			t.Fatalf("write %d failed before the kill", n)
		}
		if n%500 == 0 {
			time.Sleep(400 * time.Millisecond) // let publications happen mid-stream
		}
	}
	m.Kill(t)
	// Writes after the kill fail (the mount is gone): they are not acked.
	for a.write(n + 1) {
		n++
	}
	a.f.Close()
	acked := int(a.acked.Load())

	m2 := testenv.MountBinary(t, srv.Endpoint, srv, b, "--spool-dir", spoolDir)
	m2.Unmount(t)
	counts, _ := countLines(t, srv.Get(t, b, "crash.log"))
	for i := 1; i <= acked; i++ {
		if c := counts[lineOf("K", i)]; c != 1 {
			t.Fatalf("acknowledged line %d is in S3 %d times", i, c)
		}
	}
	if len(counts) != acked {
		t.Fatalf("S3 has %d distinct lines, %d were acknowledged", len(counts), acked)
	}
	if left, _ := filepath.Glob(filepath.Join(spoolDir, "*.json")); len(left) != 0 {
		t.Fatalf("spool still holds %v after the remount published", left)
	}
}

// S3 down for a long outage while appending, blocking mode: no write()
// fails, writers that fill the buffer wait (back-pressure) and resume when
// S3 returns, and every line is in S3 once.
func TestOutageBlockingMode(t *testing.T) {
	t.Parallel()
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m, p := mountVia(t, srv, b, "--upload-interval", "1s", "--max-buffer-size", "256k")
	a := openAppender(t, filepath.Join(m.Dir, "outage.log"), "O")
	for i := 1; i <= 100; i++ {
		a.write(i)
	}
	p.SetOutage(true)
	outage := 60 * time.Second
	if testing.Short() {
		outage = 10 * time.Second
	}
	// Far more than the buffer holds: the writer must block, not fail.
	done := make(chan bool, 1)
	go func() {
		ok := true
		for i := 101; i <= 5000 && ok; i++ {
			ok = a.write(i)
		}
		done <- ok
	}()
	select {
	case <-done:
		t.Fatal("5,000 lines (500 KiB) fit a 256 KiB buffer while S3 was down: no back-pressure")
	case <-time.After(outage):
	}
	if got := a.acked.Load(); got < 2000 {
		t.Logf("during the outage %d lines were accepted", got)
	}
	p.SetOutage(false)
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("a write failed during the outage")
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("writers still blocked 3 minutes after S3 came back")
	}
	a.f.Close()
	m.Unmount(t)
	counts, _ := countLines(t, srv.Get(t, b, "outage.log"))
	for i := 1; i <= 5000; i++ {
		if c := counts[lineOf("O", i)]; c != 1 {
			t.Fatalf("line %d is in S3 %d times", i, c)
		}
	}
}

var markerRE = regexp.MustCompile(`^s3mount: dropped (\d+) bytes in (\d+) writes between \S+ and \S+: buffer full$`)

// Non-blocking mode, S3 down, 1 MiB buffer, a writer producing 10 MiB:
// write() never waits, the dropped bytes are counted and marked in the
// file, and every line that was not dropped is in S3.
func TestNonBlockingDropsAreCountedAndMarked(t *testing.T) {
	t.Parallel()
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m, p := mountVia(t, srv, b, "--upload-interval", "1s", "--buffer-mode", "non-blocking", "--max-buffer-size", "1m")
	a := openAppender(t, filepath.Join(m.Dir, "drops.log"), "N")
	for i := 1; i <= 200; i++ {
		a.write(i)
	}
	healthy := append([]time.Duration(nil), a.lat...)
	p.SetOutage(true)
	total := 10<<20/len(lineOf("N", 100000)) + 200
	for i := 201; i <= total; i++ {
		if !a.write(i) {
			t.Fatalf("write %d failed in non-blocking mode", i)
		}
	}
	down := a.lat[200:]
	p.SetOutage(false)
	// Once the buffer drains, the next write puts the marker first.
	deadline := time.Now().Add(2 * time.Minute)
	for srv.Exists(t, b, "drops.log") == false || len(srv.Get(t, b, "drops.log")) < 900<<10 {
		if time.Now().After(deadline) {
			t.Fatal("the buffer did not drain after S3 came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	a.write(total + 1)
	a.f.Close()
	m.Unmount(t)
	obj := srv.Get(t, b, "drops.log")
	counts, markers := countLines(t, obj)
	if len(markers) != 1 {
		t.Fatalf("want one marker line, got %q", markers)
	}
	mm := markerRE.FindStringSubmatch(markers[0])
	if mm == nil {
		t.Fatalf("marker line %q is malformed", markers[0])
	}
	dropped, _ := strconv.Atoi(mm[1])
	writes, _ := strconv.Atoi(mm[2])
	kept := 0
	for i := 1; i <= total+1; i++ {
		switch counts[lineOf("N", i)] {
		case 1:
			kept++
		case 0:
		default:
			t.Fatalf("line %d is in S3 twice", i)
		}
	}
	lineLen := len(lineOf("N", total))
	// The marker counts FUSE write requests; the kernel splits a write()
	// that crosses a page boundary in two, so it may count more.
	if missing := total + 1 - kept; missing == 0 || writes < missing || writes > 2*missing {
		t.Fatalf("%d lines missing but the marker counts %d dropped writes", missing, writes)
	}
	// Lines have nearly the same length; the marker's byte count is exact.
	var missingBytes int
	for i := 1; i <= total+1; i++ {
		if counts[lineOf("N", i)] == 0 {
			missingBytes += len(lineOf("N", i))
		}
	}
	if missingBytes != dropped {
		t.Fatalf("%d bytes missing, marker says %d (line length %d)", missingBytes, dropped, lineLen)
	}
	if !bytes.Contains(obj, []byte(lineOf("N", total+1))) {
		t.Fatal("the line written after S3 came back is missing")
	}
	t.Logf("non-blocking: %d of %d writes dropped (%d bytes); write latency p99 healthy %v, S3 down %v",
		writes, total+1, dropped, p99(healthy), p99(down))
}

func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)*99/100]
}

// 503 SlowDown storms and connection resets: nothing lost, nothing
// duplicated.
func TestSlowDownAndResets(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m, p := mountVia(t, srv, b, "--upload-interval", "200ms", "--close-delay", "100ms")
	p.SetSlowDown(3)
	p.SetResets(7)
	a := openAppender(t, filepath.Join(m.Dir, "storm.log"), "S")
	for i := 1; i <= 2000; i++ {
		if !a.write(i) {
			t.Fatalf("write %d failed", i)
		}
		if i%200 == 0 {
			time.Sleep(300 * time.Millisecond)
		}
	}
	a.f.Close()
	m.Unmount(t)
	p.SetSlowDown(0)
	p.SetResets(0)
	counts, _ := countLines(t, srv.Get(t, b, "storm.log"))
	for i := 1; i <= 2000; i++ {
		if c := counts[lineOf("S", i)]; c != 1 {
			t.Fatalf("line %d is in S3 %d times", i, c)
		}
	}
}

// The spool on a small tmpfs that fills up: blocking mode waits and loses
// nothing; non-blocking mode drops and marks; the spool stays readable.
func TestSpoolDiskFull(t *testing.T) {
	for _, mode := range []string{"blocking", "non-blocking"} {
		t.Run(mode, func(t *testing.T) {
			srv := testenv.StartServer(t)
			b := srv.NewBucket(t)
			spoolDir := t.TempDir()
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", spoolDir).CombinedOutput(); err != nil {
				t.Fatalf("mount tmpfs: %v %s", err, out)
			}
			t.Cleanup(func() { exec.Command("umount", "-l", spoolDir).Run() })
			m, p := mountVia(t, srv, b, "--spool-dir", spoolDir, "--buffer-mode", mode, "--upload-interval", "1s")
			a := openAppender(t, filepath.Join(m.Dir, "full.log"), "F")
			p.SetOutage(true) // nothing can be published: the disk fills
			var wg sync.WaitGroup
			wg.Add(1)
			total := 8 << 20 / len(lineOf("F", 10000))
			okAll := true
			go func() {
				defer wg.Done()
				for i := 1; i <= total; i++ {
					if !a.write(i) {
						okAll = false
						return
					}
				}
			}()
			// S3 stays down until the disk is full (the daemon says so); in
			// non-blocking mode also until every line was written, so that
			// 8 MiB met a 3 MiB disk whatever the machine's speed.
			if !waitUntil(3*time.Minute, func() bool { return strings.Contains(m.Stderr(), "spool disk is full") }) {
				p.SetOutage(false)
				t.Fatal("the spool disk never filled with S3 down")
			}
			if mode == "non-blocking" {
				done := make(chan struct{})
				go func() { wg.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(3 * time.Minute):
					p.SetOutage(false)
					t.Fatal("non-blocking writes waited on a full spool disk")
				}
			}
			p.SetOutage(false)
			wg.Wait()
			if !okAll {
				t.Fatal("a write failed: a full spool disk must behave like a full buffer")
			}
			a.write(total + 1)
			a.f.Close()
			m.Unmount(t)
			counts, markers := countLines(t, srv.Get(t, b, "full.log"))
			missing, missingBytes := 0, 0
			for i := 1; i <= total+1; i++ {
				switch c := counts[lineOf("F", i)]; c {
				case 0:
					missing++
					missingBytes += len(lineOf("F", i))
				case 1:
				default:
					t.Fatalf("line %d is in S3 %d times", i, c)
				}
			}
			if mode == "blocking" && (missing != 0 || len(markers) != 0) {
				t.Fatalf("blocking mode lost %d lines (markers %q)", missing, markers)
			}
			if mode == "non-blocking" {
				if missing == 0 {
					t.Fatal("8 MiB fitted a 3 MiB spool disk with S3 down")
				}
				if len(markers) == 0 {
					t.Fatalf("%d lines dropped without a marker line", missing)
				}
				// Whole lines only: the markers account for every missing byte.
				if got := markedBytes(t, markers); got != missingBytes {
					t.Fatalf("markers report %d dropped bytes, %d lines (%d bytes) are missing: %q", got, missing, missingBytes, markers)
				}
			}
		})
	}
}

// A spool directory that belongs to another bucket is refused with a
// clear sentence.
func TestForeignSpoolRefused(t *testing.T) {
	srv := testenv.StartServer(t)
	b1, b2 := srv.NewBucket(t), srv.NewBucket(t)
	spoolDir := t.TempDir()
	m := testenv.MountBinary(t, srv.Endpoint, srv, b1, "--spool-dir", spoolDir)
	m.Unmount(t)
	dir := t.TempDir()
	cmd := exec.Command(testenv.Binary(t), "-f", "--endpoint-url", srv.Endpoint, "--force-path-style", "--region", srv.Region, "--spool-dir", spoolDir, b2, dir)
	cmd.Env = append(os.Environ(), srv.Env()...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		syscall.Unmount(dir, syscall.MNT_DETACH)
		t.Fatal("a spool of another bucket was accepted")
	}
	if !strings.Contains(string(out), "spool directory") || !strings.Contains(string(out), b1) {
		t.Fatalf("unclear message: %s", out)
	}
}

// A file written whole whose close failed because S3 was down (close
// says EIO: not in S3 yet) is published once S3 is back, with no further
// action: its bytes are not left in the spool until the unmount.
func TestFailedCloseIsRetried(t *testing.T) {
	t.Parallel()
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	p := testenv.NewProxy(t, srv.Endpoint)
	// Two tries per request: close gives up quickly while S3 is down.
	m := testenv.MountBinaryEnv(t, []string{"AWS_MAX_ATTEMPTS=2"}, p.URL, srv, b)
	data := randBytes(7, 300<<10)
	f, err := os.Create(filepath.Join(m.Dir, "whole.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	p.SetOutage(true)
	if err := f.Close(); !errors.Is(err, syscall.EIO) {
		p.SetOutage(false)
		t.Fatalf("close with S3 down: %v, want EIO", err)
	}
	p.SetOutage(false)
	if !waitUntil(2*time.Minute, func() bool {
		return srv.Exists(t, b, "whole.bin") && sha(srv.Get(t, b, "whole.bin")) == sha(data)
	}) {
		t.Fatal("the file whose close failed was not published after S3 came back")
	}
	if got, err := os.ReadFile(filepath.Join(m.Dir, "whole.bin")); err != nil || sha(got) != sha(data) {
		t.Fatalf("through the mount: %d bytes, %v", len(got), err)
	}
}
