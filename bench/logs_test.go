package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/s3mount/s3mount/internal/testenv"
)

// A node's worth of logs: many log files open at once (a busy Kubernetes
// node's container logs), each appended linesPerSec lines a second, on a
// mount with --upload-interval logsInterval. It measures the daemon's peak
// RSS and CPU, S3 requests per file-hour against what the interval implies
// (one publication per file per interval), how late publications start
// against their due time, and write() latency; and it checks that every
// line is in S3 exactly once after the unmount.
const (
	linesPerSec  = 10
	logsInterval = 10 * time.Second
	logLineSize  = 120 // bytes with the newline: a typical container log line
)

// logsConfig is one run: which build, which --compress.
type logsConfig struct {
	label    string
	bin      string // the s3mount binary; "" is the build under test
	compress string // --compress gzip|zstd, "" for none
	files    int
	writeFor time.Duration
	interval time.Duration
	profDir  string // S3MOUNT_BENCH_PPROF: profile the daemon here
}

type logsRun struct {
	cfg      logsConfig
	elapsed  time.Duration // the writing phase
	lines    int           // written, over all files
	lat      []time.Duration
	winP99   []time.Duration // write() p99 in each latWindow of the writing phase
	cpu      time.Duration   // the daemon's, during the writing phase
	rss      int64           // the daemon's peak (VmHWM) at the end of the writing phase
	requests int64           // S3 requests during the writing phase
	ops      map[string]int64
	pubs     int64     // publications during the writing phase
	delay    histogram // s3mount_publication_delay_seconds during the writing phase (empty: not exported)
	delay2   histogram // the same, its second half (after the first publications of all logs, due at once)
	fuseW    histogram // s3mount_fuse_op_seconds of writes: the daemon's share of write() latency
	stored   int64     // bytes of the objects after the unmount
	load     [2]string // /proc/loadavg before and after the writing phase
}

// BenchmarkManyLogs: S3MOUNT_BENCH_LOGS_FILES (default 1000) logs for
// S3MOUNT_BENCH_LOGS_SECONDS (default 60) seconds, once per value of
// S3MOUNT_BENCH_LOGS_COMPRESS (comma-separated off, gzip, zstd; default
// off) and, with S3MOUNT_BENCH_BASELINE_BINARY, once more per value with
// that build, S3MOUNT_BENCH_LOGS_ROUNDS times (default 1), the order of the
// runs reversed every other round. One column per run, side by side.
// S3MOUNT_BENCH_PPROF=DIR also profiles the daemon during the middle half
// of each run's writing phase. Targets (issue 13): RSS <= 256 MiB, CPU <=
// 25% of a core, requests <= 1.1x the interval's, p99 write() <= 1 ms;
// with compression (issue 14): requests and write() latency as without.
func BenchmarkManyLogs(b *testing.B) {
	files := envInt(b, "S3MOUNT_BENCH_LOGS_FILES", 1000)
	secs := envInt(b, "S3MOUNT_BENCH_LOGS_SECONDS", 60)
	rounds := envInt(b, "S3MOUNT_BENCH_LOGS_ROUNDS", 1)
	codecs := []string{"off"}
	if v := os.Getenv("S3MOUNT_BENCH_LOGS_COMPRESS"); v != "" {
		codecs = strings.Split(v, ",")
	}
	builds := []string{""}
	if bins := os.Getenv("S3MOUNT_BENCH_BASELINE_BINARY"); bins != "" {
		builds = append(builds, strings.Split(bins, ",")...) // several builds: comma-separated
	}
	var cfgs []logsConfig
	for _, bin := range builds {
		for _, c := range codecs {
			if c != "off" && c != "gzip" && c != "zstd" {
				b.Fatalf("S3MOUNT_BENCH_LOGS_COMPRESS: %q is not off, gzip or zstd", c)
			}
			label := "this build"
			if bin != "" {
				label = "baseline " + filepath.Base(bin)
			}
			cfg := logsConfig{label: label + ", --compress " + c, bin: bin, files: files,
				writeFor: time.Duration(secs) * time.Second, interval: logsInterval, profDir: os.Getenv("S3MOUNT_BENCH_PPROF")}
			if c != "off" {
				cfg.compress = c
			}
			cfgs = append(cfgs, cfg)
		}
	}
	var runs []logsRun
	for round := range rounds {
		order := append([]logsConfig(nil), cfgs...)
		if round%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, cfg := range order {
			if rounds > 1 {
				cfg.label += fmt.Sprintf(" (round %d)", round+1)
			}
			runs = append(runs, runManyLogs(b, cfg))
		}
	}
	printLogs(runs)
	r := runs[0]
	b.ReportMetric(float64(r.rss)/MiB, "peak-RSS-MiB")
	b.ReportMetric(r.cpuPercent(), "CPU-%-of-a-core")
	b.ReportMetric(r.perFileHour(), "requests-per-file-hour")
	b.ReportMetric(float64(percentile(r.lat, 99))/float64(time.Millisecond), "p99-write-ms")
}

