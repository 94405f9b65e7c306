package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/testenv"
)

// BenchmarkCompare runs the same steps through s3mount, s3fs and rclone
// mount against one local server, each tool behind its own counting proxy,
// with raw SDK throughput as the ceiling. A peer whose binary is missing is
// skipped with a note. Every step has a deadline.
func BenchmarkCompare(b *testing.B) {
	srv := testenv.StartServer(b)
	bucket := srv.NewBucket(b)
	st := srv.Store(b, bucket)
	buf := randBuf(8 * MiB)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// Fixtures, and the raw ceiling: one parallel multipart PUT and one
	// parallel ranged GET of 1 GiB (8 MiB parts, 16 at once).
	rawPut, err := rawMultipartPut(ctx, st, "fixture/read.bin", compareSize, buf, 16)
	if err != nil {
		b.Fatal(err)
	}
	rawGet, err := rawParallelGet(ctx, st, "fixture/read.bin", compareSize, 8*MiB, 16)
	if err != nil {
		b.Fatal(err)
	}
	testenv.PutMany(b, st, listCount, 32, func(i int) string { return fmt.Sprintf("list/obj%05d", i) },
		func(i int) []byte { return []byte(fmt.Sprintf("object %d\n", i)) })

	tools := []compareTool{s3mountTool(), s3fsTool(), rcloneTool()}
	var results []compareResult
	var notes []string
	only := os.Getenv("S3MOUNT_BENCH_COMPARE_TOOLS") // e.g. "s3mount,rclone"
	for _, tool := range tools {
		if only != "" && !strings.Contains(","+only+",", ","+tool.name+",") {
			continue
		}
		if _, err := exec.LookPath(tool.bin); tool.bin != "" && err != nil {
			notes = append(notes, fmt.Sprintf("%s skipped: %s not installed (Debian package %s)", tool.name, tool.bin, tool.bin))
			continue
		}
		fmt.Printf("compare: %s ...\n", tool.name)
		r := runCompare(b, srv, bucket, tool, buf)
		results = append(results, r)
		notes = append(notes, r.notes...)
	}

	t := &table{title: fmt.Sprintf("Peers compared (server %s on 127.0.0.1, each tool through its own counting proxy)", srv.Kind),
		header: []string{"step"}}
	for _, r := range results {
		t.header = append(t.header, r.name)
	}
	t.header = append(t.header, "raw SDK, direct (ceiling)")
	rows := []struct {
		name string
		cell func(r compareResult) string
		raw  string
	}{
		{fmt.Sprintf("sequential read %d MiB, MiB/s (× raw via the same proxy just before)", compareSize/MiB), func(r compareResult) string { return r.read }, fmt.Sprintf("%.0f", mibps(compareSize, rawGet))},
		{fmt.Sprintf("sequential write %d MiB, until the object is in S3, MiB/s (× raw via the same proxy just before)", compareSize/MiB), func(r compareResult) string { return r.write }, fmt.Sprintf("%.0f", mibps(compareSize, rawPut))},
		{"  of which: close() returned after", func(r compareResult) string { return r.writeClose }, ""},
		{"append loop: appends", func(r compareResult) string { return strconv.Itoa(r.appends) }, ""},
		{"append loop: time", func(r compareResult) string { return r.appendTime }, ""},
		{"append loop: per append", func(r compareResult) string { return r.perAppend }, ""},
		{"append loop: all lines in S3 without unmount, after the loop", func(r compareResult) string { return r.appendVisible }, ""},
		{"append loop: lines in S3 after unmount", func(r compareResult) string { return r.appendLines }, ""},
		{"append loop: S3 requests (loop + unmount)", func(r compareResult) string { return r.appendReqs }, ""},
		{"tail -f sees lines written meanwhile", func(r compareResult) string { return r.tail }, ""},
		{"two O_APPEND writers: lines in S3 after unmount", func(r compareResult) string { return r.twoWriters }, ""},
		{fmt.Sprintf("ls -l of %d objects (cold)", listCount), func(r compareResult) string { return r.list }, ""},
	}
	for _, row := range rows {
		cells := []string{row.name}
		for _, r := range results {
			cells = append(cells, row.cell(r))
		}
		t.add(append(cells, row.raw)...)
	}
	t.notes = notes
	t.print()
}

