package readahead

import (
	"bufio"
	"context"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/testenv"
)

// BenchmarkSequentialRead reads a 256 MiB object through a default Pool with
// 128 KiB reads (what the kernel sends) and, side by side, with 16 concurrent
// raw 8 MiB ranged GETs through the same Store: the ceiling. It reports both
// rates, their ratio, and the process's peak RSS during the Pool read (the
// S3 server runs in another process).
//
//	go test -run '^$' -bench SequentialRead -benchtime 3x ./internal/readahead/
func BenchmarkSequentialRead(b *testing.B) {
	const size = 256 << 20
	srv := testenv.StartServer(b)
	bk := srv.NewBucket(b)
	st := srv.Store(b, bk)
	srv.Put(b, bk, "bench", randBytes(99, size))
	runtime.GC()
	debug.FreeOSMemory()
	info, err := st.Head(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	pool := NewPool(st, PoolOptions{})
	var poolTime, rawTime time.Duration
	var peakRSS int64
	b.ResetTimer()
	for i := range b.N {
		// Alternate the order so neither always runs on a warm server.
		runs := []func(){
			func() {
				debug.FreeOSMemory() // the raw run's buffers must not count
				resetPeakRSS()
				t := time.Now()
				readThroughPool(b, pool, info)
				poolTime += time.Since(t)
				peakRSS = max(peakRSS, peakRSSBytes())
			},
			func() {
				t := time.Now()
				readRaw(b, st, info)
				rawTime += time.Since(t)
			},
		}
		if i%2 == 1 {
			runs[0], runs[1] = runs[1], runs[0]
		}
		for _, run := range runs {
			run()
		}
	}
	b.StopTimer()
	mib := float64(b.N) * size / (1 << 20)
	poolRate, rawRate := mib/poolTime.Seconds(), mib/rawTime.Seconds()
	b.ReportMetric(poolRate, "pool-MiB/s")
	b.ReportMetric(rawRate, "raw-MiB/s")
	b.ReportMetric(poolRate/rawRate, "pool/raw")
	b.ReportMetric(float64(peakRSS)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(pool.peak.Load())/(1<<20), "peak-budget-MiB")
	b.Logf("pool %.0f MiB/s, raw 16x8MiB GETs %.0f MiB/s, ratio %.2f, peak RSS %d MiB",
		poolRate, rawRate, poolRate/rawRate, peakRSS>>20)
}

func readThroughPool(b *testing.B, pool *Pool, info s3store.ObjectInfo) {
	r := pool.Open(info.Key, info.ETag, info.Size)
	defer r.Close()
	buf := make([]byte, 128<<10)
	var off int64
	for {
		n, err := r.ReadAt(context.Background(), buf, off)
		off += int64(n)
		if err == io.EOF || off == info.Size {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if off != info.Size {
		b.Fatalf("read %d of %d", off, info.Size)
	}
}

// readRaw is the ceiling: 16 workers, each GETs 8 MiB parts into its buffer.
func readRaw(b *testing.B, st s3store.Store, info s3store.ObjectInfo) {
	const part = 8 << 20
	next := make(chan int64)
	go func() {
		for off := int64(0); off < info.Size; off += part {
			next <- off
		}
		close(next)
	}()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			buf := make([]byte, part)
			for off := range next {
				n := min(part, info.Size-off)
				body, err := st.Get(context.Background(), info.Key, off, n, info.ETag)
				if err != nil {
					b.Error(err)
					continue
				}
				if _, err := io.ReadFull(body, buf[:n]); err != nil {
					b.Error(err)
				}
				body.Close()
			}
		})
	}
	wg.Wait()
}

// resetPeakRSS resets the kernel's VmHWM of this process (Linux).
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSBytes is VmHWM from /proc/self/status, 0 if unknown.
func peakRSSBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
