package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// BenchmarkWriteAppendLoop: the seed's 10,000 `echo "line$i" >> f` through
// s3mount against the same loop through a plain go-fuse passthrough
// (target: ratio ≤ 1.5), and the S3 requests one loop costs, counted by a
// proxy from its first append until its publication after the last close
// (target ≤ 20). The machine is shared and noisy: the loops alternate,
// three of each, and the ratio compares the fastest of each.
func BenchmarkWriteAppendLoop(b *testing.B) {
	const n, runs = 10000, 3
	srv := testenv.StartServer(b)
	bucket := srv.NewBucket(b)
	lb := mountLoopback(b)
	addr := freeAddr()
	m, p := mountProxied(b, srv, bucket, "--metrics-addr", addr)

	var lbDurs, s3Durs []time.Duration
	var reqs []int64
	var byOp []map[string]int64
	for r := 0; r < runs; r++ {
		d, err := appendLoop(filepath.Join(lb, fmt.Sprint("f", r)), n, 5*time.Minute)
		if err != nil {
			b.Fatalf("loopback append loop: %v", err)
		}
		lbDurs = append(lbDurs, d)
		before, ops0 := p.Requests(), mustOps(b, addr)
		d, err = appendLoop(filepath.Join(m.Dir, fmt.Sprint("f", r)), n, 5*time.Minute)
		if err != nil {
			b.Fatalf("s3mount append loop: %v", err)
		}
		s3Durs = append(s3Durs, d)
		time.Sleep(3 * time.Second) // --close-delay 1s, then the last publication
		reqs = append(reqs, p.Requests()-before)
		byOp = append(byOp, diffOps(mustOps(b, addr), ops0))
	}
	before := p.Requests()
	m.Unmount(b)
	reqs[runs-1] += p.Requests() - before // nothing should be left to publish
	for r := 0; r < runs; r++ {
		data, err := getObject(srv, bucket, fmt.Sprint("f", r))
		if err != nil {
			b.Fatal(err)
		}
		if got := appendedLines(data, n); got != n {
			b.Fatalf("object f%d has %d of %d lines in order", r, got, n)
		}
	}
	lbBest, s3Best := percentile(lbDurs, 0), percentile(s3Durs, 0)
	ratio := s3Best.Seconds() / lbBest.Seconds()
	worst := int64(0)
	for _, r := range reqs {
		worst = max(worst, r)
	}
	t := &table{title: fmt.Sprintf("Write: %d appends (`echo \"line$i\" >> f` in bash), %d runs each, alternating", n, runs),
		header: []string{"file system", "fastest", "all runs", "per append (fastest)", "S3 requests per loop"}}
	t.add("go-fuse loopback (local disk)", dur(lbBest), durs(lbDurs), dur(lbBest/n), "-")
	t.add("s3mount", dur(s3Best), durs(s3Durs), dur(s3Best/n), fmt.Sprint(reqs))
	t.add("ratio s3mount / loopback", fmt.Sprintf("%.2f", ratio), "", "", "")
	t.note("target: ratio ≤ 1.5 (%s), requests ≤ 20 (%s, worst loop); all %d lines of every loop are in S3 after the unmount",
		verdict(ratio <= 1.5), verdict(worst <= 20), n)
	for r, o := range byOp {
		t.note("loop %d by operation (mount's counters): %s", r+1, fmtOps(o))
	}
	t.print()
	b.ReportMetric(ratio, "x_loopback")
	b.ReportMetric(float64(worst), "s3_requests")
}

func durs(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, dur(d))
	}
	return strings.Join(s, ", ")
}

func mustOps(b *testing.B, addr string) map[string]int64 {
	b.Helper()
	s, err := scrape(addr)
	if err != nil {
		b.Fatalf("metrics: %v", err)
	}
	return opCounts(s)
}

