package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

const mib = 1 << 20

// TestReadExactSizes reads objects around the 8 MiB part size, and a large
// one, with plain os.ReadFile / io.Copy and compares SHA-256.
func TestReadExactSizes(t *testing.T) {
	srv, b := setup(t)
	sizes := []int{0, 1, 8*mib - 1, 8 * mib, 8*mib + 1, 256 * mib}
	if os.Getenv("S3MOUNT_LARGE_TESTS") == "1" {
		sizes = append(sizes, 1024*mib)
	}
	want := map[string]string{}
	for i, n := range sizes {
		key := fmt.Sprintf("size-%d", n)
		data := randBytes(uint64(100+i), n)
		want[key] = sha(data)
		if n > 64*mib {
			putLarge(t, srv, b, key, data)
		} else {
			srv.Put(t, b, key, data)
		}
	}
	m := mount(t, srv, b)
	for _, n := range sizes {
		key := fmt.Sprintf("size-%d", n)
		t.Run(key, func(t *testing.T) {
			p := filepath.Join(m.Dir, key)
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() != int64(n) {
				t.Fatalf("stat size %d, want %d", st.Size(), n)
			}
			var got string
			if n <= 64*mib {
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				got = sha(data)
			} else {
				f, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				h := sha256.New()
				c, err := io.Copy(h, f)
				if err != nil {
					t.Fatalf("after %d bytes: %v", c, err)
				}
				if c != int64(n) {
					t.Fatalf("read %d bytes, want %d", c, n)
				}
				got = hex.EncodeToString(h.Sum(nil))
			}
			if got != want[key] {
				t.Fatalf("sha256 %s, want %s", got, want[key])
			}
		})
	}
}

// putLarge uploads a big object through the mount's own store (multipart
// is not needed: one PUT, with a timeout suited to its size).
func putLarge(t *testing.T, srv *testenv.Server, bucket, key string, data []byte) {
	t.Helper()
	testenv.PutMany(t, srv.Store(t, bucket), 1, 1, func(int) string { return key }, func(int) []byte { return data })
}

