package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// Durability scenario: a log writer paced at writeRate for writeFor, 4 KiB
// lines, on a mount with a 64 MiB spool bound and a 1 s upload interval
// (so publications run while it writes). The outage lasts 10 s: the writer
// produces 80 MiB in it, more than the bound, so the spool fills after 8 s:
// blocking mode must stall write() until S3 is back, non-blocking mode must
// keep write() fast, drop (and count) what does not fit, and mark the gap
// once writes fit again.
const (
	lineSize   = 4096
	writeRate  = 8 * MiB // bytes per second
	writeFor   = 15 * time.Second
	outageFor  = 10 * time.Second // from the writer's start
	slowAdded  = 500 * time.Millisecond
	maxBuffer  = "64m"
	drainBytes = int64(GiB)
)

type durabilityRun struct {
	mode, cond    string
	lat           []time.Duration
	elapsed       time.Duration
	droppedBytes  float64
	droppedWrites float64
	lines, kept   int // lines written, lines of them in S3 after the unmount
	marker        bool
}

// BenchmarkDurability: write() latency p50/p99/max with S3 healthy, slow
// (+500 ms per request) and down, in both buffer modes; then the time to
// drain 1 GiB of spool after an outage against a raw 1 GiB multipart PUT.
func BenchmarkDurability(b *testing.B) {
	srv := testenv.StartServer(b)
	bucket := srv.NewBucket(b)
	t := &table{title: fmt.Sprintf("Durability: write() latency of a log writer (%d MiB/s for %v, %d-byte lines, --max-buffer-size %s, --upload-interval 1s)",
		writeRate/MiB, writeFor, lineSize, maxBuffer),
		header: []string{"mode", "S3", "writes", "p50", "p99", "max", "writer took", "dropped", "lines in S3 after unmount"}}
	for _, mode := range []string{"blocking", "non-blocking"} {
		for _, cond := range []string{"healthy", "slow", "down"} {
			r := runDurability(b, srv, bucket, mode, cond)
			dropped := "0"
			if r.droppedBytes > 0 {
				dropped = fmt.Sprintf("%.1f MiB in %.0f writes", r.droppedBytes/MiB, r.droppedWrites)
			}
			kept := fmt.Sprintf("%d/%d", r.kept, r.lines)
			if r.marker {
				kept += " + drop marker"
			}
			t.add(mode, cond, fmt.Sprint(len(r.lat)), dur(percentile(r.lat, 50)), dur(percentile(r.lat, 99)),
				dur(percentile(r.lat, 100)), dur(r.elapsed), dropped, kept)
			b.ReportMetric(float64(percentile(r.lat, 99).Microseconds()), "p99_us_"+mode+"_"+cond)
		}
	}
	t.note("slow: the proxy delays every request by %v; down: the proxy refuses connections for the first %v of the writer", slowAdded, outageFor)
	t.print()

	drain, raw := runDrain(b, srv, bucket)
	d := &table{title: "Durability: draining 1 GiB of spool after an outage",
		header: []string{"what", "time", "MiB/s"}}
	d.add("raw multipart PUT of 1 GiB (Store, 8 MiB parts, best of 8/16 parallel)", dur(raw), fmt.Sprintf("%.0f", mibps(drainBytes, raw)))
	d.add("s3mount: S3 back -> 1 GiB object complete", dur(drain), fmt.Sprintf("%.0f", mibps(drainBytes, drain)))
	d.add("ratio drain / raw", fmt.Sprintf("%.2f", drain.Seconds()/raw.Seconds()), "")
	d.note("the drain includes the wait for the next retry of the failed publication (up to min(--upload-interval, 5 s))")
	d.print()
	b.ReportMetric(drain.Seconds()/raw.Seconds(), "x_raw_drain")
}

func runDurability(b *testing.B, srv *testenv.Server, bucket, mode, cond string) durabilityRun {
	b.Helper()
	addr := freeAddr()
	m, p := mountProxied(b, srv, bucket, "--buffer-mode", mode, "--max-buffer-size", maxBuffer,
		"--upload-interval", "1s", "--metrics-addr", addr)
	key := mode + "-" + cond + ".log"
	f, err := os.OpenFile(filepath.Join(m.Dir, key), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	switch cond {
	case "slow":
		p.SetLatency(slowAdded)
	case "down":
		p.SetOutage(true)
		time.AfterFunc(outageFor, func() { p.SetOutage(false) })
	}
	r := durabilityRun{mode: mode, cond: cond, lines: int(int64(writeRate) * int64(writeFor/time.Second) / lineSize)}
	line := make([]byte, lineSize)
	for i := range line {
		line[i] = 'x'
	}
	line[lineSize-1] = '\n'
	gap := time.Second / time.Duration(writeRate/lineSize)
	t0 := time.Now()
	for i := 0; i < r.lines; i++ {
		if wait := time.Until(t0.Add(time.Duration(i) * gap)); wait > 0 {
			time.Sleep(wait)
		}
		copy(line, fmt.Sprintf("%08d ", i))
		w0 := time.Now()
		if _, err := f.Write(line); err != nil {
			b.Fatalf("%s/%s: write %d: %v", mode, cond, i, err)
		}
		r.lat = append(r.lat, time.Since(w0))
	}
	r.elapsed = time.Since(t0)
	if cond == "down" {
		for time.Since(t0) < outageFor {
			time.Sleep(50 * time.Millisecond)
		}
	}
	p.SetLatency(0)
	p.SetOutage(false)
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	s, err := scrape(addr)
	if err != nil {
		b.Fatal(err)
	}
	r.droppedBytes, r.droppedWrites = s["s3mount_dropped_bytes_total"], s["s3mount_dropped_writes_total"]
	m.Unmount(b)
	data, err := getObject(srv, bucket, key)
	if err != nil {
		b.Fatal(err)
	}
	r.kept, r.marker = numberedLines(data, lineSize)
	return r
}

// numberedLines counts whole "%08d xxx...\n" lines and reports whether any
// other line (the drop marker) is present.
func numberedLines(data []byte, size int) (int, bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 2*size), 2*size)
	n, other := 0, false
	for sc.Scan() {
		l := sc.Bytes()
		if len(l) == size-1 && l[8] == ' ' {
			if _, err := strconv.Atoi(string(l[:8])); err == nil {
				n++
				continue
			}
		}
		other = true
	}
	return n, other
}

// runDrain writes 1 GiB of log lines while S3 is down, closes the file, then
// ends the outage and times until the object is complete.
func runDrain(b *testing.B, srv *testenv.Server, bucket string) (drain, raw time.Duration) {
	b.Helper()
	buf := randBuf(8 * MiB)
	for i := 1023; i < len(buf); i += 1024 { // log lines, for the line-boundary rule
		buf[i] = '\n'
	}
	raw = bestRawPut(b, srv.Store(b, bucket), "raw-drain.bin", drainBytes, buf)
	m, p := mountProxied(b, srv, bucket, "--max-buffer-size", "2g")
	f, err := os.OpenFile(filepath.Join(m.Dir, "drain.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	p.SetOutage(true)
	for off := int64(0); off < drainBytes; off += MiB {
		i := off % int64(len(buf))
		if _, err := f.Write(buf[i : i+MiB]); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the close-delay publication fails meanwhile
	t0 := time.Now()
	p.SetOutage(false)
	done, err := waitObjectSize(srv, bucket, "drain.log", drainBytes, 5*time.Minute)
	if err != nil {
		b.Fatalf("drain: %v\n%s", err, m.Stderr())
	}
	m.Unmount(b)
	return done.Sub(t0), raw
}
