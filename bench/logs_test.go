package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// A node's worth of logs: many log files open at once (a busy Kubernetes
// node's container logs), each appended linesPerSec lines a second, on a
// mount with --upload-interval logsInterval. It measures the daemon's peak
// RSS and CPU, S3 requests per file-hour against what the interval implies
// (one publication per file per interval), and write() latency; and it
// checks that every line is in S3 exactly once after the unmount.
const (
	linesPerSec  = 10
	logsInterval = 10 * time.Second
	logLineSize  = 120 // bytes with the newline: a typical container log line
)

type logsRun struct {
	files    int
	elapsed  time.Duration // the writing phase
	lines    int           // written, over all files
	lat      []time.Duration
	cpu      time.Duration // the daemon's, during the writing phase
	rss      int64         // the daemon's peak (VmHWM) at the end of the writing phase
	requests int64         // S3 requests during the writing phase
	interval time.Duration
}

// BenchmarkManyLogs: S3MOUNT_BENCH_LOGS_FILES (default 1000) logs for
// S3MOUNT_BENCH_LOGS_SECONDS (default 60) seconds. S3MOUNT_BENCH_PPROF=DIR
// also profiles the daemon during the middle half of the writing phase. Targets (issue 13):
// RSS <= 256 MiB, CPU <= 25% of a core, requests <= 1.1x the interval's,
// p99 write() <= 1 ms.
func BenchmarkManyLogs(b *testing.B) {
	files := envInt(b, "S3MOUNT_BENCH_LOGS_FILES", 1000)
	secs := envInt(b, "S3MOUNT_BENCH_LOGS_SECONDS", 60)
	r := runManyLogs(b, files, time.Duration(secs)*time.Second, logsInterval)
	r.print()
	b.ReportMetric(float64(r.rss)/MiB, "peak-RSS-MiB")
	b.ReportMetric(r.cpuPercent(), "CPU-%-of-a-core")
	b.ReportMetric(r.perFileHour(), "requests-per-file-hour")
	b.ReportMetric(float64(percentile(r.lat, 99))/float64(time.Millisecond), "p99-write-ms")
}

// TestManyLogsEveryLineOnce is the benchmark's correctness check at a size
// make test affords: 50 logs for 3 s with a 1 s interval, so several
// publications of each log happen while it grows.
func TestManyLogsEveryLineOnce(t *testing.T) {
	runManyLogs(t, 50, 3*time.Second, time.Second)
}

