package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// BenchmarkListing: `ls -l` of S3MOUNT_BENCH_LIST_N (default 100,000)
// objects in one directory of a fresh mount (cold: nothing cached) against
// raw ListObjectsV2 paging (1,000 keys a page) of the same prefix, measured
// just before; and the daemon's peak RSS during the ls. Targets (issue 13):
// ls -l <= 1.2x the raw paging, peak RSS <= 128 MiB.
func BenchmarkListing(b *testing.B) {
	n := envInt(b, "S3MOUNT_BENCH_LIST_N", 100000)
	ctx := context.Background()
	srv := testenv.StartServer(b)
	bucket := srv.NewBucket(b)
	st := srv.Store(b, bucket)
	testenv.PutMany(b, st, n, 32, func(i int) string { return fmt.Sprintf("list/f%06d", i) }, func(int) []byte { return []byte("x") })
	// S3MOUNT_BENCH_PPROF=DIR: the daemon's heap right after the ls.
	profDir := os.Getenv("S3MOUNT_BENCH_PPROF")
	var env []string
	if profDir != "" {
		env = append(env, "S3MOUNT_PPROF=1")
	}
	maddr := freeAddr()
	m := testenv.MountBinaryEnv(b, env, srv.Endpoint, srv, bucket, "--metrics-addr", maddr)
	pid := m.Cmd.Process.Pid
	b.ResetTimer()

	raw := timeIt(func() {
		got, token := 0, ""
		for {
			p, err := st.List(ctx, "list/", "/", token, 1000)
			if err != nil {
				b.Fatal(err)
			}
			got += len(p.Objects)
			if token = p.NextToken; token == "" {
				break
			}
		}
		if got != n {
			b.Fatalf("raw list: %d keys, want %d", got, n)
		}
	})
	// VmHWM from here on: the mount's peak while listing, not at startup.
	if err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("reset the daemon's VmHWM: %v", err)
	}
	var out []byte
	var mnt, lsCPU time.Duration
	cpu := measureCPU(b, pid, srv.Pid, func() {
		cmd := exec.Command("ls", "-l", m.Dir+"/list")
		mnt = timeIt(func() {
			var err error
			if out, err = cmd.Output(); err != nil {
				b.Fatalf("ls -l: %v", err)
			}
		})
		lsCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	})
	rss := peakRSS(b, pid)
	if profDir != "" {
		saveHeap(b, maddr, profDir, "list-heap")
	}
	if lines := strings.Count(string(out), "\n") - 1; lines != n { // and the "total" line
		b.Fatalf("ls -l listed %d entries, want %d", lines, n)
	}
	printListing(n, mnt, raw, rss, srv.Kind)
	fmt.Printf("  CPU during ls -l: daemon %.2f s, S3 server %.2f s, ls %.2f s\n",
		cpu.daemon.Seconds(), cpu.server.Seconds(), lsCPU.Seconds())
	b.ReportMetric(mnt.Seconds()/raw.Seconds(), "ls/raw")
	b.ReportMetric(float64(rss)/MiB, "peak-RSS-MiB")
}

func printListing(n int, mnt, raw time.Duration, rss int64, server string) {
	t := &table{
		title:  fmt.Sprintf("Listing %d objects in one directory (server: %s, cold mount)", n, server),
		header: []string{"measure", "s3mount", "raw", "ratio", "target", "verdict"},
	}
	ratio := mnt.Seconds() / raw.Seconds()
	t.add("ls -l vs ListObjectsV2 paging", dur(mnt), dur(raw), fmt.Sprintf("%.2fx", ratio), "<= 1.2x", verdict(ratio <= 1.2))
	t.add("daemon peak RSS during ls -l", fmt.Sprintf("%.1f MiB", float64(rss)/MiB), "-", "-", "<= 128 MiB", verdict(rss <= 128*MiB))
	t.print()
}
