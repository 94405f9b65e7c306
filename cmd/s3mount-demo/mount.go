package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// s3mountBinary: $S3MOUNT_BIN, else the s3mount next to this binary (make
// demo builds both into bin/), else s3mount on PATH.
func s3mountBinary() (string, error) {
	if p := os.Getenv("S3MOUNT_BIN"); p != "" {
		return p, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "s3mount")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	p, err := exec.LookPath("s3mount")
	if err != nil {
		return "", errors.New("cannot find the s3mount binary: build it next to s3mount-demo (make demo), set S3MOUNT_BIN or put it on PATH")
	}
	return p, nil
}

// mount runs s3mount in the foreground on the demo bucket until it exits.
// A stop signal is passed on to it (it publishes, then unmounts).
func mount(bin string, gw *gateway, mnt, spool string, sigs <-chan os.Signal) error {
	cmd := exec.Command(bin, "-f", "--endpoint-url", gw.endpoint, "--force-path-style", "--region", demoRegion,
		"--allow-delete", "--allow-overwrite", "--upload-interval", "5s", "--spool-dir", spool, demoBucket, mnt)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+demoKey, "AWS_SECRET_ACCESS_KEY="+demoSecret, "AWS_REGION="+demoRegion)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// If this process dies, s3mount stops too (it still publishes first).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start %s: %v", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			cmd.Process.Signal(sig)
		case err := <-done:
			if err != nil {
				return fmt.Errorf("s3mount: %v", err)
			}
			return nil
		}
	}
}
