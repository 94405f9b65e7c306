package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	binMu   sync.Mutex
	binPath string
	binErr  error
)

// Binary returns the path of the s3mount binary, built once per test
// process from the module root. S3MOUNT_TEST_BINARY names a prebuilt one
// instead (CI builds it once for every package).
func Binary(t testing.TB) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if binPath == "" && binErr == nil {
		binPath, binErr = buildBinary()
	}
	if binErr != nil {
		t.Fatalf("testenv: %v", binErr)
	}
	return binPath
}

func buildBinary() (string, error) {
	if p := os.Getenv("S3MOUNT_TEST_BINARY"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("S3MOUNT_TEST_BINARY: %v", err)
		}
		return p, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "s3mount-bin-")
	if err != nil {
		return "", err
	}
	atExit(func() { os.RemoveAll(dir) })
	out := filepath.Join(dir, "s3mount")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/s3mount")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/s3mount: %v\n%s", err, b)
	}
	return out, nil
}

// moduleRoot walks up from the working directory to the go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
