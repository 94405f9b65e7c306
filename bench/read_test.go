package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/testenv"
)

const mib = 1 << 20

// BenchmarkReadSideBySide measures the read side through the real binary and
// raw SDK requests against one local server, and prints both and the ratio:
// sequential MiB/s of a 1 GiB object (target mount/raw >= 0.8) and the CPU
// each side spent per GiB (target daemon <= 2x the raw client), time to
// first byte (target <= 2x a single GET), random 256 KiB reads/s (target
// >= 0.8x raw ranged GETs) and the daemon's peak RSS (target <= 256 MiB).
// The sequential read runs readRounds times alternating with the raw one;
// the fastest of each is compared. Everything runs once, whatever b.N is:
// use -benchtime 1x.
//
// S3MOUNT_BENCH_PPROF=DIR also writes a CPU profile of the daemon during
// repeated sequential reads of the 1 GiB object to DIR/read.pprof and prints
// its top entries by cumulative time. S3MOUNT_BENCH_READ_ROUNDS sets the
// number of sequential rounds; S3MOUNT_BENCH_READ_ARGS and
// S3MOUNT_BENCH_BASELINE_ARGS add flags to the build under test and to the
// baseline.
func BenchmarkReadSideBySide(b *testing.B) {
	ctx := context.Background()
	srv := testenv.StartServer(b)
	bucket := srv.NewBucket(b)
	st := srv.Store(b, bucket)

	const bigSize = 1024 * mib
	put(b, st, "big", randBytes(1, bigSize))
	put(b, st, "random", randBytes(2, 256*mib))
	small := randBytes(3, 8*mib)
	const firsts = 20
	for i := 0; i < firsts; i++ {
		put(b, st, fmt.Sprintf("ttfb/raw%02d", i), small)
		put(b, st, fmt.Sprintf("ttfb/mnt%02d", i), small)
	}
	profDir := os.Getenv("S3MOUNT_BENCH_PPROF")
	var env []string
	if profDir != "" {
		env = append(env, "S3MOUNT_PPROF=1")
	}
	maddr := freeAddr()
	// S3MOUNT_BENCH_READ_ARGS / S3MOUNT_BENCH_BASELINE_ARGS: extra flags
	// (space-separated) for the build under test and the baseline, so one
	// build can be compared with itself under other settings.
	args := append([]string{"--metrics-addr", maddr}, strings.Fields(os.Getenv("S3MOUNT_BENCH_READ_ARGS"))...)
	m := testenv.MountBinaryEnv(b, env, srv.Endpoint, srv, bucket, args...)
	pid := m.Cmd.Process.Pid
	// S3MOUNT_BENCH_BASELINE_BINARY=PATH: another build (say, main before a
	// change) mounted beside, read in the same rounds.
	var base *testenv.Mount
	if bin := os.Getenv("S3MOUNT_BENCH_BASELINE_BINARY"); bin != "" {
		base = testenv.MountBinaryAt(b, bin, nil, srv.Endpoint, srv, bucket, strings.Fields(os.Getenv("S3MOUNT_BENCH_BASELINE_ARGS"))...)
	}
	b.ResetTimer()

	var rows []row
	add := func(name, unit string, mount, raw float64, higherBetter bool) {
		ratio := mount / raw
		if !higherBetter {
			ratio = raw / mount
		}
		rows = append(rows, row{name, unit, mount, raw, ratio})
	}

	// Sequential: raw 16 x 8 MiB ranged GETs in parallel vs a 1 MiB read
	// loop through the mount, alternating; CPU summed over the rounds.
	readRounds := 3
	if base != nil {
		readRounds = 4 // an even number: each build is first as often
	}
	// S3MOUNT_BENCH_READ_ROUNDS: more rounds average out other tenants'
	// load (the CPU per GiB moves with what else shares the CPU caches).
	readRounds = envInt(b, "S3MOUNT_BENCH_READ_ROUNDS", readRounds)
	var rawSeq, mntSeq, baseSeq time.Duration
	var rawCPU, mntCPU, baseCPU cpuUse
	for round := 0; round < readRounds; round++ {
		var d time.Duration
		c := measureCPU(b, pid, srv.Pid, func() {
			var err error
			d, err = rawParallelGet(context.Background(), st, "big", bigSize, 8*mib, 16)
			if err != nil {
				b.Fatal(err)
			}
		})
		rawCPU = rawCPU.plus(c)
		if rawSeq == 0 || d < rawSeq {
			rawSeq = d
		}
		readMnt := func() {
			c := measureCPU(b, pid, srv.Pid, func() {
				d = timeIt(func() { readFile(b, filepath.Join(m.Dir, "big"), bigSize) })
			})
			mntCPU = mntCPU.plus(c)
			if mntSeq == 0 || d < mntSeq {
				mntSeq = d
			}
		}
		readBase := func() {
			if base == nil {
				return
			}
			c := measureCPU(b, base.Cmd.Process.Pid, srv.Pid, func() {
				d = timeIt(func() { readFile(b, filepath.Join(base.Dir, "big"), bigSize) })
			})
			baseCPU = baseCPU.plus(c)
			if baseSeq == 0 || d < baseSeq {
				baseSeq = d
			}
		}
		// The read right after the raw one was slower in every run (MinIO,
		// load ~20): the builds take turns being first.
		if round%2 == 0 {
			readMnt()
			readBase()
		} else {
			readBase()
			readMnt()
		}
	}
	rss := peakRSS(b, pid)
	add("sequential 1 GiB read", "MiB/s", mibps(bigSize, mntSeq), mibps(bigSize, rawSeq), true)
	perGiB := func(d time.Duration) float64 { return d.Seconds() / float64(readRounds) }
	add("CPU per GiB: s3mount vs client", "s", perGiB(mntCPU.daemon), perGiB(rawCPU.self), false)
	add("CPU per GiB: server", "s", perGiB(mntCPU.server), perGiB(rawCPU.server), false)
	add("CPU per GiB: reader (dd)", "s", perGiB(mntCPU.self), 0, false)
	if base != nil {
		add("baseline: sequential", "MiB/s", mibps(bigSize, baseSeq), mibps(bigSize, rawSeq), true)
		add("baseline: CPU/GiB vs client", "s", perGiB(baseCPU.daemon), perGiB(rawCPU.self), false)
		add("baseline: CPU/GiB reader", "s", perGiB(baseCPU.self), 0, false)
		add("baseline peak RSS", "MiB", float64(peakRSS(b, base.Cmd.Process.Pid))/mib, 0, false)
	}

	// First byte: a GET's first body byte vs open + first read of a new file.
	var rawFirst, mntFirst []time.Duration
	buf := make([]byte, 4096)
	for i := 0; i < firsts; i++ {
		rawFirst = append(rawFirst, timeIt(func() {
			rc, err := st.Get(ctx, fmt.Sprintf("ttfb/raw%02d", i), 0, -1, "")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(rc, buf[:1]); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}))
		mntFirst = append(mntFirst, timeIt(func() {
			f, err := os.Open(filepath.Join(m.Dir, fmt.Sprintf("ttfb/mnt%02d", i)))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Read(buf); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}))
	}
	add("time to first byte (median)", "ms", ms(median(mntFirst)), ms(median(rawFirst)), false)

	// Random 256 KiB reads at distinct offsets (nothing cached), one at a time.
	const rnd = 300
	offs := rand.New(rand.NewPCG(5, 6)).Perm(256 * mib / (256 << 10))[:rnd]
	rbuf := make([]byte, 256<<10)
	rawRnd := timeIt(func() {
		for _, o := range offs {
			rc, err := st.Get(ctx, "random", int64(o)*(256<<10), 256<<10, "")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(rc, rbuf); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
	})
	f, err := os.Open(filepath.Join(m.Dir, "random"))
	if err != nil {
		b.Fatal(err)
	}
	mntRnd := timeIt(func() {
		for _, o := range offs {
			if _, err := f.ReadAt(rbuf, int64(o)*(256<<10)); err != nil {
				b.Fatal(err)
			}
		}
	})
	f.Close()
	add("random 256 KiB reads", "reads/s", rnd/mntRnd.Seconds(), rnd/rawRnd.Seconds(), true)
	b.StopTimer()

	for _, r := range rows {
		if r.raw > 0 {
			b.ReportMetric(r.ratio, metricName(r.name)+"-ratio")
		}
	}
	b.ReportMetric(mibps(bigSize, mntSeq), "seq-MiB/s")
	b.ReportMetric(float64(rss)/mib, "peak-RSS-MiB")
	printTable(rows, rss, srv.Kind)

	if profDir != "" {
		profileDaemon(b, pid, maddr, profDir, "read", 10*time.Second, func() {
			readFile(b, filepath.Join(m.Dir, "big"), bigSize)
		})
	}
}

func (c cpuUse) plus(d cpuUse) cpuUse {
	return cpuUse{c.self + d.self, c.daemon + d.daemon, c.server + d.server}
}

type row struct {
	name, unit string
	mount, raw float64
	ratio      float64 // > 1 means the mount is better
}

func printTable(rows []row, rss int64, server string) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\ns3mount read side by side with raw SDK requests (server: %s, 127.0.0.1)\n", server)
	fmt.Fprintf(&sb, "%-30s %12s %12s %-8s %14s\n", "measure", "s3mount", "raw", "unit", "mount vs raw")
	for _, r := range rows {
		if r.raw == 0 {
			fmt.Fprintf(&sb, "%-30s %12.2f %12s %-8s %14s\n", r.name, r.mount, "-", r.unit, "-")
			continue
		}
		fmt.Fprintf(&sb, "%-30s %12.2f %12.2f %-8s %13.2fx\n", r.name, r.mount, r.raw, r.unit, r.ratio)
	}
	fmt.Fprintf(&sb, "%-30s %12.1f %12s %-8s %14s\n", "daemon peak RSS (VmHWM)", float64(rss)/mib, "-", "MiB", "target <= 256")
	fmt.Fprintf(&sb, "(ratio: mount/raw for rates, raw/mount for times; targets: sequential >= 0.8,\n"+
		" CPU per GiB >= 0.5 (daemon <= 2x the raw client), first byte >= 0.5, random >= 0.8)\n")
	fmt.Print(sb.String())
}

func metricName(s string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) {
		if b.Len() > 0 {
			b.WriteByte('-')
		}
		b.WriteString(w)
	}
	return b.String()
}

func put(b *testing.B, st s3store.Store, key string, data []byte) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data)), s3store.Cond{}); err != nil {
		b.Fatalf("put %s: %v", key, err)
	}
}

func readFile(b *testing.B, p string, want int64) {
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	n, err := readChunks(f, mib)
	if err != nil || n != want {
		b.Fatalf("read %s: %d bytes, %v", p, n, err)
	}
}

// peakRSS is the process's VmHWM in bytes.
func peakRSS(b testing.TB, pid int) int64 {
	s, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc status")
	return 0
}

func randBytes(seed uint64, n int) []byte {
	buf := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(buf)
	return buf
}

func timeIt(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
