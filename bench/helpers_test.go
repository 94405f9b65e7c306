package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/testenv"
)

const (
	MiB = 1 << 20
	GiB = 1 << 30
)

// mountProxied mounts bucket with the real binary through a fresh counting
// proxy; extra flags go to s3mount.
func mountProxied(b *testing.B, srv *testenv.Server, bucket string, extra ...string) (*testenv.Mount, *testenv.Proxy) {
	b.Helper()
	p := testenv.NewProxy(b, srv.Endpoint)
	return testenv.MountBinary(b, p.URL, srv, bucket, extra...), p
}

// bashTimed runs script under bash with a deadline and returns its stdout
// and how long it took.
func bashTimed(timeout time.Duration, script string) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if ctx.Err() != nil {
		return out.String(), d, fmt.Errorf("timed out after %v", timeout)
	}
	if err != nil {
		return out.String(), d, fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), d, nil
}

// appendLoop is the seed scenario: n separate `echo "line$i" >> f`.
func appendLoop(file string, n int, timeout time.Duration) (time.Duration, error) {
	_, d, err := bashTimed(timeout, fmt.Sprintf(`for i in $(seq 1 %d); do echo "line$i" >> %q; done`, n, file))
	return d, err
}

// appendedLines counts how many of line1..lineN are in data, in order.
func appendedLines(data []byte, n int) int {
	sc := bufio.NewScanner(bytes.NewReader(data))
	next := 1
	for sc.Scan() {
		if next <= n && sc.Text() == "line"+strconv.Itoa(next) {
			next++
		}
	}
	return next - 1
}

// randBuf is n pseudo-random bytes (servers do not deduplicate, but make
// sure nothing can compress them either).
func randBuf(n int) []byte {
	buf := make([]byte, n)
	rand.NewChaCha8([32]byte{7}).Read(buf)
	return buf
}

// rawMultipartPut uploads size bytes (buf repeated) as key with the Store
// directly: CreateMultipart, part-sized UploadParts, par at a time, Complete.
func rawMultipartPut(ctx context.Context, st s3store.Store, key string, size int64, buf []byte, par int) (time.Duration, error) {
	part := int64(len(buf))
	t0 := time.Now()
	id, err := st.CreateMultipart(ctx, key, s3store.Cond{})
	if err != nil {
		return 0, err
	}
	n := int((size + part - 1) / part)
	parts := make([]s3store.Part, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			sz := min(part, size-int64(i)*part)
			p, err := st.UploadPart(ctx, key, id, int32(i+1), bytes.NewReader(buf[:sz]), sz)
			if err != nil {
				errs <- err
				return
			}
			parts[i] = p
		}(i)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		st.AbortMultipart(context.Background(), key, id)
		return 0, err
	}
	if _, err := st.CompleteMultipart(ctx, key, id, parts, s3store.Cond{}); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// bestRawPut is the faster of raw multipart PUTs at 8 and 16 parts in
// parallel: the ceiling a mount's sequential write is measured against.
func bestRawPut(b *testing.B, st s3store.Store, key string, size int64, buf []byte) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var best time.Duration
	for _, par := range []int{8, 16} {
		d, err := rawMultipartPut(ctx, st, key, size, buf, par)
		if err != nil {
			b.Fatalf("raw multipart PUT (%d parallel): %v", par, err)
		}
		if best == 0 || d < best {
			best = d
		}
	}
	return best
}

