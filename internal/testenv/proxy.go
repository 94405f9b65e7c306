package testenv

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is an HTTP reverse proxy on 127.0.0.1 in front of an S3 endpoint
// that injects latency, 503 SlowDown, connection resets and outages. It keeps
// the client's Host header, so SigV4 signatures stay valid.
type Proxy struct {
	URL string // http://127.0.0.1:port

	addr     string
	srv      *http.Server
	rp       *httputil.ReverseProxy
	latency  atomic.Int64 // time.Duration
	slowDown atomic.Int64
	resets   atomic.Int64
	lost     atomic.Int64 // every nth write is applied with its answer lost
	noDelete atomic.Bool  // DeleteObject refused (403), as a bucket policy may
	noWrite  atomic.Bool  // PUT and POST refused (403), as a bucket policy may
	noParts  atomic.Bool  // UploadPart and UploadPartCopy refused (403)
	writes   atomic.Int64
	requests atomic.Int64
	reads    atomic.Int64 // GETs of an object's bytes (not listings)

	mu     sync.Mutex
	ln     net.Listener // nil while down
	conns  map[net.Conn]struct{}
	closed bool
}

// NewProxy starts a proxy to target (an http:// URL), closed at t.Cleanup.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("testenv: proxy target %q: %v", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy listen: %v", err)
	}
	p := &Proxy{addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]struct{}{}}
	p.URL = "http://" + p.addr
	p.rp = httputil.NewSingleHostReverseProxy(u) // its Director keeps req.Host
	p.rp.Transport = &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		ReadBufferSize:      64 << 10,
		WriteBufferSize:     64 << 10,
	}
	p.rp.FlushInterval = -1
	p.rp.ErrorLog = nil
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ConnState: p.track}
	go p.srv.Serve(ln)
	t.Cleanup(p.close)
	return p
}

func (p *Proxy) track(c net.Conn, s http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s {
	case http.StateNew:
		p.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(p.conns, c)
	}
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	n := p.requests.Add(1)
	if isObjectGet(r) {
		p.reads.Add(1)
	}
	if d := time.Duration(p.latency.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	if k := p.resets.Load(); k > 0 && n%k == 0 {
		resetHijacked(w)
		return
	}
	if k := p.lost.Load(); k > 0 && isWrite(r) && p.writes.Add(1)%k == 0 {
		// The server applies the request; the client never hears: the
		// connection is reset where the answer would be.
		p.rp.ServeHTTP(httptest.NewRecorder(), r)
		resetHijacked(w)
		return
	}
	if (r.Method == http.MethodPut || r.Method == http.MethodPost) && p.noWrite.Load() {
		s3Error(w, r, http.StatusForbidden, "AccessDenied", "Access Denied")
		return
	}
	if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") && p.noParts.Load() {
		s3Error(w, r, http.StatusForbidden, "AccessDenied", "Access Denied")
		return
	}
	if r.Method == http.MethodDelete && p.noDelete.Load() {
		s3Error(w, r, http.StatusForbidden, "AccessDenied", "Access Denied")
		return
	}
	if k := p.slowDown.Load(); k > 0 && n%k == 0 {
		s3Error(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		return
	}
	p.rp.ServeHTTP(w, r)
}

// s3Error answers as S3 does when it refuses a request (no body to a HEAD).
func s3Error(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` +
			`<Error><Code>` + code + `</Code><Message>` + msg + `</Message>` +
			`<RequestId>testenv-proxy</RequestId></Error>`))
	}
}

// resetHijacked takes over the connection and closes it with an RST.
func resetHijacked(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("testenv: proxy response writer cannot hijack")
	}
	c, _, err := hj.Hijack()
	if err != nil {
		return
	}
	reset(c)
}

func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// SetLostAnswers applies every nth write (PUT, POST, DELETE) at the
// server and resets the client's connection instead of answering (0: off):
// the answer is lost after S3 acted on the request.
func (p *Proxy) SetLostAnswers(everyNth int) { p.lost.Store(int64(everyNth)) }

// Writes is how many writes the proxy saw while SetLostAnswers was on.
func (p *Proxy) Writes() int64 { return p.writes.Load() }

func isWrite(r *http.Request) bool {
	return r.Method == http.MethodPut || r.Method == http.MethodPost || r.Method == http.MethodDelete
}

// SetRefuseDeletes answers every DELETE 403 AccessDenied without
// forwarding it (a bucket policy that denies s3:DeleteObject).
func (p *Proxy) SetRefuseDeletes(on bool) { p.noDelete.Store(on) }

// SetRefuseWrites answers every PUT and POST (PutObject, CopyObject,
// multipart uploads) 403 AccessDenied without forwarding it.
func (p *Proxy) SetRefuseWrites(on bool) { p.noWrite.Store(on) }

// SetRefuseParts answers every UploadPart and UploadPartCopy 403
// AccessDenied without forwarding it: a multipart upload is created, and
// its publication fails after.
func (p *Proxy) SetRefuseParts(on bool) { p.noParts.Store(on) }

// SetLatency delays every request by d before it is forwarded.
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// SetSlowDown answers 503 SlowDown to every nth request (0: off).
func (p *Proxy) SetSlowDown(everyNth int) { p.slowDown.Store(int64(everyNth)) }

// SetResets resets the connection of every nth request after its headers
// arrive, before anything reaches the server (0: off).
func (p *Proxy) SetResets(everyNth int) { p.resets.Store(int64(everyNth)) }

// Requests is the number of requests the proxy has seen.
func (p *Proxy) Requests() int64 { return p.requests.Load() }

// ObjectReads is the number of GETs of an object's bytes it has passed
// (listings and other bucket GETs not counted).
func (p *Proxy) ObjectReads() int64 { return p.reads.Load() }

// isObjectGet: a GET of /bucket/key (mounts under test use path-style
// addressing) that is not a listing, an upload listing or another
// sub-resource.
func isObjectGet(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	q := r.URL.Query()
	if q.Has("list-type") || q.Has("uploads") || q.Has("uploadId") || q.Has("location") || q.Has("versioning") {
		return false
	}
	return strings.Contains(strings.Trim(r.URL.Path, "/"), "/")
}

// SetOutage(true) stops listening (new connections are refused) and resets
// every open connection; SetOutage(false) listens again on the same port.
func (p *Proxy) SetOutage(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if down {
		if p.ln != nil {
			p.ln.Close()
			p.ln = nil
		}
		for c := range p.conns {
			reset(c)
			delete(p.conns, c)
		}
		return
	}
	if p.ln != nil {
		return
	}
	var ln net.Listener
	var err error
	for i := 0; i < 100; i++ { // the port may linger briefly after close
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		panic("testenv: proxy cannot listen again on " + p.addr + ": " + err.Error())
	}
	p.ln = ln
	go p.srv.Serve(ln)
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.srv.Close()
	p.rp.Transport.(*http.Transport).CloseIdleConnections()
}
