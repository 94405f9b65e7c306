package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/testenv"
)

// defaultListRounds (S3MOUNT_BENCH_LIST_ROUNDS): each round measures the
// raw paging, then ls -l on a fresh mount; the machine's load moves between
// runs, so both are printed.
const defaultListRounds = 2

// listObjectSize is over PATH_MAX (4096): such objects are listed without a
// HEAD each.
const listObjectSize = 5000

// BenchmarkListing: `ls -l` of S3MOUNT_BENCH_LIST_N (default 100,000)
// objects of listObjectSize bytes in one directory of a fresh mount (cold:
// nothing cached) against
// raw ListObjectsV2 paging (1,000 keys a page) of the same prefix, measured
// just before; and the daemon's peak RSS during the ls. Targets (issue 13):
// ls -l <= 1.2x the raw paging, peak RSS <= 128 MiB.
func BenchmarkListing(b *testing.B) {
	n := envInt(b, "S3MOUNT_BENCH_LIST_N", 100000)
	listRounds := envInt(b, "S3MOUNT_BENCH_LIST_ROUNDS", defaultListRounds)
	ctx := context.Background()
	srv := testenv.StartServer(b)
	bucket := srv.NewBucket(b)
	// The raw paging stands for a plain SDK client: the SDK's XML decoder,
	// not the daemon's (s3store.Options.SDKListDecoder).
	st := srv.StoreWith(b, s3store.Options{Bucket: bucket, SDKListDecoder: true})
	// Objects larger than PATH_MAX, as logs are: a listing HEADs smaller
	// ones to tell symlinks from files (BenchmarkListingSmallObjects
	// measures that cost), and that is not what this measures.
	body := bytes.Repeat([]byte("x"), listObjectSize)
	testenv.PutMany(b, st, n, 32, func(i int) string { return fmt.Sprintf("list/f%06d", i) }, func(int) []byte { return body })
	// S3MOUNT_BENCH_PPROF=DIR: after the timed rounds, one more ls -l per
	// build with the daemon's CPU profiled during it and its heap saved
	// right after (not in a timed round: profiling costs the daemon CPU).
	profDir := os.Getenv("S3MOUNT_BENCH_PPROF")
	var env []string
	if profDir != "" {
		env = append(env, "S3MOUNT_PPROF=1")
	}
	b.ResetTimer()
	type round struct {
		raw, mnt    time.Duration
		rss         int64
		cpu, rawCPU cpuUse
		lsCPU       time.Duration
		baseMnt     time.Duration // S3MOUNT_BENCH_BASELINE_BINARY's ls -l
		baseRSS     int64
	}
	baseBin := os.Getenv("S3MOUNT_BENCH_BASELINE_BINARY")
	lsOn := func(bin string, prof string) (mnt, lsCPU time.Duration, rss int64, cpu cpuUse) {
		maddr := freeAddr()
		m := testenv.MountBinaryAt(b, bin, env, srv.Endpoint, srv, bucket, "--metrics-addr", maddr)
		pid := m.Cmd.Process.Pid
		// VmHWM from here on: the mount's peak while listing, not at startup.
		if err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0); err != nil {
			b.Fatalf("reset the daemon's VmHWM: %v", err)
		}
		var out []byte
		var cpuProf <-chan profile
		if prof != "" {
			// Longer than the ls takes; a profile's idle tail costs nothing.
			cpuProf = fetchProfile(maddr, time.Duration(max(5, n/3000))*time.Second)
		}
		cpu = measureCPU(b, pid, srv.Pid, func() {
			cmd := exec.Command("ls", "-l", m.Dir+"/list")
			mnt = timeIt(func() {
				var err error
				if out, err = cmd.Output(); err != nil {
					b.Fatalf("ls -l: %v", err)
				}
			})
			lsCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		})
		rss = peakRSS(b, pid)
		if lines := strings.Count(string(out), "\n") - 1; lines != n { // and the "total" line
			b.Fatalf("ls -l listed %d entries, want %d", lines, n)
		}
		if prof != "" {
			saveHeapOf(b, bin, maddr, profDir, prof+"-heap")
			saveProfileOf(b, bin, <-cpuProf, profDir, prof+"-cpu")
		}
		m.Unmount(b)
		return
	}
	var rounds []round
	for i := 0; i < listRounds; i++ {
		var r round
		r.rawCPU = measureCPU(b, 0, srv.Pid, func() {
			r.raw = timeIt(func() {
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
		})
		// With a baseline build, the builds take turns at going first.
		if baseBin != "" && i%2 == 1 {
			r.baseMnt, _, r.baseRSS, _ = lsOn(baseBin, "")
		}
		r.mnt, r.lsCPU, r.rss, r.cpu = lsOn(testenv.Binary(b), "")
		if baseBin != "" && i%2 == 0 {
			r.baseMnt, _, r.baseRSS, _ = lsOn(baseBin, "")
		}
		rounds = append(rounds, r)
	}
	b.StopTimer()
	if profDir != "" {
		lsOn(testenv.Binary(b), "list")
		if baseBin != "" {
			lsOn(baseBin, "list-baseline")
		}
	}
	t := &table{
		title:  fmt.Sprintf("Listing %d objects of %d bytes in one directory (server: %s, a fresh mount per round)", n, listObjectSize, srv.Kind),
		header: []string{"round", "ls -l", "raw paging", "ratio (target <= 1.2x)", "daemon peak RSS (target <= 128 MiB)", "CPU: daemon / server / ls", "CPU raw: client / server"},
	}
	if baseBin != "" {
		t.header = append(t.header, "baseline binary: ls -l, ratio, peak RSS")
	}
	best := 0.0
	var worstRSS int64
	for i, r := range rounds {
		ratio := r.mnt.Seconds() / r.raw.Seconds()
		if best == 0 || ratio < best {
			best = ratio
		}
		worstRSS = max(worstRSS, r.rss)
		t.add(strconv.Itoa(i+1), dur(r.mnt), dur(r.raw), fmt.Sprintf("%.2fx %s", ratio, verdict(ratio <= 1.2)),
			fmt.Sprintf("%.1f MiB %s", float64(r.rss)/MiB, verdict(r.rss <= 128*MiB)),
			fmt.Sprintf("%.2f / %.2f / %.2f s", r.cpu.daemon.Seconds(), r.cpu.server.Seconds(), r.lsCPU.Seconds()),
			fmt.Sprintf("%.2f / %.2f s", r.rawCPU.self.Seconds(), r.rawCPU.server.Seconds()))
		if baseBin != "" {
			row := &t.rows[len(t.rows)-1]
			*row = append(*row, fmt.Sprintf("%s, %.2fx, %.1f MiB", dur(r.baseMnt), r.baseMnt.Seconds()/r.raw.Seconds(), float64(r.baseRSS)/MiB))
		}
	}
	t.print()
	b.ReportMetric(best, "best-ls/raw")
	b.ReportMetric(float64(worstRSS)/MiB, "peak-RSS-MiB")
}
