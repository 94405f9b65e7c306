package testenv

import (
	"bytes"
	"context"
	"io"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func TestServerBucketPutGet(t *testing.T) {
	srv := StartServer(t)
	if srv2 := StartServer(t); srv2 != srv {
		t.Fatal("StartServer returned a second server")
	}
	b := srv.NewBucket(t)
	if srv.Exists(t, b, "a/x") {
		t.Fatal("fresh bucket has a/x")
	}
	srv.Put(t, b, "a/x", []byte("hello"))
	srv.Put(t, b, "a/y", []byte("world"))
	srv.Put(t, b, "b", nil)
	if got := srv.Get(t, b, "a/x"); string(got) != "hello" {
		t.Fatalf("Get = %q", got)
	}
	if !srv.Exists(t, b, "a/x") {
		t.Fatal("Exists(a/x) = false")
	}
	if keys := srv.Keys(t, b, "a/"); len(keys) != 2 || keys[0] != "a/x" || keys[1] != "a/y" {
		t.Fatalf("Keys = %q", keys)
	}
	st := srv.Store(t, b)
	rc, err := st.Get(context.Background(), "a/y", 0, -1, "")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, []byte("world")) {
		t.Fatalf("Store.Get = %q", got)
	}
}
