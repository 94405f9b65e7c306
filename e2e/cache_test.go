package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// --cache: a second read of an object is served from the local block
// cache (no S3 request), and a replaced object is read anew.
func TestDataCache(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	v1 := bytes.Repeat([]byte("cached block data\n"), 200_000) // 3.6 MB
	srv.Put(t, b, "obj", v1)
	cacheDir := t.TempDir()
	m, p := mountVia(t, srv, b, "--cache", cacheDir, "--metadata-ttl", "5")
	path := filepath.Join(m.Dir, "obj")
	read := func() []byte {
		t.Helper()
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := read(); !bytes.Equal(got, v1) {
		t.Fatal("first read differs")
	}
	// Drop the kernel's page cache so the second read reaches the daemon.
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0)
	before := p.ObjectReads()
	if got := read(); !bytes.Equal(got, v1) {
		t.Fatal("second read differs")
	}
	// No GET of its bytes. (A loaded machine may take longer than the
	// metadata TTL between the reads: a HEAD asking whether the object
	// changed is allowed.)
	if n := p.ObjectReads() - before; n != 0 {
		t.Fatalf("second read of a cached object sent %d GETs", n)
	}
	v2 := bytes.Repeat([]byte("a new version!!!\n"), 200_000)
	srv.Put(t, b, "obj", v2)
	ok := waitUntil(20*time.Second, func() bool {
		os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0)
		got, err := os.ReadFile(path)
		if err == nil && !bytes.Equal(got, v1) && !bytes.Equal(got, v2) {
			t.Fatalf("read %d bytes of neither version", len(got))
		}
		return err == nil && bytes.Equal(got, v2)
	})
	if !ok {
		t.Fatal("the replaced object was not read within 20 s")
	}
}
