package e2e

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// The stress workers are separate OS processes: the test binary re-executed
// with stressWorkerEnv set; init catches it before any test runs.
const stressWorkerEnv = "S3MOUNT_E2E_STRESS_WORKER" // "seed:id:dir:deadlineUnixNano"

const (
	stressDirs     = 3
	stressNames    = 6 // per directory: 18 names
	stressMaxOps   = 3000
	stressWorkers  = 8
	stressDuration = 20 * time.Second
)

func init() {
	spec := os.Getenv(stressWorkerEnv)
	if spec == "" {
		return
	}
	os.Exit(runStressWorker(spec))
}

// TestConcurrentProcessesStress: eight processes doing random appends,
// whole writes, edits at offsets, truncates, renames, unlinks, reads and
// fsyncs on 18 names in 3 directories of one mount. They may only get the
// errors a local file system would give (ENOENT when a name raced an unlink
// or rename); the mount never conflicts with itself; and after a clean
// unmount S3 holds exactly what the mount showed just before it.
// S3MOUNT_STRESS_SEED=N replays a seed.
func TestConcurrentProcessesStress(t *testing.T) {
	runStress(t, nil, nil, nil)
}

// The same under --compress gzip with half the names compressed (f0, f2,
// f4): renames move files between the forms while other processes append,
// edit, truncate and read them. S3 must hold each compressed file as one
// valid gzip stream (NAME.gz) of exactly the bytes the mount showed, and
// each plain one as it is; nothing in both forms.
func TestConcurrentProcessesStressCompressed(t *testing.T) {
	runStress(t, []string{"--compress", "gzip", "--compress-glob", "f[024]"}, func(key string, body []byte) (string, []byte, error) {
		name, ok := strings.CutSuffix(key, ".gz")
		if !ok {
			return key, body, nil
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return name, nil, err
		}
		data, err := io.ReadAll(zr) // every member: gzip.Reader reads a multistream
		return name, data, err
	}, nil)
}

// The same with a data cache (--cache on the spool's file system): reads
// of published files go through the kernel straight from the cache file
// (FUSE passthrough) while other processes append to, edit, truncate,
// rename and unlink them, so a cache file read directly becomes a
// writer's spool file under load (datacache.Give).
func TestConcurrentProcessesStressCached(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	runStress(t, []string{"--cache", t.TempDir(), "--metrics-addr", addr}, nil, func(m *testenv.Mount) []string {
		if !strings.Contains(m.Stderr(), cachePassthroughOnLog) {
			return []string{"the mount did not turn on passthrough of cached objects"}
		}
		opens := scrapeValues(t, addr, "s3mount_passthrough_cache_opens_total")[0]
		t.Logf("%v opens read a cache file directly", opens)
		if opens == 0 {
			return []string{"no open read a cache file directly: the stress did not exercise them"}
		}
		return nil
	})
}

// The same with a 16 KiB buffer in non-blocking mode: the buffer fills,
// log writers' lines that do not fit are dropped and marked, other
// writers wait for room. Nothing is dropped silently: S3 holds what the
// mount showed, markers and all, and no write fails. (It found two
// defects: a rewrite of unpublished bytes with the buffer over its bound
// returned 0 bytes written, and a log truncated inside a long line held
// room no publication could free while writers waited for it for good.)
func TestConcurrentProcessesStressFullBuffer(t *testing.T) {
	runStress(t, []string{"--buffer-mode", "non-blocking", "--max-buffer-size", "16k", "--upload-interval", "3s", "--close-delay", "3s"}, nil, func(m *testenv.Mount) []string {
		t.Logf("drop lines in the log: %d", strings.Count(m.Stderr(), "dropped"))
		return nil
	})
}