// TestManyLogsEveryLineOnce is the benchmark's correctness check at a size
// make test affords: 50 logs for 3 s with a 1 s interval, so several
// publications of each log happen while it grows.
func TestManyLogsEveryLineOnce(t *testing.T) {
	runManyLogs(t, logsConfig{files: 50, writeFor: 3 * time.Second, interval: time.Second})
}

// TestManyLogsCompressedEveryLineOnce: the same with --compress gzip and
// zstd (the check decompresses each object), smaller.
func TestManyLogsCompressedEveryLineOnce(t *testing.T) {
	for _, c := range []string{"gzip", "zstd"} {
		t.Run(c, func(t *testing.T) {
			runManyLogs(t, logsConfig{files: 20, writeFor: 2 * time.Second, interval: time.Second, compress: c})
		})
	}
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

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func runManyLogs(t testing.TB, cfg logsConfig) logsRun {
	files := cfg.files
	srv := testenv.StartServer(t)
	bucket := srv.NewBucket(t)
	maddr := freeAddr()
	var env []string
	if cfg.profDir != "" {
		env = append(env, "S3MOUNT_PPROF=1")
	}
	args := []string{"--upload-interval", cfg.interval.String(), "--metrics-addr", maddr}
	if cfg.compress != "" {
		args = append(args, "--compress", cfg.compress)
	}
	bin := cfg.bin
	if bin == "" {
		bin = testenv.Binary(t)
	}
	m := testenv.MountBinaryAt(t, bin, env, srv.Endpoint, srv, bucket, args...)
	pid := m.Cmd.Process.Pid

	fds := make([]*os.File, files)
	for i := range fds {
		f, err := os.OpenFile(filepath.Join(m.Dir, fmt.Sprintf("log%05d.log", i)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		fds[i] = f
	}
	r := logsRun{cfg: cfg}
	r.load[0] = loadAvg()
	before := scrapeLogs(t, maddr)
	cpu0 := procCPU(t, pid)

	// writers goroutines each own every writers-th file and, every
	// 1/linesPerSec s, append one line to each of them.
	const writers = 8
	ticks := int(cfg.writeFor.Seconds() * linesPerSec)
	lat := make([][]time.Duration, writers)
	at := make([][]time.Duration, writers) // when each write began, since start
	lines := make([]int, files)            // lines written per file
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
					at[w] = append(at[w], t0.Sub(start))
					if err != nil {
						t.Errorf("write log%05d: %v", f, err)
						return
					}
					lines[f]++
				}
			}
		})
	}
	var half map[string]float64
	halfDone := make(chan struct{})
	go func() {
		defer close(halfDone)
		time.Sleep(time.Until(start.Add(cfg.writeFor / 2)))
		half, _ = scrape(maddr)
	}()
	if cfg.profDir != "" {
		// The middle half of the writing phase.
		time.Sleep(cfg.writeFor / 4)
		name := "logs-" + strings.NewReplacer(" ", "", ",", "-", "(", "", ")", "").Replace(cfg.label)
		saveProfileOf(t, bin, <-fetchProfile(maddr, cfg.writeFor/2), cfg.profDir, name)
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.cpu = procCPU(t, pid) - cpu0
	after := scrapeLogs(t, maddr)
	r.load[1] = loadAvg()
	r.ops = diffOps(opCounts(after), opCounts(before))
	for _, v := range r.ops {
		r.requests += v
	}
	r.pubs = int64(after["s3mount_publications_total"] - before["s3mount_publications_total"])
	r.delay = delayHistogram(after).minus(delayHistogram(before))
	r.fuseW = fuseWriteHistogram(after).minus(fuseWriteHistogram(before))
	<-halfDone
	r.delay2 = delayHistogram(after).minus(delayHistogram(half))
	r.rss = peakRSS(t, pid)
	for w := range lat {
		r.lat = append(r.lat, lat[w]...)
	}
	r.winP99 = windowP99(lat, at)
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
		if cfg.compress != "" {
			key += map[string]string{"gzip": ".gz", "zstd": ".zst"}[cfg.compress]
		}
		data, err := getObject(srv, bucket, key)
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		r.stored += int64(len(data))
		if data, err = decompress(cfg.compress, data); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if err := checkLog(data, f, lines[f]); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		r.lines += lines[f]
	}
	return r
}

