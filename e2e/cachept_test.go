package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// FUSE passthrough of wholly cached objects (--cache on a --read-only
// mount): the kernel reads the data cache's file of the object directly.

const cachePassthroughOnLog = "reads of wholly cached objects: FUSE passthrough"

// cacheMount mounts read-only with a data cache and metrics.
func cacheMount(t *testing.T, srv *testenv.Server, b string, extra ...string) (*testenv.Mount, string, string) {
	t.Helper()
	return cacheMountMode(t, srv, b, "read-only", extra...)
}

// cacheMountMode is cacheMount, or read-write with the cache on the
// spool's file system (mode "read-write").
func cacheMountMode(t *testing.T, srv *testenv.Server, b, mode string, extra ...string) (*testenv.Mount, string, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	cache := t.TempDir()
	args := append([]string{"--metrics-addr", addr, "--cache", cache, "--metadata-ttl", "minimal"}, extra...)
	if mode == "read-only" {
		args = append(args, "--read-only")
	}
	m := mount(t, srv, b, args...)
	return m, addr, cache
}

// cacheCounters: the daemon's FUSE reads, and opens served from a cache
// file.
func cacheCounters(t *testing.T, addr string) (reads, cacheOpens float64) {
	t.Helper()
	v := scrapeValues(t, addr, `s3mount_fuse_op_seconds_count{op="read"}`, "s3mount_passthrough_cache_opens_total")
	return v[0], v[1]
}

// readCounted reads p with 1 MiB reads (as cat and dd bs=1M do) and returns
// the bytes and the FUSE reads and cache opens it cost.
func readCounted(t *testing.T, addr, p string) ([]byte, float64, float64) {
	t.Helper()
	r0, c0 := cacheCounters(t, addr)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		out.Write(buf[:n])
		if n == 0 || err != nil {
			break
		}
	}
	f.Close()
	r1, c1 := cacheCounters(t, addr)
	return out.Bytes(), r1 - r0, c1 - c0
}

// A cached object read a second time is read by the kernel from the cache
// file (no FUSE read reaches the daemon) and its bytes are right; after
// another writer replaced it, the new bytes are read (through the daemon),
// never the old cache file's; then the new version is read locally too.
func TestPassthroughCachedObject(t *testing.T) {
	srv, b := setup(t)
	const size = 5<<20 + 12345
	v1, v2 := randBytes(71, size), randBytes(72, size)
	srv.Put(t, b, "data.bin", v1)
	m, addr, cache := cacheMount(t, srv, b)
	if c := strings.Count(m.Stderr(), cachePassthroughOnLog); c != 1 {
		t.Fatalf("the log says %d times that cached objects are read through passthrough, want once:\n%s", c, m.Stderr())
	}
	p := filepath.Join(m.Dir, "data.bin")

	got, reads, opens := readCounted(t, addr, p)
	if !bytes.Equal(got, v1) || reads == 0 || opens != 0 {
		t.Fatalf("first read: right bytes %v, %v FUSE reads, %v cache opens; want right, some, none", bytes.Equal(got, v1), reads, opens)
	}
	f1 := testenv.WaitCachedFile(t, cache, size)
	readFromCache(t, addr, p, v1, "second read")

	// Another writer replaces it. Within --metadata-ttl (minimal: 1 s)
	// the mount may still take v1 for the object's current version and
	// serve it whole (as reads of cached blocks through the daemon do);
	// once it asks S3 again, the new bytes are read through the daemon.
	srv.Put(t, b, "data.bin", v2)
	if !waitUntil(20*time.Second, func() bool {
		got, reads, opens = readCounted(t, addr, p)
		if !bytes.Equal(got, v2) && !bytes.Equal(got, v1) {
			t.Fatalf("read after a replace: %d bytes, neither version", len(got))
		}
		return bytes.Equal(got, v2)
	}) {
		t.Fatal("the replaced object's new bytes never read")
	}
	if reads == 0 || opens != 0 {
		t.Fatalf("first read of the new version: %v FUSE reads, %v cache opens; want some, none", reads, opens)
	}
	testenv.WaitCachedFile(t, cache, size, f1)
	readFromCache(t, addr, p, v2, "second read of the new version")
}

// readFromCache reads p whole until an open of it is served from its
// cache file (the kernel reads it, no FUSE read reaches the daemon),
// within a bound: the release of the open before may reach the daemon
// after close(2) returned, and an inode still open through the daemon
// is not given a backing file. Every read must give want.
func readFromCache(t *testing.T, addr, p string, want []byte, what string) {
	t.Helper()
	var reads, opens float64
	if !waitUntil(10*time.Second, func() bool {
		var got []byte
		got, reads, opens = readCounted(t, addr, p)
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes, not the right ones", what, len(got))
		}
		return reads == 0 && opens == 1
	}) {
		t.Fatalf("%s: %v FUSE reads, %v cache opens; want none, one", what, reads, opens)
	}
}

