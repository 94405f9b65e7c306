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
// sequential MiB/s of a 1 GiB object (target mount/raw >= 0.9), time to
// first byte, random 256 KiB reads/s, listing 10,000 objects (ReadDir +
// Lstat each, as ls -l) and the daemon's peak RSS (target <= 256 MiB).
// Everything runs once, whatever b.N is: use -benchtime 1x.
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
	const listN = 10000
	testenv.PutMany(b, st, listN, 32, func(i int) string { return fmt.Sprintf("list/f%05d", i) }, func(int) []byte { return []byte("x") })
	m := testenv.MountBinary(b, srv.Endpoint, srv, bucket)
	b.ResetTimer()

	var rows []row
	add := func(name, unit string, mount, raw float64, higherBetter bool) {
		ratio := mount / raw
		if !higherBetter {
			ratio = raw / mount
		}
		rows = append(rows, row{name, unit, mount, raw, ratio})
	}

	// Sequential: raw 16 x 8 MiB ranged GETs in parallel vs cat through the mount.
	rawSeq, err := rawParallelGet(context.Background(), st, "big", bigSize, 8*mib, 16)
	if err != nil {
		b.Fatal(err)
	}
	mntSeq := timeIt(func() { readFile(b, filepath.Join(m.Dir, "big"), bigSize) })
	rss := peakRSS(b, m.Cmd.Process.Pid)
	add("sequential 1 GiB read", "MiB/s", mibps(bigSize, mntSeq), mibps(bigSize, rawSeq), true)

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

	// Listing: ListObjectsV2 pages vs ReadDir + Lstat of every entry.
	rawList := timeIt(func() {
		n, token := 0, ""
		for {
			p, err := st.List(ctx, "list/", "/", token, 1000)
			if err != nil {
				b.Fatal(err)
			}
			n += len(p.Objects)
			if token = p.NextToken; token == "" {
				break
			}
		}
		if n != listN {
			b.Fatalf("raw list: %d keys", n)
		}
	})
	mntList := timeIt(func() {
		dir := filepath.Join(m.Dir, "list")
		ents, err := os.ReadDir(dir)
		if err != nil || len(ents) != listN {
			b.Fatalf("ReadDir: %d entries, %v", len(ents), err)
		}
		for _, e := range ents {
			if _, err := os.Lstat(filepath.Join(dir, e.Name())); err != nil {
				b.Fatal(err)
			}
		}
	})
	add("list 10,000 objects (ls -l)", "s", mntList.Seconds(), rawList.Seconds(), false)
	b.StopTimer()

	for _, r := range rows {
		b.ReportMetric(r.ratio, metricName(r.name)+"-ratio")
	}
	b.ReportMetric(mibps(bigSize, mntSeq), "seq-MiB/s")
	b.ReportMetric(float64(rss)/mib, "peak-RSS-MiB")
	printTable(rows, rss, srv.Kind)
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
		fmt.Fprintf(&sb, "%-30s %12.2f %12.2f %-8s %13.2fx\n", r.name, r.mount, r.raw, r.unit, r.ratio)
	}
	fmt.Fprintf(&sb, "%-30s %12.1f %12s %-8s %14s\n", "daemon peak RSS (VmHWM)", float64(rss)/mib, "-", "MiB", "target <= 256")
	fmt.Fprintf(&sb, "(ratio: mount/raw for rates, raw/mount for times; sequential target >= 0.90)\n")
	fmt.Print(sb.String())
}

func metricName(s string) string {
	f := strings.Fields(s)
	return f[0]
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
	n, err := io.CopyBuffer(io.Discard, f, make([]byte, mib))
	if err != nil || n != want {
		b.Fatalf("read %s: %d bytes, %v", p, n, err)
	}
}

// peakRSS is the process's VmHWM in bytes.
func peakRSS(b *testing.B, pid int) int64 {
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
