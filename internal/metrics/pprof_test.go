package metrics

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPprofOnlyOnLoopbackWhenAsked(t *testing.T) {
	listen := func(addr string) net.Listener {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("cannot listen on %s: %v", addr, err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	served := func(mux *http.ServeMux) bool {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pprof/", nil))
		return rec.Code == http.StatusOK
	}
	lo := listen("127.0.0.1:0")

	t.Setenv(pprofEnv, "")
	mux := http.NewServeMux()
	if addPprof(mux, lo) || served(mux) {
		t.Error("pprof served without " + pprofEnv + "=1")
	}

	t.Setenv(pprofEnv, "1")
	mux = http.NewServeMux()
	if !addPprof(mux, lo) || !served(mux) {
		t.Error("pprof not served on loopback with " + pprofEnv + "=1")
	}
	mux = http.NewServeMux()
	if addPprof(mux, fakeListener{lo, &net.TCPAddr{IP: net.IPv4zero, Port: 9464}}) || served(mux) {
		t.Error("pprof served on a non-loopback address")
	}
}

// fakeListener reports another address: the test starts no server beyond
// 127.0.0.1.
type fakeListener struct {
	net.Listener
	addr net.Addr
}

func (f fakeListener) Addr() net.Addr { return f.addr }
