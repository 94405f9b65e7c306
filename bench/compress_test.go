package bench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/testenv"
)

// accessLog is size bytes of an nginx combined-format access log with the
// variety of real traffic (thousands of clients, a few hundred URLs with
// ids, a dozen user agents, referrers, statuses and sizes, a clock that
// advances): a wrk run logs one client and one URL and compresses far
// better than production logs do.
func accessLog(seed uint64, size int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	agents := []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
		"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36",
		"curl/8.4.0", "python-requests/2.31.0", "Go-http-client/1.1",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
		"kube-probe/1.28", "Prometheus/2.48.0",
	}
	paths := []string{"/", "/index.html", "/api/v1/items", "/api/v1/items/%d", "/api/v1/users/%d/orders", "/static/js/app.%x.js",
		"/static/css/main.%x.css", "/images/p/%d.jpg", "/search?q=%s&page=%d", "/healthz", "/login", "/cart/%d", "/favicon.ico"}
	words := []string{"shoes", "red", "laptop", "usb-c", "cable", "chair", "desk", "lamp", "phone", "case", "book", "go"}
	statuses := []int{200, 200, 200, 200, 200, 200, 200, 304, 301, 404, 500, 206}
	t := time.Date(2026, 12, 6, 13, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	for b.Len() < size {
		t = t.Add(time.Duration(r.IntN(20)) * time.Millisecond)
		p := paths[r.IntN(len(paths))]
		switch p {
		case "/search?q=%s&page=%d":
			p = fmt.Sprintf(p, words[r.IntN(len(words))], 1+r.IntN(5))
		case "/static/js/app.%x.js", "/static/css/main.%x.css":
			p = fmt.Sprintf(p, r.Uint32()%16)
		default:
			if bytes.Contains([]byte(p), []byte("%d")) {
				p = fmt.Sprintf(p, r.IntN(100000))
			}
		}
		ref := "-"
		if r.IntN(3) == 0 {
			ref = "https://shop.example.com" + paths[r.IntN(3)]
		}
		fmt.Fprintf(&b, "%d.%d.%d.%d - - [%s] \"%s %s HTTP/1.1\" %d %d \"%s\" \"%s\" %.3f\n",
			10+r.IntN(200), r.IntN(256), r.IntN(256), 1+r.IntN(254), t.Format("02/Jan/2006:15:04:05 -0700"),
			[]string{"GET", "GET", "GET", "POST", "HEAD"}[r.IntN(5)], p, statuses[r.IntN(len(statuses))],
			r.IntN(50000), ref, agents[r.IntN(len(agents))], r.Float64()*0.3)
	}
	return b.Bytes()[:size]
}

