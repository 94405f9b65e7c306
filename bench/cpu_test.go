package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat CPU times (100 on every
// Linux build that matters; sysconf is not reachable without cgo).
const clockTicks = 100

// procCPU is the user + system CPU time pid has used so far.
func procCPU(b testing.TB, pid int) time.Duration {
	b.Helper()
	s, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start at state.
	f := strings.Fields(string(s[strings.LastIndexByte(string(s), ')')+2:]))
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	return time.Duration(ut+st) * time.Second / clockTicks
}

// selfCPU is the user + system CPU time of this process (the raw client,
// or the reader of the mount), children excluded.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuUse is the CPU each party spent during one measured step.
type cpuUse struct{ self, daemon, server time.Duration }

// measureCPU runs f and returns the CPU time this process, the daemon (pid
// 0: none) and the S3 server spent meanwhile.
func measureCPU(b testing.TB, daemon, server int, f func()) cpuUse {
	b.Helper()
	get := func(pid int) time.Duration {
		if pid == 0 {
			return 0
		}
		return procCPU(b, pid)
	}
	s0, d0, v0 := selfCPU(), get(daemon), get(server)
	f()
	return cpuUse{selfCPU() - s0, get(daemon) - d0, get(server) - v0}
}

// profileDaemon takes a CPU profile of the daemon pid (mounted with
// S3MOUNT_PPROF=1 and --metrics-addr addr) while work runs again and again
// for d, writes it to dir/name.pprof and prints its top entries by
// cumulative time. With S3MOUNT_BENCH_PERF=1 it also records the daemon
// with perf (kernel included: most of a read's CPU is kernel copies) into
// dir/name.perf and prints the top symbols.
func profileDaemon(t testing.TB, pid int, addr, dir, name string, d time.Duration, work func()) {
	t.Helper()
	var perf *exec.Cmd
	perfOut := filepath.Join(dir, name+".perf")
	if os.Getenv("S3MOUNT_BENCH_PERF") == "1" {
		perf = exec.Command("perf", "record", "-g", "-o", perfOut, "-p", strconv.Itoa(pid),
			"--", "sleep", strconv.Itoa(int(d.Seconds())))
		if err := perf.Start(); err != nil {
			t.Fatalf("perf record: %v", err)
		}
	}
	got := fetchProfile(addr, d)
	for {
		work()
		select {
		case r := <-got:
			saveProfile(t, r, dir, name)
			if perf != nil {
				if err := perf.Wait(); err != nil {
					t.Fatalf("perf record: %v", err)
				}
				top, err := exec.Command("perf", "report", "-i", perfOut, "--no-children",
					"--sort", "symbol", "--stdio", "--percent-limit", "1", "-g", "none").CombinedOutput()
				if err != nil {
					t.Fatalf("perf report: %v\n%s", err, top)
				}
				fmt.Printf("\nperf profile of the daemon (%s), symbols over 1%%:\n%s", perfOut, top)
			}
			return
		default:
		}
	}
}

type profile struct {
	data []byte
	err  error
}

// fetchProfile asks the daemon for a CPU profile of the next d.
func fetchProfile(addr string, d time.Duration) <-chan profile {
	got := make(chan profile, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
		defer cancel()
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds()))
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- profile{nil, err}
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: %s", resp.Status, data)
		}
		got <- profile{data, err}
	}()
	return got
}

// saveProfile writes p to dir/name.pprof and prints its top entries by
// cumulative time.
func saveProfile(t testing.TB, p profile, dir, name string) {
	t.Helper()
	saveProfileOf(t, testenv.Binary(t), p, dir, name)
}

// saveProfileOf is saveProfile for a profile of the binary bin.
func saveProfileOf(t testing.TB, bin string, p profile, dir, name string) {
	t.Helper()
	if p.err != nil {
		t.Fatalf("CPU profile: %v", p.err)
	}
	out := filepath.Join(dir, name+".pprof")
	if err := os.WriteFile(out, p.data, 0o644); err != nil {
		t.Fatal(err)
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=30", bin, out).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, top)
	}
	fmt.Printf("\nCPU profile of the daemon (%s), top by cumulative time:\n%s", out, top)
}

// saveHeap writes the daemon's heap profile (live objects, after a GC)
// to dir/name.pprof and prints its top entries by bytes in use.
func saveHeap(t testing.TB, addr, dir, name string) {
	t.Helper()
	saveHeapOf(t, testenv.Binary(t), addr, dir, name)
}

// saveHeapOf is saveHeap for a daemon running the binary bin.
func saveHeapOf(t testing.TB, bin, addr, dir, name string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap?gc=1") // live objects now, not at the last GC
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name+".pprof")
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-sample_index=inuse_space", "-nodecount=25", bin, out).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, top)
	}
	fmt.Printf("\nHeap of the daemon (%s), top by bytes in use:\n%s", out, top)
}
