package metrics

import (
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// pprofEnv turns on Go's profiling endpoints (/debug/pprof/) beside
// /metrics, for benchmarks and performance work. It is not an option: a
// profile shows file names and memory, so it is served only when the
// metrics address is a loopback one.
const pprofEnv = "S3MOUNT_PPROF"

// addPprof registers the profiling handlers on mux when S3MOUNT_PPROF=1 and
// l listens on loopback only; it reports whether it did.
func addPprof(mux *http.ServeMux, l net.Listener) bool {
	if os.Getenv(pprofEnv) != "1" {
		return false
	}
	a, ok := l.Addr().(*net.TCPAddr)
	if !ok || !a.IP.IsLoopback() {
		return false
	}
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return true
}