// runStress runs the stress workers on a mount with extra options and
// compares S3 with the mount's final view; decode (nil: none) maps an
// object to the file it holds and its bytes; check (nil: none) looks at
// the mount once the workers are done, before the unmount.
func runStress(t *testing.T, extra []string, decode func(key string, body []byte) (string, []byte, error), check func(*testenv.Mount) []string) {
	srv, b := setup(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("S3MOUNT_STRESS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("S3MOUNT_STRESS_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay with S3MOUNT_STRESS_SEED=%d)", seed, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("failed with seed %d (replay with S3MOUNT_STRESS_SEED=%d)", seed, seed)
		}
	})
	m := mount(t, srv, b, append([]string{"--allow-delete", "--allow-overwrite", "--upload-interval", "200ms", "--debug"}, extra...)...)
	for d := 0; d < stressDirs; d++ {
		if err := os.Mkdir(filepath.Join(m.Dir, stressDir(d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dur := stressDuration
	if testing.Short() {
		dur = 5 * time.Second
	}
	deadline := time.Now().Add(dur)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	type worker struct {
		cmd  *exec.Cmd
		out  testenv.LockedBuffer
		done chan error
	}
	ws := make([]*worker, stressWorkers)
	for i := range ws {
		w := &worker{done: make(chan error, 1)}
		w.cmd = exec.Command(exe, "-test.run=^$")
		w.cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d:%d:%s:%d", stressWorkerEnv, seed, i, m.Dir, deadline.UnixNano()))
		w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
		w.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := w.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { w.done <- w.cmd.Wait() }()
		ws[i] = w
	}
	// A worker still running long after the deadline is stuck in the mount.
	var failures []string
	totalOps := 0
	for i, w := range ws {
		select {
		case err := <-w.done:
			if err != nil {
				failures = append(failures, fmt.Sprintf("worker %d exited: %v", i, err))
			}
		case <-time.After(time.Until(deadline) + 90*time.Second):
			w.cmd.Process.Kill()
			<-w.done
			failures = append(failures, fmt.Sprintf("worker %d still running 90 s after the deadline (stuck in the mount); killed", i))
		}
		for _, l := range lines(w.out.String()) {
			if strings.HasPrefix(l, "FAIL ") {
				failures = append(failures, fmt.Sprintf("worker %d: %s", i, strings.TrimPrefix(l, "FAIL ")))
			}
			if n, ok := strings.CutPrefix(l, "DONE ops="); ok {
				k, _ := strconv.Atoi(strings.Fields(n)[0])
				totalOps += k
			}
		}
	}
	t.Logf("%d workers did %d operations", stressWorkers, totalOps)
	if check != nil {
		failures = append(failures, check(m)...)
	}
	// The mount's final view, just before the unmount.
	view := readTree(t, m.Dir)
	m.Unmount(t)
	if n := strings.Count(m.Stderr(), "publication refused"); n > 0 {
		failures = append(failures, fmt.Sprintf("the daemon logged %d times \"publication refused\" with no other writer", n))
	}
	failures = append(failures, compareWithS3(t, srv, b, view, decode)...)
	if len(failures) > 0 {
		sort.Strings(failures)
		t.Fatalf("%d failures (seed %d):\n%s", len(failures), seed, strings.Join(failures, "\n"))
	}
}

func stressDir(d int) string { return fmt.Sprintf("d%d", d) }

// readTree reads every file under dir: relative path (the S3 key) -> bytes.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	view := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		view[rel] = b
		return nil
	})
	if err != nil {
		t.Fatalf("reading the mount's final view: %v", err)
	}
	return view
}

// compareWithS3 lists the differences between the bucket and view.
// Directory markers ("d0/", empty) are not files. decode (nil: none)
// maps an object to the file it holds and its bytes.
func compareWithS3(t *testing.T, srv *testenv.Server, b string, view map[string][]byte, decode func(key string, body []byte) (string, []byte, error)) []string {
	t.Helper()
	var diffs []string
	inS3 := map[string]bool{}
	for _, k := range srv.Keys(t, b, "") {
		if strings.HasSuffix(k, "/") {
			if body := srv.Get(t, b, k); len(body) != 0 {
				diffs = append(diffs, fmt.Sprintf("S3: directory marker %q holds %d bytes", k, len(body)))
			}
			continue
		}
		name, got := k, srv.Get(t, b, k)
		if decode != nil {
			var err error
			if name, got, err = decode(k, got); err != nil {
				diffs = append(diffs, fmt.Sprintf("S3 %q: not a valid stream of the file %q: %v", k, name, err))
				continue
			}
		}
		if inS3[name] {
			diffs = append(diffs, fmt.Sprintf("S3 holds the file %q twice (in both forms)", name))
			continue
		}
		inS3[name] = true
		want, ok := view[name]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("S3 holds %q, which the mount did not show", k))
			continue
		}
		if !bytes.Equal(got, want) {
			diffs = append(diffs, fmt.Sprintf("S3 %q: %d bytes (sha %s), the mount showed %d bytes (sha %s); first difference at %d",
				k, len(got), sha(got)[:12], len(want), sha(want)[:12], firstDiff(got, want)))
		}
	}
	for k := range view {
		if !inS3[k] {
			diffs = append(diffs, fmt.Sprintf("the mount showed %q (%d bytes), S3 does not hold it", k, len(view[k])))
		}
	}
	return diffs
}

func firstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// stressWorker is one process's deterministic op script.
type stressWorker struct {
	id    int
	dir   string
	rng   *rand.Rand
	op    int
	log   *os.File // a long-lived O_APPEND handle, like a daemon's log
	fails int
}