// compareSize is the read/write size; S3MOUNT_BENCH_COMPARE_MB shrinks it
// for a quick try of the harness.
var compareSize = func() int64 {
	if v, err := strconv.Atoi(os.Getenv("S3MOUNT_BENCH_COMPARE_MB")); err == nil && v > 0 {
		return int64(v) * MiB
	}
	return GiB
}()

const (
	listCount  = 10000
	appendsMax = 10000
	twoN       = 1000 // lines per writer
	stepLimit  = 5 * time.Minute
)

// compareTool mounts bucket on dir through endpoint; the returned stop
// unmounts and returns once the tool's process has exited.
type compareTool struct {
	name string
	bin  string // executable looked up on PATH ("" = s3mount, built)
	// appends caps the append loop for a slow peer, with why.
	appends int
	why     string
	mount   func(b *testing.B, srv *testenv.Server, endpoint, bucket string, phase int) (dir string, stop func() error, err error)
}

type compareResult struct {
	name                               string
	read, write, writeClose            string
	appends                            int
	appendTime, perAppend, appendLines string
	appendReqs, tail, twoWriters, list string
	appendVisible                      string
	notes                              []string
}

func runCompare(b *testing.B, srv *testenv.Server, bucket string, tool compareTool, buf []byte) compareResult {
	b.Helper()
	r := compareResult{name: tool.name, appends: appendsMax}
	if tool.appends > 0 {
		r.appends = tool.appends
		r.notes = append(r.notes, fmt.Sprintf("%s: append loop capped at %d appends: %s", tool.name, tool.appends, tool.why))
	}
	fail := func(step string, err error) string {
		r.notes = append(r.notes, fmt.Sprintf("%s: %s: %v", tool.name, step, err))
		return "failed"
	}
	mount := func(phase int) (string, *testenv.Proxy, func() error, bool) {
		p := testenv.NewProxy(b, srv.Endpoint)
		dir, stop, err := tool.mount(b, srv, p.URL, bucket, phase)
		if err != nil {
			fail(fmt.Sprintf("mount (phase %d)", phase), err)
			return "", nil, nil, false
		}
		return dir, p, stop, true
	}

	// Phase 1: list (cold), read, write.
	r.list, r.read, r.write, r.writeClose = "-", "-", "-", "-"
	if dir, p, stop, ok := mount(1); ok {
		out, d, err := bashTimed(stepLimit, fmt.Sprintf("ls -l %q | wc -l", filepath.Join(dir, "list")))
		if n, _ := strconv.Atoi(strings.TrimSpace(out)); err != nil || n != listCount+1 {
			r.list = fail("ls -l", fmt.Errorf("%d lines, %v", n-1, err))
		} else {
			r.list = dur(d)
		}
		// The machine is shared: each tool is compared with a raw
		// transfer measured just before its own, through the same proxy.
		ctx, cancel := context.WithTimeout(context.Background(), stepLimit)
		viaProxy := srv.StoreWith(b, s3store.Options{Bucket: bucket, EndpointURL: p.URL})
		rawGet, gerr := rawParallelGet(ctx, viaProxy, "fixture/read.bin", compareSize, 8*MiB, 16)
		rawPut, perr := rawMultipartPut(ctx, viaProxy, "scratch-"+tool.name+".bin", compareSize, buf, 16)
		cancel()
		if gerr != nil || perr != nil {
			b.Fatalf("raw transfers: %v, %v", gerr, perr)
		}
		err = bounded(stepLimit, func() error {
			n, d, err := readAll(filepath.Join(dir, "fixture", "read.bin"))
			if err == nil && n != compareSize {
				err = fmt.Errorf("read %d bytes", n)
			}
			if err == nil {
				r.read = fmt.Sprintf("%.0f (%.2f× raw %.0f)", mibps(compareSize, d), rawGet.Seconds()/d.Seconds(), mibps(compareSize, rawGet))
			}
			return err
		})
		if err != nil {
			r.read = fail("read", err)
		}
		key := "write-" + tool.name + ".bin"
		err = bounded(stepLimit, func() error {
			t0 := time.Now()
			closed, err := writeBig(filepath.Join(dir, key), compareSize, buf)
			if err != nil {
				return err
			}
			done, err := waitObjectSize(srv, bucket, key, compareSize, stepLimit)
			if err != nil {
				return err
			}
			d := done.Sub(t0)
			r.write = fmt.Sprintf("%.0f (%.2f× raw %.0f)", mibps(compareSize, d), rawPut.Seconds()/d.Seconds(), mibps(compareSize, rawPut))
			r.writeClose = dur(closed)
			return nil
		})
		if err != nil {
			r.write = fail("write", err)
		}
		if err := stop(); err != nil {
			fail("unmount (phase 1)", err)
		}
	}

	// Phase 2: the append loop, counted from its first append through the
	// unmount.
	r.appendTime, r.perAppend, r.appendLines, r.appendReqs = "-", "-", "-", "-"
	if dir, p, stop, ok := mount(2); ok {
		key := "append-" + tool.name + ".log"
		before := p.Requests()
		d, err := appendLoop(filepath.Join(dir, key), r.appends, stepLimit)
		if err != nil {
			fail("append loop", err)
		} else {
			r.appendTime, r.perAppend = dur(d), dur(d/time.Duration(r.appends))
			r.appendVisible = untilAllLines(srv, bucket, key, r.appends, 20*time.Second)
		}
		if err := stop(); err != nil {
			fail("unmount (phase 2)", err)
		}
		r.appendReqs = strconv.FormatInt(p.Requests()-before, 10)
		data, err := getObject(srv, bucket, key)
		if err != nil {
			fail("get appended object", err)
		}
		r.appendLines = fmt.Sprintf("%d/%d", appendedLines(data, r.appends), r.appends)
	}

	// Phase 3: tail -f while another process appends; two O_APPEND writers.
	r.tail, r.twoWriters = "-", "-"
	if dir, _, stop, ok := mount(3); ok {
		r.tail = tailWhileWriting(filepath.Join(dir, "tail-"+tool.name+".log"))
		key := "two-" + tool.name + ".log"
		_, _, err := bashTimed(stepLimit, fmt.Sprintf(`w() { for i in $(seq 1 %d); do echo "$1-$i" >> %q; done; }; w A & w B & wait`,
			twoN, filepath.Join(dir, key)))
		if err != nil {
			fail("two writers", err)
		}
		if err := stop(); err != nil {
			fail("unmount (phase 3)", err)
		}
		data, err := getObject(srv, bucket, key)
		if err != nil {
			fail("get two-writer object", err)
		}
		r.twoWriters = fmt.Sprintf("%d/%d", twoWriterLines(data, twoN), 2*twoN)
	}
	return r
}

