package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"

	"github.com/s3mount/s3mount/internal/config"
	"github.com/s3mount/s3mount/internal/s3store"
)

// gatewayCommand runs versitygw's POSIX gateway (a real S3 server) for the
// demo. It is a separate process because posix.New changes the working
// directory of its process, and a FUSE server must not serve its own
// process's file operations.
const gatewayCommand = "__demo-gateway"

const (
	demoBucket = "demo"
	demoKey    = "s3mount-demo"
	demoSecret = "s3mount-demo-secret"
)

// runDemo is `s3mount demo [DIRECTORY]`: start an S3 server on 127.0.0.1,
// create a bucket with a few objects, and mount it in the foreground.
func runDemo(args []string) int {
	dir := "s3mount-demo"
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" {
			fmt.Println("usage: s3mount demo [DIRECTORY]\n\nStarts an embedded S3 server (versitygw) on 127.0.0.1, creates bucket \"demo\" with sample\nobjects and mounts it at DIRECTORY (default ./s3mount-demo) until Ctrl-C. No AWS account needed.")
			return 0
		}
		dir = args[0]
	}
	abs, _ := filepath.Abs(dir)
	if err := os.MkdirAll(abs, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "s3mount demo:", err)
		return 1
	}
	root, err := os.MkdirTemp("", "s3mount-demo-s3-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3mount demo:", err)
		return 1
	}
	defer os.RemoveAll(root)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3mount demo:", err)
		return 1
	}
	addr := l.Addr().String()
	l.Close()
	self, _ := os.Executable()
	gw := exec.Command(self, gatewayCommand, root, addr)
	gw.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+demoKey, "AWS_SECRET_ACCESS_KEY="+demoSecret)
	gw.Stderr = os.Stderr
	gw.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := gw.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "s3mount demo: cannot start the S3 server:", err)
		return 1
	}
	defer func() { gw.Process.Signal(syscall.SIGTERM); gw.Wait() }()
	endpoint := "http://" + addr
	for i := 0; ; i++ {
		if r, err := http.Get(endpoint + "/health"); err == nil {
			r.Body.Close()
			break
		}
		if i > 100 {
			fmt.Fprintln(os.Stderr, "s3mount demo: the S3 server did not start")
			return 1
		}
		time.Sleep(100 * time.Millisecond)
	}
	os.Setenv("AWS_ACCESS_KEY_ID", demoKey)
	os.Setenv("AWS_SECRET_ACCESS_KEY", demoSecret)
	os.Setenv("AWS_REGION", "us-east-1")
	so := s3store.Options{Bucket: demoBucket, Region: "us-east-1", EndpointURL: endpoint, ForcePathStyle: true}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s3store.CreateBucket(ctx, so); err != nil {
		fmt.Fprintln(os.Stderr, "s3mount demo:", err)
		return 1
	}
	st, err := s3store.New(ctx, so)
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3mount demo:", err)
		return 1
	}
	samples := map[string]string{
		"README.txt":             "This bucket is served by versitygw on " + addr + " and mounted by s3mount.\nTry: echo hello >> logs/app.log; tail -f logs/app.log\n",
		"logs/app.log":           "2026-01-01T00:00:00Z demo started\n",
		"data/numbers.csv":       "n,square\n1,1\n2,4\n3,9\n",
		"data/nested/deeper.txt": "directories are key prefixes\n",
	}
	for k, v := range samples {
		if _, err := st.Put(ctx, k, bytes.NewReader([]byte(v)), int64(len(v)), s3store.Cond{}); err != nil {
			fmt.Fprintln(os.Stderr, "s3mount demo:", err)
			return 1
		}
	}
	o, err := config.Parse([]string{"--endpoint-url", endpoint, "--force-path-style", "--region", "us-east-1",
		"--allow-delete", "--allow-overwrite", "--upload-interval", "5s", "-f",
		"--spool-dir", filepath.Join(root, ".spool"), demoBucket, abs})
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3mount demo:", err)
		return 1
	}
	fmt.Printf("S3 server (versitygw) at %s, bucket %q mounted at %s\n", endpoint, demoBucket, abs)
	fmt.Printf("In another shell: ls -R %s; echo hi >> %s/logs/app.log\nPress Ctrl-C to unmount and stop.\n", abs, abs)
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "s3mount demo:", err)
		return 1
	}
	return 0
}

func runGateway(args []string) int {
	if len(args) != 2 {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	be, err := posix.New(args[0], meta.XattrMeta{}, posix.PosixOpts{CopyObjectThreshold: 1 << 40})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		return 1
	}
	err = embedgw.RunVersityGW(ctx, be, &embedgw.Config{
		RootUserAccess: os.Getenv("AWS_ACCESS_KEY_ID"), RootUserSecret: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		Region: "us-east-1", Ports: []string{args[1]}, MaxConnections: 1000, MaxRequests: 500,
		MultipartMaxParts: 10000, Quiet: true, KeepAlive: true, HealthPath: "/health",
	})
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		return 1
	}
	return 0
}
