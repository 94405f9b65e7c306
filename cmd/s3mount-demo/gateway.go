package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
)

const (
	demoBucket = "demo"
	demoRegion = "us-east-1"
	demoKey    = "s3mount-demo"
	demoSecret = "s3mount-demo-secret"
)

// gateway is versitygw's POSIX backend serving root on 127.0.0.1. It runs
// in this process: posix.New changes the working directory, which only
// matters to a process that also serves FUSE, and s3mount is a child.
type gateway struct {
	endpoint string
	stop     func()
}

func startGateway(root string) (*gateway, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close() // versitygw listens itself; it takes the port we were given
	be, err := posix.New(root, meta.XattrMeta{}, posix.PosixOpts{CopyObjectThreshold: 1 << 40})
	if err != nil {
		return nil, fmt.Errorf("cannot start the S3 server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- embedgw.RunVersityGW(ctx, be, &embedgw.Config{
			RootUserAccess: demoKey, RootUserSecret: demoSecret,
			Region: demoRegion, Ports: []string{addr}, MaxConnections: 1000, MaxRequests: 500,
			MultipartMaxParts: 10000, Quiet: true, KeepAlive: true, HealthPath: "/health",
		})
	}()
	gw := &gateway{endpoint: "http://" + addr, stop: func() { cancel(); <-done }}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, err := http.Get(gw.endpoint + "/health"); err == nil {
			r.Body.Close()
			return gw, nil
		}
		select {
		case err := <-done:
			cancel()
			return nil, fmt.Errorf("the S3 server stopped: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			gw.stop()
			return nil, fmt.Errorf("the S3 server did not answer on %s within 30s", addr)
		}
	}
}