// latWindow: write() latency is also taken per window of the writing
// phase, so that waves (many publications at once) show apart from the
// steady state.
const latWindow = 2 * time.Second

// windowP99 is the p99 of the latencies lat of writes begun at at, per
// latWindow, in order.
func windowP99(lat, at [][]time.Duration) []time.Duration {
	var win [][]time.Duration
	for w := range lat {
		for i, d := range lat[w] {
			k := int(at[w][i] / latWindow)
			for len(win) <= k {
				win = append(win, nil)
			}
			win[k] = append(win[k], d)
		}
	}
	var p []time.Duration
	for _, l := range win {
		if len(l) > 0 {
			p = append(p, percentile(l, 99))
		}
	}
	return p
}

// scrapeLogs is the daemon's metrics now.
func scrapeLogs(t testing.TB, addr string) map[string]float64 {
	m, err := scrape(addr)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// decompress reads a whole object written with --compress codec ("":
// none) with a decoder other than s3mount's: every member or frame.
func decompress(codec string, data []byte) ([]byte, error) {
	switch codec {
	case "":
		return data, nil
	case "gzip":
		if len(data) == 0 {
			return nil, nil
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr) // multistream: all members
	case "zstd":
		zr, err := zstd.NewReader(nil)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		return zr.DecodeAll(data, nil)
	}
	return nil, fmt.Errorf("unknown codec %q", codec)
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

// histogram is a Prometheus histogram's cumulative buckets (upper bound ->
// count at or below it).
type histogram map[float64]float64

// delayHistogram is the publication delay histogram in a scrape (empty for
// a build that does not export it).
func delayHistogram(m map[string]float64) histogram {
	return histogramOf(m, `s3mount_publication_delay_seconds_bucket{le="`)
}

// fuseWriteHistogram is the daemon's own time for FUSE writes (from the
// request read to the reply), in a scrape.
func fuseWriteHistogram(m map[string]float64) histogram {
	return histogramOf(m, `s3mount_fuse_op_seconds_bucket{op="write",le="`)
}

// histogramOf is the histogram whose bucket samples start with prefix (up
// to the le label's value).
func histogramOf(m map[string]float64, prefix string) histogram {
	h := histogram{}
	for k, v := range m {
		le, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		le = strings.TrimSuffix(le, `"}`)
		bound, err := strconv.ParseFloat(le, 64) // "+Inf" parses as +Inf
		if err == nil {
			h[bound] = v
		}
	}
	return h
}

func (h histogram) minus(o histogram) histogram {
	d := histogram{}
	for k, v := range h {
		d[k] = v - o[k]
	}
	return d
}

// quantile estimates the q-th quantile (0..1) as Prometheus'
// histogram_quantile does: linear within the bucket it falls in. ok is
// false when the histogram is empty.
func (h histogram) quantile(q float64) (time.Duration, bool) {
	bounds := make([]float64, 0, len(h))
	for b := range h {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 || h[bounds[len(bounds)-1]] == 0 {
		return 0, false
	}
	total := h[bounds[len(bounds)-1]]
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range bounds {
		if h[b] >= rank {
			if b > 1e300 { // +Inf: the highest finite bound is all we know
				return time.Duration(lower * float64(time.Second)), true
			}
			frac := 0.0
			if n := h[b] - below; n > 0 {
				frac = (rank - below) / n
			}
			return time.Duration((lower + (b-lower)*frac) * float64(time.Second)), true
		}
		lower, below = b, h[b]
	}
	return 0, false
}

func (r logsRun) cpuPercent() float64 { return 100 * r.cpu.Seconds() / r.elapsed.Seconds() }

// perFileHour is S3 requests per log per hour of writing.
func (r logsRun) perFileHour() float64 {
	return float64(r.requests) / (float64(r.cfg.files) * r.elapsed.Hours())
}

// spacing is the mean time between two publications of one log.
func (r logsRun) spacing() time.Duration {
	if r.pubs == 0 {
		return 0
	}
	return time.Duration(float64(r.elapsed) * float64(r.cfg.files) / float64(r.pubs))
}

// printLogs prints the runs side by side, one column each.
func printLogs(runs []logsRun) {
	r0 := runs[0]
	implied := float64(time.Hour / r0.cfg.interval)
	t := &table{
		title: fmt.Sprintf("A node's worth of logs: %d logs open, %d lines/s each (%d bytes), --upload-interval %v, for %v",
			r0.cfg.files, linesPerSec, logLineSize, r0.cfg.interval, r0.elapsed.Round(time.Second)),
		header: []string{"measure", "target"},
	}
	for _, r := range runs {
		t.header = append(t.header, r.cfg.label)
	}
	row := func(name, target string, cell func(r logsRun) string) {
		cells := []string{name, target}
		for _, r := range runs {
			cells = append(cells, cell(r))
		}
		t.add(cells...)
	}
	row("load average (1, 5, 15 min) before / after", "", func(r logsRun) string { return r.load[0] + " / " + r.load[1] })
	row("daemon peak RSS (VmHWM)", "<= 256 MiB", func(r logsRun) string {
		return fmt.Sprintf("%.1f MiB %s", float64(r.rss)/MiB, verdict(r.rss <= 256*MiB))
	})
	row("daemon CPU", "<= 25% of a core", func(r logsRun) string {
		return fmt.Sprintf("%.1f%% %s", r.cpuPercent(), verdict(r.cpuPercent() <= 25))
	})
	row("  daemon CPU per write() (publications included)", "<= 25 µs", func(r logsRun) string {
		return dur(r.cpu / time.Duration(max(len(r.lat), 1)))
	})
	row("S3 requests per file-hour", fmt.Sprintf("<= 1.1x the %.0f the interval implies", implied), func(r logsRun) string {
		return fmt.Sprintf("%.0f (%.2fx) %s", r.perFileHour(), r.perFileHour()/implied, verdict(r.perFileHour() <= 1.1*implied))
	})
	row("  of which PUT-class (PUT, COPY, POST, LIST)", "", func(r logsRun) string {
		var n int64
		for op, v := range r.ops {
			if op != "GetObject" && op != "HeadObject" {
				n += v
			}
		}
		return fmt.Sprintf("%.0f per file-hour", float64(n)/(float64(r.cfg.files)*r.elapsed.Hours()))
	})
	row("S3 requests by operation", "", func(r logsRun) string { return fmtOps(r.ops) })
	row("publications: one per log every", fmt.Sprintf("~%v", r0.cfg.interval), func(r logsRun) string { return dur(r.spacing()) })
	delays := func(h histogram) string {
		p50, ok := h.quantile(0.5)
		p99, _ := h.quantile(0.99)
		if !ok {
			return "not exported"
		}
		return fmt.Sprintf("%s / %s", durZero(p50), durZero(p99))
	}
	row("publication start past due p50 / p99", "~0", func(r logsRun) string { return delays(r.delay) })
	row("  the same, second half of the run", "~0", func(r logsRun) string { return delays(r.delay2) })
	row("write() latency p50 / p99 / max", "p99 <= 1 ms", func(r logsRun) string {
		p99 := percentile(r.lat, 99)
		return fmt.Sprintf("%s / %s / %s %s", dur(percentile(r.lat, 50)), dur(p99), dur(percentile(r.lat, 100)), verdict(p99 <= time.Millisecond))
	})
	row(fmt.Sprintf("  p99 of each %v: lowest / median / highest", latWindow), "", func(r logsRun) string {
		w := slices.Sorted(slices.Values(r.winP99))
		if len(w) == 0 {
			return "-"
		}
		return fmt.Sprintf("%s / %s / %s", dur(w[0]), dur(w[len(w)/2]), dur(w[len(w)-1]))
	})
	row("  of which s3mount's write handler p50 / p99 (coarse buckets)", "", func(r logsRun) string { return delays(r.fuseW) })
	row("bytes stored in S3", "", func(r logsRun) string {
		return fmt.Sprintf("%.1f MiB (%.1fx)", float64(r.stored)/MiB, float64(r.lines*logLineSize)/float64(max(r.stored, 1)))
	})
	row("lines in S3 after unmount, each once", "all", func(r logsRun) string {
		return fmt.Sprintf("%d of %d %s", r.lines, len(r.lat), verdict(r.lines == len(r.lat)))
	})
	t.note("the machine is shared: compare columns of one run, not runs")
	t.print()
}

// durZero is dur, with 0 printed as such.
func durZero(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return dur(d)
}
