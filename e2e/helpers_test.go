package e2e

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// setup starts (or reuses) the server and makes a fresh bucket.
func setup(t *testing.T) (*testenv.Server, string) {
	t.Helper()
	srv := testenv.StartServer(t)
	return srv, srv.NewBucket(t)
}

// mount mounts bucket with the real binary; unmounted at t.Cleanup.
func mount(t *testing.T, srv *testenv.Server, bucket string, extra ...string) *testenv.Mount {
	t.Helper()
	return testenv.MountBinary(t, srv.Endpoint, srv, bucket, extra...)
}

// randBytes is n pseudo-random bytes, the same for the same seed.
func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)}).Read(b)
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// isMounted reports whether dir is a mount point now (/proc/self/mountinfo).
func isMounted(t *testing.T, dir string) bool {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.ReplaceAll(fields[4], `\040`, " ") == dir {
			return true
		}
	}
	return false
}

// waitUntil polls cond every 20 ms for up to d.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