func envInt(t testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// logLine is line i of file f, logLineSize bytes with its newline.
func logLine(f, i int) []byte {
	s := fmt.Sprintf("f%05d l%07d ", f, i)
	return append(append([]byte(s), bytes.Repeat([]byte("x"), logLineSize-1-len(s))...), '\n')
}

func runManyLogs(t testing.TB, files int, writeFor, interval time.Duration) logsRun {
	srv := testenv.StartServer(t)
	bucket := srv.NewBucket(t)
	maddr := freeAddr()
	profDir := os.Getenv("S3MOUNT_BENCH_PPROF")
	var env []string
	if profDir != "" {
		env = append(env, "S3MOUNT_PPROF=1")
	}
	m := testenv.MountBinaryEnv(t, env, srv.Endpoint, srv, bucket,
		"--upload-interval", interval.String(), "--metrics-addr", maddr)
	pid := m.Cmd.Process.Pid

	fds := make([]*os.File, files)
	for i := range fds {
		f, err := os.OpenFile(filepath.Join(m.Dir, fmt.Sprintf("log%05d.log", i)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		fds[i] = f
	}
	before := requestsTotal(t, maddr)
	cpu0 := procCPU(t, pid)

	// writers goroutines each own every writers-th file and, every
	// 1/linesPerSec s, append one line to each of them.
	const writers = 8
	ticks := int(writeFor.Seconds() * linesPerSec)
	lat := make([][]time.Duration, writers)
	lines := make([]int, files) // lines written per file
	var wg sync.WaitGroup
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			for tick := range ticks {
				if d := time.Until(start.Add(time.Duration(tick) * time.Second / linesPerSec)); d > 0 {
					time.Sleep(d)
				}
				for f := w; f < files; f += writers {
					line := logLine(f, lines[f])
					t0 := time.Now()
					_, err := fds[f].Write(line)
					lat[w] = append(lat[w], time.Since(t0))
					if err != nil {
						t.Errorf("write log%05d: %v", f, err)
						return
					}
					lines[f]++
				}
			}
		})
	}
	if profDir != "" {
		// The middle half of the writing phase.
		time.Sleep(writeFor / 4)
		saveProfile(t, <-fetchProfile(maddr, writeFor/2), profDir, "logs")
	}
	wg.Wait()
	r := logsRun{files: files, elapsed: time.Since(start), interval: interval}
	r.cpu = procCPU(t, pid) - cpu0
	r.requests = requestsTotal(t, maddr) - before
	r.rss = peakRSS(t, pid)
	for w := range lat {
		r.lat = append(r.lat, lat[w]...)
	}
	if t.Failed() {
		t.FailNow()
	}
	for _, f := range fds {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	m.Unmount(t)

	// Every line of every log, exactly once, in order, and nothing else.
	for f := range files {
		key := fmt.Sprintf("log%05d.log", f)
		data, err := getObject(srv, bucket, key)
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		if err := checkLog(data, f, lines[f]); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		r.lines += lines[f]
	}
	return r
}

// checkLog reports how data differs from lines 0..n-1 of file f.
func checkLog(data []byte, f, n int) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	i := 0
	for sc.Scan() {
		want := logLine(f, i)
		if i >= n || !bytes.Equal(append(sc.Bytes(), '\n'), want) {
			return fmt.Errorf("line %d is %q, want line %d of %d (each line once, in order)", i+1, sc.Text(), i, n)
		}
		i++
	}
	if i != n {
		return fmt.Errorf("%d of %d lines in S3", i, n)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		return fmt.Errorf("ends inside a line")
	}
	return nil
}

// requestsTotal is the daemon's S3 request count so far, over all operations.
func requestsTotal(t testing.TB, addr string) int64 {
	m, err := scrape(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, v := range opCounts(m) {
		n += v
	}
	return n
}

func (r logsRun) cpuPercent() float64 { return 100 * r.cpu.Seconds() / r.elapsed.Seconds() }

// perFileHour is S3 requests per log per hour of writing.
func (r logsRun) perFileHour() float64 {
	return float64(r.requests) / (float64(r.files) * r.elapsed.Hours())
}

func (r logsRun) print() {
	implied := float64(time.Hour / r.interval)
	p99 := percentile(r.lat, 99)
	t := &table{
		title: fmt.Sprintf("A node's worth of logs: %d logs open, %d lines/s each (%d bytes), --upload-interval %v, for %v",
			r.files, linesPerSec, logLineSize, r.interval, r.elapsed.Round(time.Second)),
		header: []string{"measure", "value", "target", "verdict"},
	}
	t.add("daemon peak RSS (VmHWM)", fmt.Sprintf("%.1f MiB", float64(r.rss)/MiB), "<= 256 MiB", verdict(r.rss <= 256*MiB))
	t.add("daemon CPU", fmt.Sprintf("%.1f%% of a core", r.cpuPercent()), "<= 25%", verdict(r.cpuPercent() <= 25))
	t.add("S3 requests per file-hour", fmt.Sprintf("%.0f (%.2fx the %.0f the interval implies)", r.perFileHour(), r.perFileHour()/implied, implied),
		"<= 1.1x", verdict(r.perFileHour() <= 1.1*implied))
	t.add("write() latency p50 / p99 / max", fmt.Sprintf("%s / %s / %s", dur(percentile(r.lat, 50)), dur(p99), dur(percentile(r.lat, 100))),
		"p99 <= 1 ms", verdict(p99 <= time.Millisecond))
	t.add("lines in S3 after unmount", fmt.Sprintf("%d of %d, each once", r.lines, len(r.lat)), "all", verdict(r.lines == len(r.lat)))
	t.print()
}