// BenchmarkWriteSequential: a 1 GiB file written through the mount (1 MiB
// writes, then close; close returns once the object is complete) against a
// raw parallel multipart PUT of 1 GiB with the Store (8 MiB parts, the
// faster of 8 and 16 at once). Target: ratio ≥ 0.9.
func BenchmarkWriteSequential(b *testing.B) {
	const size = int64(GiB)
	srv := testenv.StartServer(b)
	bucket := srv.NewBucket(b)
	buf := randBuf(8 * MiB)
	st := srv.Store(b, bucket)
	rawDur := bestRawPut(b, st, "raw.bin", size, buf)
	ctx := context.Background()
	st.Delete(ctx, "raw.bin")

	m := testenv.MountBinary(b, srv.Endpoint, srv, bucket)
	d, err := writeBig(filepath.Join(m.Dir, "big.bin"), size, buf)
	if err != nil {
		b.Fatalf("write through the mount: %v", err)
	}
	info, err := st.Head(ctx, "big.bin")
	if err != nil || info.Size != size {
		b.Fatalf("after close the object is %d bytes (%v); want %d", info.Size, err, size)
	}
	raw, mnt := mibps(size, rawDur), mibps(size, d)
	t := &table{title: "Write: 1 GiB sequential (1 MiB writes + close)",
		header: []string{"writer", "time", "MiB/s"}}
	t.add("raw multipart PUT (Store, 8 MiB parts, best of 8/16 parallel)", dur(rawDur), fmt.Sprintf("%.0f", raw))
	t.add("s3mount (write + close; object complete at close)", dur(d), fmt.Sprintf("%.0f", mnt))
	t.add("ratio s3mount / raw", fmt.Sprintf("%.2f", mnt/raw), "")
	t.note("target: ratio ≥ 0.9 (%s); server %s on 127.0.0.1", verdict(mnt/raw >= 0.9), srv.Kind)
	t.print()
	b.ReportMetric(mnt, "MiB/s")
	b.ReportMetric(mnt/raw, "x_raw")
}

// BenchmarkWriteCost measures the S3 requests of publications at default
// settings except a 1 s --upload-interval (the pattern per publication does
// not depend on the interval): an open log below 5 MiB (re-put), an open log
// above 5 MiB (compose), and one close of a log. docs/COST.md turns these
// into requests per file-hour and per GiB.
func BenchmarkWriteCost(b *testing.B) {
	srv := testenv.StartServer(b)
	bucket := srv.NewBucket(b)
	addr := freeAddr()
	m := testenv.MountBinary(b, srv.Endpoint, srv, bucket, "--upload-interval", "1s", "--metrics-addr", addr)
	ops := func() (map[string]int64, float64) {
		s, err := scrape(addr)
		if err != nil {
			b.Fatalf("metrics: %v", err)
		}
		return opCounts(s), s["s3mount_publications_total"]
	}
	line := make([]byte, 100)
	for i := range line {
		line[i] = 'x'
	}
	line[len(line)-1] = '\n'
	f, err := os.OpenFile(filepath.Join(m.Dir, "app.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	// phase writes lines for secs seconds (10 lines every 100 ms) and
	// returns the requests and publications it caused.
	phase := func(secs int) (map[string]int64, int) {
		o0, p0 := ops()
		for i := 0; i < secs*10; i++ {
			for j := 0; j < 10; j++ {
				if _, err := f.Write(line); err != nil {
					b.Fatal(err)
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(1500 * time.Millisecond) // the last interval's publication
		o1, p1 := ops()
		return diffOps(o1, o0), int(p1 - p0)
	}
	t := &table{title: "Cost: S3 requests per publication (measured from the mount's own counters)",
		header: []string{"case", "publications", "requests", "per publication", "by operation"}}
	row := func(name string, d map[string]int64, pubs int) {
		var n int64
		for _, v := range d {
			n += v
		}
		per := "-"
		if pubs > 0 {
			per = fmt.Sprintf("%.2f", float64(n)/float64(pubs))
		}
		t.add(name, fmt.Sprint(pubs), fmt.Sprint(n), per, fmtOps(d))
	}
	d, pubs := phase(10)
	row("open log < 5 MiB (re-put)", d, pubs)
	// Grow the object past S3's 5 MiB minimum part: compose from now on.
	big := make([]byte, 6*MiB)
	for i := range big {
		big[i] = 'y'
		if i%100 == 99 {
			big[i] = '\n'
		}
	}
	if _, err := f.Write(big); err != nil {
		b.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	d, pubs = phase(10)
	row("open log ≥ 5 MiB (compose)", d, pubs)
	o0, p0 := ops()
	f.Write(line)
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	time.Sleep(3 * time.Second) // --close-delay 1s, then the publication
	o1, p1 := ops()
	row("last close of a log ≥ 5 MiB", diffOps(o1, o0), int(p1-p0))
	// A closed log reopened by the next `echo >>` (lookup is cached).
	o0, p0 = ops()
	if _, _, err := bashTimed(time.Minute, fmt.Sprintf(`echo reopen >> %q`, filepath.Join(m.Dir, "app.log"))); err != nil {
		b.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	o1, p1 = ops()
	row("one `echo >>` to a closed log ≥ 5 MiB", diffOps(o1, o0), int(p1-p0))
	o0, p0 = ops()
	if _, _, err := bashTimed(time.Minute, fmt.Sprintf(`echo first >> %q`, filepath.Join(m.Dir, "new.log"))); err != nil {
		b.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	o1, p1 = ops()
	row("one `echo >>` creating a new log", diffOps(o1, o0), int(p1-p0))
	t.print()
}
