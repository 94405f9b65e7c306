// Command s3mount-demo is the quick start (`make demo`): an S3 server
// (versitygw) on 127.0.0.1, a bucket with sample objects, and the s3mount
// binary mounting it in the foreground until Ctrl-C. It is its own command
// so that s3mount, the binary installed on production hosts, links no S3
// server.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

const usage = `usage: s3mount-demo [DIRECTORY]

Starts an embedded S3 server (versitygw) on 127.0.0.1, creates bucket "demo" with sample
objects and mounts it with s3mount at DIRECTORY (default ./s3mount-demo) until Ctrl-C.
No AWS account needed. The s3mount binary is $S3MOUNT_BIN, else the one next to
s3mount-demo, else s3mount on PATH.
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	dir := "s3mount-demo"
	switch {
	case len(args) > 1:
		fmt.Fprint(os.Stderr, usage)
		return 2
	case len(args) == 1 && (args[0] == "-h" || args[0] == "--help"):
		fmt.Print(usage)
		return 0
	case len(args) == 1:
		dir = args[0]
	}
	if err := demo(dir); err != nil {
		fmt.Fprintln(os.Stderr, "s3mount-demo:", err)
		return 1
	}
	return 0
}

func demo(dir string) error {
	bin, err := s3mountBinary()
	if err != nil {
		return err
	}
	mnt, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return err
	}
	// Ctrl-C reaches s3mount too (same process group): it publishes and
	// unmounts, and the S3 server must stay up until it has.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	tmp, err := os.MkdirTemp("", "s3mount-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	gw, err := startGateway(filepath.Join(tmp, "s3"))
	if err != nil {
		return err
	}
	defer gw.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = fillBucket(ctx, gw)
	cancel()
	if err != nil {
		return err
	}
	fmt.Printf("S3 server (versitygw) at %s, bucket %q mounted at %s\n", gw.endpoint, demoBucket, mnt)
	fmt.Printf("In another shell: ls -R %s; echo hi >> %s/logs/app.log\nPress Ctrl-C to unmount and stop.\n", mnt, mnt)
	return mount(bin, gw, mnt, filepath.Join(tmp, "spool"), sigs)
}
