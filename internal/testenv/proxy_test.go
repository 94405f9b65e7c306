package testenv

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
)

func proxiedStore(t *testing.T, srv *Server, p *Proxy, bucket string, attempts int) *s3store.S3 {
	return srv.StoreWith(t, s3store.Options{Bucket: bucket, EndpointURL: p.URL, MaxAttempts: attempts})
}

func TestProxyForwardsAndCounts(t *testing.T) {
	srv := StartServer(t)
	b := srv.NewBucket(t)
	srv.Put(t, b, "k", []byte("through the proxy"))
	p := NewProxy(t, srv.Endpoint)
	st := proxiedStore(t, srv, p, b, 1)
	p.SetLatency(20 * time.Millisecond)
	info, err := st.Head(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len("through the proxy")) {
		t.Fatalf("size %d", info.Size)
	}
	if p.Requests() < 2 { // HeadBucket at New, then HeadObject
		t.Fatalf("proxy saw %d requests", p.Requests())
	}
}

func TestProxyOutageAndRecovery(t *testing.T) {
	srv := StartServer(t)
	b := srv.NewBucket(t)
	p := NewProxy(t, srv.Endpoint)
	st := proxiedStore(t, srv, p, b, 1)
	ctx := context.Background()
	if _, err := st.Put(ctx, "before", bytes.NewReader([]byte("x")), 1, s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
	p.SetOutage(true)
	_, err := st.Head(ctx, "before")
	if !errors.Is(err, s3store.ErrUnreachable) {
		t.Fatalf("Head during outage: %v, want ErrUnreachable", err)
	}
	p.SetOutage(false)
	if _, err := st.Head(ctx, "before"); err != nil {
		t.Fatalf("Head after recovery: %v", err)
	}
}

func TestProxyOutageKillsInFlight(t *testing.T) {
	srv := StartServer(t)
	b := srv.NewBucket(t)
	srv.Put(t, b, "big", bytes.Repeat([]byte("y"), 1<<20))
	p := NewProxy(t, srv.Endpoint)
	st := proxiedStore(t, srv, p, b, 1)
	p.SetLatency(time.Second)
	done := make(chan error, 1)
	go func() {
		rc, err := st.Get(context.Background(), "big", 0, -1, "")
		if err == nil {
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
		}
		done <- err
	}()
	for p.Requests() < 2 { // New's HeadBucket, then the GET
		time.Sleep(5 * time.Millisecond)
	}
	p.SetOutage(true)
	if err := <-done; err == nil {
		t.Fatal("in-flight GET survived the outage")
	}
	p.SetOutage(false)
}

func TestProxySlowDown(t *testing.T) {
	srv := StartServer(t)
	b := srv.NewBucket(t)
	p := NewProxy(t, srv.Endpoint)
	p.SetSlowDown(1)
	resp, err := http.Get(p.URL + "/" + b)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), "<Code>SlowDown</Code>") {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	// Every 2nd request refused: the SDK's retries get each call through.
	p.SetSlowDown(2)
	st := proxiedStore(t, srv, p, b, 5)
	for i := 0; i < 4; i++ {
		if _, err := st.Put(context.Background(), "k", bytes.NewReader([]byte("v")), 1, s3store.Cond{}); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if st.Retries() == 0 {
		t.Fatal("no retries counted behind SlowDown")
	}
}

func TestProxyResets(t *testing.T) {
	srv := StartServer(t)
	b := srv.NewBucket(t)
	p := NewProxy(t, srv.Endpoint)
	st := proxiedStore(t, srv, p, b, 1)
	p.SetResets(1)
	if _, err := st.Head(context.Background(), "k"); err == nil || errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("Head through resets: %v, want a transport error", err)
	}
	p.SetResets(0)
	if _, err := st.Head(context.Background(), "k"); !errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("Head after resets: %v, want ErrNotFound", err)
	}
}

func TestProxyLostAnswers(t *testing.T) {
	srv := StartServer(t)
	b := srv.NewBucket(t)
	p := NewProxy(t, srv.Endpoint)
	st := proxiedStore(t, srv, p, b, 1)
	p.SetLostAnswers(1)
	_, err := st.Put(context.Background(), "k", bytes.NewReader([]byte("applied")), 7, s3store.Cond{})
	if err == nil {
		t.Fatal("a put whose answer was lost succeeded")
	}
	if _, err := st.Head(context.Background(), "k"); err != nil { // a HEAD is no write
		t.Fatalf("the put was not applied behind a lost answer: %v", err)
	}
	p.SetLostAnswers(0)
	if got := srv.Get(t, b, "k"); string(got) != "applied" {
		t.Fatalf("object %q", got)
	}
}

func TestProxyRefusesDeletes(t *testing.T) {
	srv := StartServer(t)
	b := srv.NewBucket(t)
	p := NewProxy(t, srv.Endpoint)
	st := proxiedStore(t, srv, p, b, 3)
	if _, err := st.Put(context.Background(), "k", bytes.NewReader([]byte("x")), 1, s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
	p.SetRefuseDeletes(true)
	if err := st.Delete(context.Background(), "k"); !errors.Is(err, s3store.ErrAccessDenied) {
		t.Fatalf("delete behind a proxy refusing deletes: %v, want access denied", err)
	}
	p.SetRefuseDeletes(false)
	if got := srv.Get(t, b, "k"); string(got) != "x" {
		t.Fatalf("object %q after a refused delete", got)
	}
	if err := st.Delete(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
}

func TestProxyRefusesParts(t *testing.T) {
	ctx := context.Background()
	srv := StartServer(t)
	b := srv.NewBucket(t)
	p := NewProxy(t, srv.Endpoint)
	st := proxiedStore(t, srv, p, b, 3)
	p.SetRefuseParts(true)
	id, err := st.CreateMultipart(ctx, "k", s3store.Cond{})
	if err != nil {
		t.Fatalf("create behind a proxy refusing parts: %v", err)
	}
	if _, err := st.UploadPart(ctx, "k", id, 1, bytes.NewReader([]byte("x")), 1); !errors.Is(err, s3store.ErrAccessDenied) {
		t.Fatalf("part behind a proxy refusing parts: %v, want access denied", err)
	}
	if _, err := st.Put(ctx, "other", bytes.NewReader([]byte("y")), 1, s3store.Cond{}); err != nil {
		t.Fatalf("put behind a proxy refusing parts: %v", err)
	}
	p.SetRefuseParts(false)
	if _, err := st.UploadPart(ctx, "k", id, 1, bytes.NewReader([]byte("x")), 1); err != nil {
		t.Fatal(err)
	}
	if err := st.AbortMultipart(ctx, "k", id); err != nil {
		t.Fatal(err)
	}
}
