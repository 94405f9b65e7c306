package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/s3mount/s3mount/internal/testenv"
)

// TestAppendCostsOneFUSERequest: a log's write() reaches the daemon as one
// FUSE request. The kernel asks for security.capability before each write
// unless getxattr answered ENOSYS once (then it never asks again): any
// other answer doubled the requests per write. Extended attributes stay
// unsupported (EOPNOTSUPP) either way.
func TestAppendCostsOneFUSERequest(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	m := testenv.MountBinary(t, srv.Endpoint, srv, b, "--metrics-addr", addr, "--upload-interval", "1h")
	p := filepath.Join(m.Dir, "app.log")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const writes = 200
	for i := range writes {
		if _, err := fmt.Fprintf(f, "line %d\n", i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := unix.Getxattr(p, "user.test", make([]byte, 64)); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Errorf("getxattr: %v, want EOPNOTSUPP", err)
	}
	ops := fuseOps(t, addr)
	if ops["write"] != writes {
		t.Errorf("%d FUSE writes for %d write()s", ops["write"], writes)
	}
	if ops["getxattr"] > 1 {
		t.Errorf("%d FUSE getxattr requests for %d write()s and one getxattr(), want at most 1", ops["getxattr"], writes)
	}
}

// fuseOps is the mount's count of FUSE requests by operation.
func fuseOps(t *testing.T, addr string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, l := range strings.Split(scrapeText(t, addr), "\n") {
		rest, ok := strings.CutPrefix(l, `s3mount_fuse_op_seconds_count{op="`)
		if !ok {
			continue
		}
		op, v, _ := strings.Cut(rest, `"} `)
		var n float64
		fmt.Sscan(v, &n)
		out[op] = int(n)
	}
	return out
}