// TestReadRandomOffsets: 200 preads at random offsets and lengths (some
// crossing the end) equal the object's bytes.
func TestReadRandomOffsets(t *testing.T) {
	srv, b := setup(t)
	const size = 40*mib + 12345
	data := randBytes(7, size)
	srv.Put(t, b, "obj", data)
	m := mount(t, srv, b)
	f, err := os.Open(filepath.Join(m.Dir, "obj"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 3*mib)
	for i := 0; i < 200; i++ {
		off := r.Int64N(size + 1000) // a few start past the end
		n := 1 + r.IntN(len(buf))
		if i%10 == 0 {
			n = 1 + r.IntN(4096) // small reads too
		}
		got, err := f.ReadAt(buf[:n], off)
		wantN := max(0, min(int64(n), size-off))
		if err != nil && !(errors.Is(err, io.EOF) && int64(got) == wantN) {
			t.Fatalf("pread #%d off=%d n=%d: %d bytes, %v", i, off, n, got, err)
		}
		if int64(got) != wantN {
			t.Fatalf("pread #%d off=%d n=%d: %d bytes, want %d", i, off, n, got, wantN)
		}
		if got > 0 && !bytes.Equal(buf[:got], data[off:off+int64(got)]) {
			t.Fatalf("pread #%d off=%d n=%d: bytes differ from the object", i, off, n)
		}
	}
}

// TestReadConcurrent: 16 readers of one file, and 16 readers of 16 files.
func TestReadConcurrent(t *testing.T) {
	srv, b := setup(t)
	one := randBytes(11, 24*mib+77)
	srv.Put(t, b, "shared", one)
	files := make([][]byte, 16)
	for i := range files {
		files[i] = randBytes(uint64(200+i), 3*mib+i*1000)
	}
	testenv.PutMany(t, srv.Store(t, b), 16, 8, func(i int) string { return fmt.Sprintf("many/f%02d", i) },
		func(i int) []byte { return files[i] })
	m := mount(t, srv, b)
	readAll := func(t *testing.T, paths []string, want []string) {
		var wg sync.WaitGroup
		errs := make(chan error, len(paths))
		for i, p := range paths {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := os.ReadFile(p)
				if err != nil {
					errs <- err
					return
				}
				if sha(got) != want[i] {
					errs <- fmt.Errorf("reader %d of %s: %d bytes, content differs", i, p, len(got))
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	t.Run("one-file", func(t *testing.T) {
		var paths, want []string
		for i := 0; i < 16; i++ {
			paths = append(paths, filepath.Join(m.Dir, "shared"))
			want = append(want, sha(one))
		}
		readAll(t, paths, want)
	})
	t.Run("16-files", func(t *testing.T) {
		var paths, want []string
		for i := range files {
			paths = append(paths, filepath.Join(m.Dir, fmt.Sprintf("many/f%02d", i)))
			want = append(want, sha(files[i]))
		}
		readAll(t, paths, want)
	})
}

// TestReadLargeDirectory lists a 10,000-object directory exactly.
func TestReadLargeDirectory(t *testing.T) {
	srv, b := setup(t)
	const n = 10000
	name := func(i int) string { return fmt.Sprintf("f%05d.log", i) }
	start := time.Now()
	testenv.PutMany(t, srv.Store(t, b), n, 32, func(i int) string { return "big/" + name(i) },
		func(i int) []byte { return []byte{byte(i)} })
	t.Logf("created %d objects in %v", n, time.Since(start))
	m := mount(t, srv, b)
	start = time.Now()
	ents, err := os.ReadDir(filepath.Join(m.Dir, "big"))
	t.Logf("listed in %v", time.Since(start))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != n {
		t.Fatalf("ReadDir: %d entries, want %d", len(ents), n)
	}
	for i, e := range ents { // os.ReadDir sorts by name
		if e.Name() != name(i) || !e.Type().IsRegular() {
			t.Fatalf("entry %d: %q (%v), want regular file %q", i, e.Name(), e.Type(), name(i))
		}
	}
	// The listed attributes are right too (ls -l).
	st, err := os.Lstat(filepath.Join(m.Dir, "big", name(n-1)))
	if err != nil || st.Size() != 1 {
		t.Fatalf("lstat last entry: %v, %v", st, err)
	}
}

// TestReadDirMarkers: "dir/" keys are empty directories; a marker with
// content under it lists the content once.
func TestReadDirMarkers(t *testing.T) {
	srv, b := setup(t)
	srv.Put(t, b, "empty/", nil)
	srv.Put(t, b, "full/", nil)
	srv.Put(t, b, "full/x", []byte("x"))
	srv.Put(t, b, "plain", []byte("p"))
	m := mount(t, srv, b)
	if got := names(t, m.Dir); fmt.Sprint(got) != "[empty/ full/ plain]" {
		t.Fatalf("root lists %v", got)
	}
	if got := names(t, filepath.Join(m.Dir, "empty")); len(got) != 0 {
		t.Fatalf("empty/ lists %v", got)
	}
	if got := names(t, filepath.Join(m.Dir, "full")); fmt.Sprint(got) != "[x]" {
		t.Fatalf("full/ lists %v", got)
	}
	st, err := os.Stat(filepath.Join(m.Dir, "empty"))
	if err != nil || !st.IsDir() {
		t.Fatalf("stat empty: %v, %v", st, err)
	}
}

// names lists dir sorted, directories with a trailing "/".
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestReadReplacedWhileOpen: an object replaced in S3 while open gives the
// old bytes or ESTALE, never new bytes.
func TestReadReplacedWhileOpen(t *testing.T) {
	srv, b := setup(t)
	const size = 32 * mib
	v1, v2 := randBytes(21, size), randBytes(22, size)
	srv.Put(t, b, "obj", v1)
	m := mount(t, srv, b)
	f, err := os.Open(filepath.Join(m.Dir, "obj"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, mib)
	if _, err := io.ReadFull(f, buf); err != nil || !bytes.Equal(buf, v1[:mib]) {
		t.Fatalf("first MiB: %v", err)
	}
	srv.Put(t, b, "obj", v2)
	var off int64 = mib
	stale := false
	// Sequential reads, then reads far behind and far ahead.
	offs := []int64{}
	for o := int64(mib); o < size; o += mib {
		offs = append(offs, o)
	}
	offs = append(offs, 0, size-mib, size/2)
	for _, off = range offs {
		n, err := f.ReadAt(buf, off)
		if n > 0 && !bytes.Equal(buf[:n], v1[off:off+int64(n)]) {
			if bytes.Equal(buf[:n], v2[off:off+int64(n)]) {
				t.Fatalf("read at %d returned the new object's bytes", off)
			}
			t.Fatalf("read at %d returned bytes of neither version", off)
		}
		if err != nil {
			if !errors.Is(err, syscall.ESTALE) {
				t.Fatalf("read at %d: %v, want old bytes or ESTALE", off, err)
			}
			stale = true
		}
	}
	t.Logf("ESTALE seen: %v", stale)
	// A new open after the metadata TTL (default "minimal": 1 s, for the
	// kernel's caches too) reads the new object.
	time.Sleep(1500 * time.Millisecond)
	f2, err := os.Open(filepath.Join(m.Dir, "obj"))
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if _, err := io.ReadFull(f2, buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, v2[:mib]) {
		t.Fatal("new open: not the new object's bytes")
	}
}

// TestReadOnlyMount: --read-only refuses every change with EROFS.
func TestReadOnlyMount(t *testing.T) {
	srv, b := setup(t)
	srv.Put(t, b, "f", []byte("data"))
	m := mount(t, srv, b, "--read-only")
	p := filepath.Join(m.Dir, "f")
	if got, err := os.ReadFile(p); err != nil || string(got) != "data" {
		t.Fatalf("read: %q, %v", got, err)
	}
	checks := map[string]error{
		"create":   os.WriteFile(filepath.Join(m.Dir, "new"), []byte("x"), 0o644),
		"append":   appendTo(p),
		"truncate": os.Truncate(p, 0),
		"mkdir":    os.Mkdir(filepath.Join(m.Dir, "d"), 0o755),
		"remove":   os.Remove(p),
		"rename":   os.Rename(p, filepath.Join(m.Dir, "g")),
	}
	for op, err := range checks {
		if !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", op, err)
		}
	}
	if !srv.Exists(t, b, "f") || srv.Exists(t, b, "new") || string(srv.Get(t, b, "f")) != "data" {
		t.Error("the bucket changed under --read-only")
	}
}

func appendTo(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// TestReadPrefix: --prefix p/ and s3://bucket/p/ show only the prefix.
func TestReadPrefix(t *testing.T) {
	srv, b := setup(t)
	srv.Put(t, b, "p/one", []byte("1"))
	srv.Put(t, b, "p/sub/two", []byte("22"))
	srv.Put(t, b, "other", []byte("o"))
	srv.Put(t, b, "pp/three", []byte("3"))
	for _, tc := range []struct {
		name   string
		bucket string
		extra  []string
	}{
		{"flag", b, []string{"--prefix", "p/"}},
		{"uri", "s3://" + b + "/p/", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mount(t, srv, tc.bucket, tc.extra...)
			if got := names(t, m.Dir); fmt.Sprint(got) != "[one sub/]" {
				t.Fatalf("root lists %v", got)
			}
			if got, err := os.ReadFile(filepath.Join(m.Dir, "sub", "two")); err != nil || string(got) != "22" {
				t.Fatalf("sub/two: %q, %v", got, err)
			}
			if _, err := os.Stat(filepath.Join(m.Dir, "other")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("stat other: %v, want ENOENT", err)
			}
		})
	}
}

// TestReadOwnership: --uid/--gid/--file-mode/--dir-mode show in stat.
func TestReadOwnership(t *testing.T) {
	srv, b := setup(t)
	srv.Put(t, b, "d/f", []byte("x"))
	m := mount(t, srv, b, "--uid", "1234", "--gid", "5678", "--file-mode", "0640", "--dir-mode", "0750")
	check := func(p string, mode os.FileMode) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		s := st.Sys().(*syscall.Stat_t)
		if s.Uid != 1234 || s.Gid != 5678 || st.Mode().Perm() != mode {
			t.Errorf("%s: uid %d gid %d mode %v, want 1234 5678 %v", p, s.Uid, s.Gid, st.Mode().Perm(), mode)
		}
	}
	check(filepath.Join(m.Dir, "d"), 0o750)
	check(filepath.Join(m.Dir, "d", "f"), 0o640)
	check(m.Dir, 0o750)
}

// TestReadRandomFetchesWhatItAsks: small preads far apart each cost a GET
// of about what the kernel asked for (it passes a random read on as is at
// the read-ahead s3mount sets), not a 128 KiB minimum or a read-ahead
// window, and return the object's bytes.
func TestReadRandomFetchesWhatItAsks(t *testing.T) {
	srv, b := setup(t)
	const size = 96 * mib
	data := randBytes(11, size)
	srv.Put(t, b, "obj", data)
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	m := mount(t, srv, b, "--metrics-addr", addr)
	f, err := os.Open(filepath.Join(m.Dir, "obj"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const reads, piece = 30, 4096
	offs := rand.New(rand.NewPCG(3, 4)).Perm(size/(3*mib) - 1)[:reads]
	buf := make([]byte, piece)
	for i, o := range offs {
		off := int64(o+1)*3*mib + int64(i)*piece
		if _, err := f.ReadAt(buf, off); err != nil {
			t.Fatalf("pread at %d: %v", off, err)
		}
		if !bytes.Equal(buf, data[off:off+piece]) {
			t.Fatalf("pread at %d: bytes differ from the object", off)
		}
	}
	got := getBytesIn(t, addr)
	t.Logf("%d preads of %d bytes fetched %d bytes", reads, piece, got)
	if lim := int64(reads) * 32 << 10; got > lim {
		t.Fatalf("%d preads of %d bytes fetched %d bytes from S3, want ≤ %d", reads, piece, got, lim)
	}
}

// getBytesIn is the mount's count of body bytes received by GETs.
func getBytesIn(t *testing.T, addr string) int64 {
	t.Helper()
	for _, l := range strings.Split(scrapeText(t, addr), "\n") {
		if v, ok := strings.CutPrefix(l, `s3mount_s3_bytes_in_total{op="GetObject"} `); ok {
			var n float64
			fmt.Sscan(v, &n)
			return int64(n)
		}
	}
	t.Fatal("no s3mount_s3_bytes_in_total for GetObject")
	return 0
}
