package daemon

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// StopSignals end a mount: Ctrl-C in the foreground, systemd's stop, kill.
var StopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM}

// WaitForSignal blocks until SIGINT or SIGTERM arrives (and returns it) or
// ctx is done (and returns nil).
func WaitForSignal(ctx context.Context) os.Signal {
	c := make(chan os.Signal, 1)
	signal.Notify(c, StopSignals...)
	defer signal.Stop(c)
	select {
	case s := <-c:
		return s
	case <-ctx.Done():
		return nil
	}
}
