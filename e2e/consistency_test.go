package e2e

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/s3mount/s3mount/internal/testenv"
)

// An object replaced by another host and opened again inside the metadata
// TTL: the new open has read nothing yet, so it reads the new object
// rather than failing with ESTALE.
func TestFreshOpenAfterRemoteReplace(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	v1 := bytes.Repeat([]byte("old object\n"), 1000)
	v2 := bytes.Repeat([]byte("new object!\n"), 1000)
	srv.Put(t, b, "obj", v1)
	m := testenv.MountBinary(t, srv.Endpoint, srv, b, "--metadata-ttl", "60")
	p := filepath.Join(m.Dir, "obj")
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, v1) {
		t.Fatalf("first read: %v", err)
	}
	srv.Put(t, b, "obj", v2)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("a fresh open of a replaced object: %v", err)
	}
	// The kernel still believes the old size (metadata TTL 60 s): what it
	// reads must be a prefix of the new object, never old bytes.
	if !bytes.HasPrefix(v2, got) || len(got) == 0 {
		t.Fatalf("fresh open read %d bytes that are not the new object's", len(got))
	}
}