// untilAllLines polls the object (directly, not through the tool's proxy)
// until it has all n appended lines.
func untilAllLines(srv *testenv.Server, bucket, key string, n int, limit time.Duration) string {
	t0 := time.Now()
	got := 0
	for time.Since(t0) < limit {
		data, err := getObject(srv, bucket, key)
		if err == nil {
			if got = appendedLines(data, n); got == n {
				return dur(time.Since(t0))
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Sprintf("%d/%d after %v", got, n, limit)
}

// bounded runs f, giving up (not waiting for it) after d.
func bounded(d time.Duration, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return fmt.Errorf("timed out after %v", d)
	}
}

// tailWhileWriting starts `tail -f` on a file, appends 50 lines from
// another process 50 ms apart, and reports how many of them tail printed
// within 10 s of the last one.
func tailWhileWriting(file string) string {
	const n = 50
	if _, _, err := bashTimed(time.Minute, fmt.Sprintf(`echo tail0 >> %q`, file)); err != nil {
		return "failed: " + err.Error()
	}
	tail := exec.Command("tail", "-n", "+1", "-f", file)
	out := &testenv.LockedBuffer{}
	tail.Stdout = out
	tail.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := tail.Start(); err != nil {
		return "failed: " + err.Error()
	}
	defer func() { tail.Process.Kill(); tail.Wait() }()
	if _, _, err := bashTimed(time.Minute, fmt.Sprintf(`for i in $(seq 1 %d); do echo "tail$i" >> %q; sleep 0.05; done`, n, file)); err != nil {
		return "failed: " + err.Error()
	}
	seen := func() int {
		c := 0
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, "tail") && l != "tail0" {
				c++
			}
		}
		return c
	}
	t0 := time.Now()
	for seen() < n && time.Since(t0) < 10*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	if c := seen(); c < n {
		return fmt.Sprintf("%d/%d after 10 s", c, n)
	}
	return fmt.Sprintf("%d/%d (%.1f s after the last)", n, n, time.Since(t0).Seconds())
}