// rawParallelGet reads key in part-sized ranged GETs, par at a time.
func rawParallelGet(ctx context.Context, st s3store.Store, key string, size, part int64, par int) (time.Duration, error) {
	t0 := time.Now()
	n := int((size + part - 1) / part)
	errs := make(chan error, n)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			off := int64(i) * part
			rc, err := st.Get(ctx, key, off, min(part, size-off), "")
			if err != nil {
				errs <- err
				return
			}
			m, err := io.Copy(io.Discard, rc)
			rc.Close()
			if err == nil && m != min(part, size-off) {
				err = fmt.Errorf("short range read: %d bytes", m)
			}
			if err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// writeBig writes size bytes (buf repeated, 1 MiB writes) to a new file and
// closes it; the duration includes close.
func writeBig(path string, size int64, buf []byte) (time.Duration, error) {
	t0 := time.Now()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	const chunk = MiB
	for off := int64(0); off < size; off += chunk {
		i := off % int64(len(buf))
		if _, err := f.Write(buf[i : i+min(chunk, size-off)]); err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// readAll reads path sequentially with 1 MiB reads and returns the bytes read.
func readAll(path string) (int64, time.Duration, error) {
	t0 := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	n, err := readChunks(f, MiB)
	return n, time.Since(t0), err
}

// readChunks reads f to the end with read(2)s of size bytes, as dd bs=size
// does. (io.Copy to io.Discard would not: io.Discard's ReadFrom reads 8 KiB
// at a time whatever buffer it is given.)
func readChunks(f *os.File, size int) (int64, error) {
	buf := make([]byte, size)
	var n int64
	for {
		k, err := f.Read(buf)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// waitObjectSize polls the server directly (no proxy) until key has size
// bytes; it returns when that happened.
func waitObjectSize(srv *testenv.Server, bucket, key string, size int64, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := srv.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		cancel()
		if err == nil && out.ContentLength != nil && *out.ContentLength == size {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			got := "absent"
			if err == nil && out.ContentLength != nil {
				got = strconv.FormatInt(*out.ContentLength, 10) + " bytes"
			}
			return time.Time{}, fmt.Errorf("%s not %d bytes after %v (%s)", key, size, timeout, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// getObject reads a whole object directly; a missing key is nil, no error.
func getObject(srv *testenv.Server, bucket, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := srv.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		if strings.Contains(err.Error(), "NoSuchKey") || strings.Contains(err.Error(), "404") {
			return nil, nil
		}
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func mibps(bytes int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) / MiB / d.Seconds()
}

// percentile of durations (sorts ds in place); p in [0, 100].
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := int(float64(len(ds)-1) * p / 100)
	return ds[i]
}

// table prints aligned rows to stdout, where `go test -bench` shows them.
type table struct {
	title  string
	header []string
	rows   [][]string
	notes  []string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

func (t *table) print() {
	fmt.Printf("\n%s\n", t.title)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "| "+strings.Join(t.header, "\t| ")+"\t|")
	seps := make([]string, len(t.header))
	for i := range seps {
		seps[i] = "---"
	}
	fmt.Fprintln(w, "| "+strings.Join(seps, "\t| ")+"\t|")
	for _, r := range t.rows {
		fmt.Fprintln(w, "| "+strings.Join(r, "\t| ")+"\t|")
	}
	w.Flush()
	for _, n := range t.notes {
		fmt.Println("  note: " + n)
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// freeAddr is a 127.0.0.1 address nobody listens on right now.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// scrape reads one Prometheus sample (name{labels} value) from a mount's
// --metrics-addr; labels is e.g. `op="PutObject"` or "".
func scrape(addr string) (map[string]float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

// opCounts are the s3mount_s3_requests_total samples by operation.
func opCounts(m map[string]float64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if op, ok := strings.CutPrefix(k, `s3mount_s3_requests_total{op="`); ok {
			out[strings.TrimSuffix(op, `"}`)] = int64(v)
		}
	}
	return out
}

func diffOps(after, before map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, v := range after {
		if v-before[k] != 0 {
			d[k] = v - before[k]
		}
	}
	return d
}

func fmtOps(ops map[string]int64) string {
	keys := make([]string, 0, len(ops))
	for k := range ops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, ops[k]))
	}
	return strings.Join(parts, ", ")
}

// isMounted reports whether dir is a mount point (/proc/self/mountinfo).
func isMounted(dir string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.ReplaceAll(f[4], `\040`, " ") == dir {
			return true
		}
	}
	return false
}

// process is a FUSE file system other than s3mount (loopback, s3fs,
// rclone) running in the foreground as a child.
type process struct {
	name   string
	dir    string
	cmd    *exec.Cmd
	out    *testenv.LockedBuffer
	exited chan struct{}
	once   sync.Once
	// stop asks the process to unmount; default SIGTERM.
	stop func() error
}

// startFUSE starts cmd and waits until dir is mounted; the process is
// unmounted and stopped at b.Cleanup at the latest.
func startFUSE(b *testing.B, name, dir string, cmd *exec.Cmd) (*process, error) {
	b.Helper()
	p := &process{name: name, dir: dir, cmd: cmd, out: &testenv.LockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { cmd.Wait(); close(p.exited) }()
	b.Cleanup(func() { p.unmount(30 * time.Second) })
	deadline := time.Now().Add(30 * time.Second)
	for !isMounted(dir) {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s exited before mounting: %s", name, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			p.unmount(5 * time.Second)
			return nil, fmt.Errorf("%s: not mounted after 30s: %s", name, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p, nil
}

// unmount stops the file system and waits for its process to exit (it
// flushes what it buffered first), killing it after timeout.
func (p *process) unmount(timeout time.Duration) error {
	var err error
	p.once.Do(func() {
		if p.stop != nil {
			err = p.stop()
		} else {
			err = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-p.exited:
		case <-time.After(timeout):
			err = fmt.Errorf("%s did not exit within %v of unmount; killed", p.name, timeout)
			p.cmd.Process.Kill()
			<-p.exited
		}
		if isMounted(p.dir) {
			exec.Command("umount", "-l", p.dir).Run()
		}
	})
	return err
}

var (
	loopbackOnce sync.Once
	loopbackBin  string
	loopbackErr  error
)

// mountLoopback mounts a plain go-fuse passthrough of a temp dir (go-fuse's
// example/loopback, mounted with the mount syscall as s3mount is) and
// returns the mount point.
func mountLoopback(b *testing.B) string {
	b.Helper()
	loopbackOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bench-loopback-bin-")
		if err != nil {
			loopbackErr = err
			return
		}
		loopbackBin = filepath.Join(dir, "loopback")
		out, err := exec.Command("go", "build", "-o", loopbackBin, "github.com/hanwen/go-fuse/v2/example/loopback").CombinedOutput()
		if err != nil {
			loopbackErr = fmt.Errorf("go build loopback: %v\n%s", err, out)
		}
	})
	if loopbackErr != nil {
		b.Fatal(loopbackErr)
	}
	orig, mnt := b.TempDir(), b.TempDir()
	if _, err := startFUSE(b, "loopback", mnt, exec.Command(loopbackBin, "-q", "-directmount", mnt, orig)); err != nil {
		b.Fatal(err)
	}
	return mnt
}