// BenchmarkCompress: the compression ratio and CPU per MiB of gzip and
// zstd members on a realistic access log, for large members and for the
// small ones frequent publications of a quiet log make; then a log
// appended through the mount with --compress off, gzip and zstd: write()
// latency (unchanged: compression happens at publication), S3 requests,
// the daemon's CPU and the bytes stored.
func BenchmarkCompress(b *testing.B) {
	const logSize = 64 * MiB
	data := accessLog(1, logSize)
	codec := &table{title: fmt.Sprintf("codec on a %d MiB access log (in process)", logSize/MiB),
		header: []string{"codec", "member", "ratio", "CPU ms / MiB"}}
	for _, c := range []compress.Codec{compress.Gzip, compress.Zstd} {
		for _, member := range []int{64 << 10, compress.MemberSize} {
			var out bytes.Buffer
			cpu0 := selfCPU()
			for off := 0; off < len(data); off += member {
				n := min(member, len(data)-off)
				if _, _, err := c.Encode(&out, bytes.NewReader(data[off:off+n]), 0, int64(n)); err != nil {
					b.Fatal(err)
				}
			}
			cpu := selfCPU() - cpu0
			codec.add(string(c), fmt.Sprintf("%d KiB", member>>10), fmt.Sprintf("%.1f", float64(len(data))/float64(out.Len())),
				fmt.Sprintf("%.1f", float64(cpu.Milliseconds())/float64(logSize/MiB)))
		}
	}
	codec.print()

	srv := testenv.StartServer(b)
	const writeSize = 32 * MiB
	mount := &table{title: fmt.Sprintf("%d MiB appended through the mount in 4 KiB writes over ~5 s, --upload-interval 1s", writeSize/MiB),
		header: []string{"--compress", "write p50", "write p99", "S3 requests", "daemon CPU ms / MiB", "stored", "ratio", "read back (fresh mount)"}}
	for _, c := range []struct{ flag, key string }{{"", "app.log"}, {"gzip", "app.log.gz"}, {"zstd", "app.log.zst"}} {
		bucket := srv.NewBucket(b)
		args := []string{"--upload-interval", "1s"}
		if c.flag != "" {
			args = append(args, "--compress", c.flag)
		}
		m, p := mountProxied(b, srv, bucket, args...)
		pid := m.Cmd.Process.Pid
		f, err := os.OpenFile(filepath.Join(m.Dir, "app.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		cpu0, req0 := procCPU(b, pid), p.Requests()
		var lat []time.Duration
		for off := 0; off < writeSize; off += 4096 {
			t0 := time.Now()
			if _, err := f.Write(data[off : off+4096]); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			if (off+4096)%MiB == 0 {
				time.Sleep(150 * time.Millisecond) // a log that takes several intervals to write
			}
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		cpu, reqs := procCPU(b, pid)-cpu0, p.Requests()-req0
		f.Close()
		m.Unmount(b)
		// Read back sequentially on a fresh mount (no member index yet).
		// S3MOUNT_BENCH_PPROF=DIR: a CPU profile of the daemon during it.
		profDir, maddr := os.Getenv("S3MOUNT_BENCH_PPROF"), freeAddr()
		var env []string
		if profDir != "" {
			env = append(env, "S3MOUNT_PPROF=1")
		}
		m2 := testenv.MountBinaryEnv(b, env, srv.Endpoint, srv, bucket, append(args, "--metrics-addr", maddr)...)
		var prof <-chan profile
		if profDir != "" {
			prof = fetchProfile(maddr, 2*time.Second)
		}
		n, rd, err := readAll(filepath.Join(m2.Dir, "app.log"))
		if prof != nil {
			saveProfile(b, <-prof, profDir, "compress-read-"+c.flag)
		}
		m2.Unmount(b)
		if err != nil || n != writeSize {
			b.Fatalf("read back: %d bytes, %v", n, err)
		}
		obj, err := getObject(srv, bucket, c.key)
		if err != nil {
			b.Fatal(err)
		}
		raw := obj
		if c.flag != "" {
			tool := map[string]string{"gzip": "gzip", "zstd": "zstd"}[c.flag]
			cmd := exec.Command(tool, "-dc")
			cmd.Stdin = bytes.NewReader(obj)
			if raw, err = cmd.Output(); err != nil {
				b.Fatalf("%s -dc: %v", tool, err)
			}
		}
		if !bytes.Equal(raw, data[:writeSize]) {
			b.Fatalf("--compress %q: the object holds %d bytes uncompressed, want the %d written", c.flag, len(raw), writeSize)
		}
		name := c.flag
		if name == "" {
			name = "off"
		}
		mount.add(name, dur(percentile(lat, 50)), dur(percentile(lat, 99)), fmt.Sprint(reqs),
			fmt.Sprintf("%.1f", float64(cpu.Milliseconds())/float64(writeSize/MiB)),
			fmt.Sprintf("%.1f MiB", float64(len(obj))/MiB), fmt.Sprintf("%.1f", float64(writeSize)/float64(len(obj))),
			fmt.Sprintf("%.0f MiB/s", mibps(n, rd)))
	}
	mount.note("write() never compresses (publication does): its latency should not depend on --compress; the machine is shared, compare runs side by side")
	mount.print()
}
