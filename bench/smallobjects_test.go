package bench

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/testenv"
)

// BenchmarkListingSmallObjects: the price of telling symlinks from small
// files. `ls -l` of S3MOUNT_BENCH_SMALL_N (default 10,000) objects of a few
// bytes, one in 100 of them a symlink in s3fs's form, on a fresh mount:
// by default every listed object of at most 4 KiB is HEADed (in parallel)
// to learn its type; with --no-symlink-probe none is, and the links show
// as regular files. Prints time and requests by operation for both, and
// raw ListObjectsV2 paging of the same prefix.
func BenchmarkListingSmallObjects(b *testing.B) {
	n := envInt(b, "S3MOUNT_BENCH_SMALL_N", 10000)
	ctx := context.Background()
	srv := testenv.StartServer(b)
	bucket := srv.NewBucket(b)
	st := srv.Store(b, bucket)
	testenv.PutMany(b, st, n, 32, func(i int) string { return fmt.Sprintf("small/f%06d", i) }, func(int) []byte { return []byte("x\n") })
	links := n / 100
	for i := 0; i < links; i++ {
		target := fmt.Sprintf("f%06d", i)
		_, err := st.Put(ctx, fmt.Sprintf("small/l%06d", i), strings.NewReader(target), int64(len(target)),
			s3store.Cond{Attrs: &s3store.Attrs{Mode: syscall.S_IFLNK | 0o777}})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	raw := timeIt(func() {
		for token := ""; ; {
			p, err := st.List(ctx, "small/", "/", token, 1000)
			if err != nil {
				b.Fatal(err)
			}
			if token = p.NextToken; token == "" {
				break
			}
		}
	})
	t := &table{
		title:  fmt.Sprintf("ls -l of %d small objects (%d symlinks) in one directory (server: %s, fresh mount)", n+links, links, srv.Kind),
		header: []string{"mount", "time", "vs raw paging", "requests", "symlinks shown"},
	}
	t.add("raw ListObjectsV2 paging", dur(raw), "1.00x", fmt.Sprint((n+links+999)/1000), "-")
	for _, flags := range [][]string{nil, {"--no-symlink-probe"}} {
		maddr := freeAddr()
		m := testenv.MountBinary(b, srv.Endpoint, srv, bucket, append(flags, "--metrics-addr", maddr)...)
		before, err := scrape(maddr)
		if err != nil {
			b.Fatal(err)
		}
		var out []byte
		took := timeIt(func() {
			if out, err = exec.Command("ls", "-l", m.Dir+"/small").Output(); err != nil {
				b.Fatalf("ls -l: %v", err)
			}
		})
		after, err := scrape(maddr)
		if err != nil {
			b.Fatal(err)
		}
		m.Unmount(b)
		shown := strings.Count(string(out), "\nl")
		name := "default"
		if flags != nil {
			name = strings.Join(flags, " ")
		}
		t.add(name, dur(took), fmt.Sprintf("%.2fx", took.Seconds()/raw.Seconds()),
			fmt.Sprint(diffOps(opCounts(after), opCounts(before))), fmt.Sprintf("%d of %d", shown, links))
		b.ReportMetric(took.Seconds()/raw.Seconds(), strings.TrimPrefix(name+"-ls/raw", "--"))
	}
	t.note("measured %s", time.Now().UTC().Format(time.RFC3339))
	t.print()
}