// An object read from its cache file while the cache runs out of room:
// its file is not evicted under the reader (other objects' blocks are,
// and what does not fit is not cached), the reader gets every right
// byte, the cache stays within --max-cache-size, and once the reader is
// gone the object is evicted as any other. On read-only and read-write
// mounts.
func TestPassthroughCachedEvictionWhileOpen(t *testing.T) {
	for _, mode := range []string{"read-only", "read-write"} {
		t.Run(mode, func(t *testing.T) { testCachedEvictionWhileOpen(t, mode) })
	}
}

func testCachedEvictionWhileOpen(t *testing.T, mode string) {
	srv, b := setup(t)
	const size = 2 << 20
	a, other := randBytes(73, size), randBytes(74, size)
	srv.Put(t, b, "a.bin", a)
	srv.Put(t, b, "b.bin", other)
	m, addr, cache := cacheMountMode(t, srv, b, mode, "--max-cache-size", "3") // MiB: a and half of b
	pa, pb := filepath.Join(m.Dir, "a.bin"), filepath.Join(m.Dir, "b.bin")
	if got, _, _ := readCounted(t, addr, pa); !bytes.Equal(got, a) {
		t.Fatal("first read of a: wrong bytes")
	}
	fa := testenv.WaitCachedFile(t, cache, size)
	r := openFromCache(t, addr, pa)
	defer r.Close()
	half := make([]byte, size/2)
	if _, err := r.ReadAt(half, 0); err != nil || !bytes.Equal(half, a[:size/2]) {
		t.Fatalf("first half of a: %v", err)
	}
	// b needs the room a holds: a stays.
	for range 2 {
		if got, _, _ := readCounted(t, addr, pb); !bytes.Equal(got, other) {
			t.Fatal("read of b: wrong bytes")
		}
	}
	if n := cacheBytes(t, cache); n > 3<<20 {
		t.Fatalf("cache holds %d bytes on disk, over --max-cache-size 3 MiB", n)
	}
	rest := make([]byte, size)
	if n, err := r.ReadAt(rest, 0); n != size || !bytes.Equal(rest, a) {
		t.Fatalf("a read from its cache file while b was cached: %d bytes (%v), right %v", n, err, bytes.Equal(rest, a))
	}
	r.Close()
	// Now b evicts a: read again, b is wholly cached, then read locally.
	readCounted(t, addr, pb)
	testenv.WaitCachedFile(t, cache, size, fa)
	got, reads, opens := readCounted(t, addr, pb)
	if !bytes.Equal(got, other) || reads != 0 || opens != 1 {
		t.Fatalf("b once a is closed: right %v, %v FUSE reads, %v cache opens; want right, none, one", bytes.Equal(got, other), reads, opens)
	}
	got, reads, _ = readCounted(t, addr, pa)
	if !bytes.Equal(got, a) || reads == 0 {
		t.Fatalf("a after its eviction: right %v, %v FUSE reads", bytes.Equal(got, a), reads)
	}
	if n := cacheBytes(t, cache); n > 3<<20 {
		t.Fatalf("cache holds %d bytes on disk, over --max-cache-size 3 MiB", n)
	}
}

// cacheBytes is what the cache's files take on disk (their allocated
// blocks: evicted blocks are holes).
func cacheBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}

// --no-passthrough, or a read-write mount whose cache is not on the
// spool's file system: cached objects are read through the daemon, and
// the log says why once.
func TestPassthroughCachedOff(t *testing.T) {
	srv, b := setup(t)
	v := randBytes(75, 1<<20+7)
	srv.Put(t, b, "data.bin", v)
	for _, c := range []struct{ name, why string }{
		{"--no-passthrough", "--no-passthrough"},
		{"read-write, cache on another file system", "not on the spool directory's file system"},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
			args := []string{"--metrics-addr", addr, "--cache", t.TempDir()}
			if c.name == "--no-passthrough" {
				args = append(args, "--read-only", "--no-passthrough")
			} else {
				args[3] = testenv.OtherFSDir(t)
			}
			m := mount(t, srv, b, args...)
			log := m.Stderr()
			if strings.Count(log, "reads of cached objects: through the daemon") != 1 || !strings.Contains(log, c.why) || strings.Contains(log, cachePassthroughOnLog) {
				t.Fatalf("the log does not say once that cached objects go through the daemon (%s):\n%s", c.why, log)
			}
			p := filepath.Join(m.Dir, "data.bin")
			for i := range 2 {
				got, reads, opens := readCounted(t, addr, p)
				if !bytes.Equal(got, v) || opens != 0 || (i == 0 && reads == 0) {
					t.Fatalf("read %d: right %v, %v FUSE reads, %v cache opens", i, bytes.Equal(got, v), reads, opens)
				}
			}
		})
	}
}

// openFromCache opens p, a wholly cached object, so that the kernel reads
// its cache file. The kernel tells the daemon of a close after close(2)
// returns: an open while the last read's handle is not yet released goes
// through the daemon (no direct reader beside a page-cached open), so it
// is tried again, for up to 10 s.
func openFromCache(t *testing.T, addr, p string) *os.File {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, c0 := cacheCounters(t, addr)
		r, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		_, c1 := cacheCounters(t, addr)
		if c1 == c0+1 {
			return r
		}
		r.Close()
		if time.Now().After(deadline) {
			t.Fatalf("open of a cached %s: %v cache opens, want 1", p, c1-c0)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
