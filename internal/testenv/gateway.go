package testenv

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
)

// The versitygw gateway runs in a child copy of the test binary, not in the
// test process: posix.New chdirs into its root and then opens buckets by
// relative path, so it must own its process's working directory (restoring
// it would break the gateway). The child is the test binary re-executed with
// gatewayEnv set; init catches it before any test runs.
const gatewayEnv = "S3MOUNT_TESTENV_GATEWAY" // root dir
const gatewayAddrEnv = "S3MOUNT_TESTENV_GATEWAY_ADDR"

func init() {
	dir := os.Getenv(gatewayEnv)
	if dir == "" {
		return
	}
	if err := runGateway(dir, os.Getenv(gatewayAddrEnv)); err != nil {
		fmt.Fprintln(os.Stderr, "testenv gateway:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runGateway(dir, addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// The parent holds our stdin open; EOF means it died: stop with it.
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	be, err := posix.New(dir, meta.XattrMeta{}, posix.PosixOpts{
		// Copies of objects larger than 5 GiB happen in tests of big files.
		CopyObjectThreshold: 1 << 40,
	})
	if err != nil {
		return err
	}
	return embedgw.RunVersityGW(ctx, be, &embedgw.Config{
		RootUserAccess:    os.Getenv("AWS_ACCESS_KEY_ID"),
		RootUserSecret:    os.Getenv("AWS_SECRET_ACCESS_KEY"),
		Region:            os.Getenv("AWS_REGION"),
		Ports:             []string{addr},
		MaxConnections:    10000,
		MaxRequests:       5000,
		MultipartMaxParts: 10000,
		Quiet:             true,
		KeepAlive:         true,
	})
}