// twoWriterLines counts distinct whole lines A-1..A-n and B-1..B-n.
func twoWriterLines(data []byte, n int) int {
	seen := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		w, num, ok := strings.Cut(l, "-")
		if i, err := strconv.Atoi(num); ok && err == nil && (w == "A" || w == "B") && i >= 1 && i <= n {
			seen[l] = true
		}
	}
	return len(seen)
}

func s3mountTool() compareTool {
	return compareTool{name: "s3mount", mount: func(b *testing.B, srv *testenv.Server, endpoint, bucket string, _ int) (string, func() error, error) {
		m := testenv.MountBinary(b, endpoint, srv, bucket)
		return m.Dir, func() error { m.Unmount(b); return nil }, nil
	}}
}

func s3fsTool() compareTool {
	return compareTool{name: "s3fs", bin: "s3fs", appends: 1000,
		why: "s3fs uploads the whole file at every close (one PUT per append, growing): 10,000 would take minutes",
		mount: func(b *testing.B, srv *testenv.Server, endpoint, bucket string, _ int) (string, func() error, error) {
			pw := filepath.Join(b.TempDir(), "passwd")
			if err := os.WriteFile(pw, []byte(srv.AccessKey+":"+srv.SecretKey+"\n"), 0o600); err != nil {
				return "", nil, err
			}
			dir := b.TempDir()
			cmd := exec.Command("s3fs", bucket, dir, "-f", "-o",
				"url="+endpoint+",use_path_request_style,passwd_file="+pw+",endpoint="+srv.Region+",dbglevel=err")
			p, err := startFUSE(b, "s3fs", dir, cmd)
			if err != nil {
				return "", nil, err
			}
			p.stop = func() error { return exec.Command("umount", dir).Run() }
			return dir, func() error { return p.unmount(2 * time.Minute) }, nil
		}}
}

// rclone: --vfs-cache-mode writes for the read/write/list phase, full for
// appends and tail (rclone's advice for applications that append).
func rcloneTool() compareTool {
	return compareTool{name: "rclone", bin: "rclone",
		mount: func(b *testing.B, srv *testenv.Server, endpoint, bucket string, phase int) (string, func() error, error) {
			mode := "full"
			if phase == 1 {
				mode = "writes"
			}
			dir, cache := b.TempDir(), b.TempDir()
			conf := filepath.Join(cache, "rclone.conf")
			os.WriteFile(conf, nil, 0o600)
			cmd := exec.Command("rclone", "mount", "bench:"+bucket, dir, "--config", conf, "--cache-dir", cache,
				"--vfs-cache-mode", mode, "-q")
			// The sandbox's AWS_CA_BUNDLE makes rclone's SDK refuse its own
			// HTTP transport; the endpoint is plain http anyway.
			cmd.Env = append(envWithout("AWS_CA_BUNDLE"),
				"RCLONE_CONFIG_BENCH_TYPE=s3", "RCLONE_CONFIG_BENCH_PROVIDER=Other",
				"RCLONE_CONFIG_BENCH_ENV_AUTH=false",
				"RCLONE_CONFIG_BENCH_ACCESS_KEY_ID="+srv.AccessKey,
				"RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY="+srv.SecretKey,
				"RCLONE_CONFIG_BENCH_ENDPOINT="+endpoint,
				"RCLONE_CONFIG_BENCH_REGION="+srv.Region,
				"RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true",
				"RCLONE_CONFIG_BENCH_NO_CHECK_BUCKET=true")
			p, err := startFUSE(b, "rclone", dir, cmd)
			if err != nil {
				return "", nil, err
			}
			return dir, func() error { return p.unmount(2 * time.Minute) }, nil
		}}
}

func envWithout(name string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, name+"=") {
			env = append(env, kv)
		}
	}
	return env
}