func runStressWorker(spec string) int {
	parts := strings.SplitN(spec, ":", 4)
	if len(parts) != 4 {
		fmt.Println("FAIL bad worker spec", spec)
		return 2
	}
	seed, _ := strconv.ParseUint(parts[0], 10, 64)
	id, _ := strconv.Atoi(parts[1])
	dl, _ := strconv.ParseInt(parts[3], 10, 64)
	deadline := time.Unix(0, dl)
	w := &stressWorker{id: id, dir: parts[2], rng: rand.New(rand.NewPCG(seed, uint64(id)))}
	for w.op = 0; w.op < stressMaxOps && time.Now().Before(deadline); w.op++ {
		w.step()
	}
	if w.log != nil {
		w.check("close log", w.log.Close(), false)
	}
	fmt.Printf("DONE ops=%d fails=%d\n", w.op, w.fails)
	return 0
}

func (w *stressWorker) name() string {
	return filepath.Join(w.dir, stressDir(w.rng.IntN(stressDirs)), fmt.Sprintf("f%d", w.rng.IntN(stressNames)))
}

// payload is n bytes that say who wrote them, ending in a newline.
func (w *stressWorker) payload(n int) []byte {
	head := fmt.Sprintf("w%d-op%d:", w.id, w.op)
	b := []byte(head + strings.Repeat(string(rune('a'+w.op%26)), max(0, n-len(head)-1)) + "\n")
	return b
}

// check records err; pathOp errors may be ENOENT (a name raced an unlink
// or rename), nothing else is what a local file system would give.
func (w *stressWorker) check(what string, err error, pathOp bool) bool {
	if err == nil {
		return true
	}
	if pathOp && errors.Is(err, syscall.ENOENT) {
		return false
	}
	w.fails++
	fmt.Printf("FAIL op %d %s: %v\n", w.op, what, err)
	return false
}

func (w *stressWorker) step() {
	p := w.name()
	short := strings.TrimPrefix(p, w.dir+"/")
	switch k := w.rng.IntN(100); {
	case k < 20: // append: open, write, close (echo >> f)
		data := w.payload(20 + w.rng.IntN(200))
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if !w.check("open append "+short, err, true) {
			return
		}
		_, err = f.Write(data)
		w.check("append write "+short, err, false)
		w.check("append close "+short, f.Close(), false)
	case k < 32: // the long-lived log handle
		if w.log == nil || w.rng.IntN(8) == 0 {
			if w.log != nil {
				w.check("close log", w.log.Close(), false)
				w.log = nil
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if !w.check("open log "+short, err, true) {
				return
			}
			w.log = f
		}
		_, err := w.log.Write(w.payload(20 + w.rng.IntN(100)))
		w.check("log write", err, false)
		if w.rng.IntN(4) == 0 {
			w.check("log fsync", w.log.Sync(), false)
		}
	case k < 44: // whole write: create/O_TRUNC, write, close
		data := w.payload(w.rng.IntN(16 << 10))
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if !w.check("open trunc "+short, err, true) {
			return
		}
		_, err = f.Write(data)
		w.check("whole write "+short, err, false)
		w.check("whole close "+short, f.Close(), false)
	case k < 56: // edit at an offset (pwrite, no O_APPEND)
		data := w.payload(1 + w.rng.IntN(100))
		off := int64(w.rng.IntN(8 << 10))
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
		if !w.check("open edit "+short, err, true) {
			return
		}
		if fi, err := f.Stat(); w.check("fstat "+short, err, false) && fi.Size() > 0 {
			off %= fi.Size() + 1
		}
		_, err = f.WriteAt(data, off)
		w.check(fmt.Sprintf("pwrite %s at %d", short, off), err, false)
		if w.rng.IntN(3) == 0 {
			w.check("edit fsync "+short, f.Sync(), false)
		}
		w.check("edit close "+short, f.Close(), false)
	case k < 62: // truncate
		n := int64(w.rng.IntN(4 << 10))
		w.check(fmt.Sprintf("truncate %s to %d", short, n), os.Truncate(p, n), true)
	case k < 70: // rename, maybe over an existing name
		q := w.name()
		w.check("rename "+short+" -> "+strings.TrimPrefix(q, w.dir+"/"), os.Rename(p, q), true)
	case k < 76: // unlink
		w.check("unlink "+short, os.Remove(p), true)
	case k < 94: // read whole
		f, err := os.Open(p)
		if !w.check("open read "+short, err, true) {
			return
		}
		var buf [32 << 10]byte
		for {
			n, err := f.Read(buf[:])
			if n == 0 || err != nil {
				if err != nil && !errors.Is(err, io.EOF) {
					w.check("read "+short, err, false)
				}
				break
			}
		}
		w.check("read close "+short, f.Close(), false)
	default: // fsync through a read-only descriptor (sync FILE)
		f, err := os.Open(p)
		if !w.check("open fsync "+short, err, true) {
			return
		}
		w.check("fsync rdonly "+short, f.Sync(), false)
		w.check("fsync close "+short, f.Close(), false)
	}
}
