package e2e

import (
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// --auto-unmount: when the daemon dies (SIGKILL), its watcher detaches the
// mount, so the directory is a plain directory again, not ENOTCONN.
func TestAutoUnmountAfterSIGKILL(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m := testenv.MountBinary(t, srv.Endpoint, srv, b, "--auto-unmount")
	// SIGKILL the daemon directly (Mount.Kill would also unmount).
	if err := m.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for isMounted(t, m.Dir) {
		if time.Now().After(deadline) {
			t.Fatal("still mounted 20 s after the daemon was killed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(m.Dir, &st); err != nil {
		t.Fatalf("stat of the mount point after auto-unmount: %v", err)
	}
}
