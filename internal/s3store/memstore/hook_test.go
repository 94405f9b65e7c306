package memstore_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// failAt answers f for the call numbered seq, Pass for the others.
func failAt(seq int64, f memstore.Fault) memstore.Hook {
	return func(c memstore.Call) memstore.Fault {
		if c.Seq == seq {
			return f
		}
		return memstore.Pass
	}
}

func checkInjected(t *testing.T, what string, err error) {
	t.Helper()
	if !memstore.IsInjected(err) || isSentinel(err) || s3store.IsConflict(err) {
		t.Errorf("%s: %v, want an injected transient error", what, err)
	}
}

func TestFailDoesNothing(t *testing.T) {
	st := memstore.NewExpress("b--x-s3")
	etag := st.PutObject("k", []byte("keep"))
	st.PutObject("src", []byte("src"))
	st.SetHook(func(memstore.Call) memstore.Fault { return memstore.Fail })
	_, err := putBytes(st, "k", []byte("new"), s3store.Cond{})
	checkInjected(t, "Put", err)
	_, err = appendAt(st, "k", 4, "more")
	checkInjected(t, "AppendAt", err)
	_, err = st.Copy(bg, "src", "", "k", s3store.Cond{})
	checkInjected(t, "Copy", err)
	checkInjected(t, "Delete", st.Delete(bg, "k"))
	checkInjected(t, "Rename", st.Rename(bg, "k", "moved"))
	_, err = st.CreateMultipart(bg, "k", s3store.Cond{})
	checkInjected(t, "CreateMultipart", err)
	_, err = st.Head(bg, "k")
	checkInjected(t, "Head", err)
	_, err = getBytes(st, "k", 0, -1, "")
	checkInjected(t, "Get", err)
	_, err = st.List(bg, "", "", "", 0)
	checkInjected(t, "List", err)
	if data, e, ok := st.Object("k"); !ok || string(data) != "keep" || e != etag || len(st.Uploads()) != 0 || len(st.Keys()) != 2 {
		t.Fatalf("a failed call changed the store: %q %s %v %v", data, e, st.Uploads(), st.Keys())
	}
	if s := st.Stats(); s["PutObject"].Requests != 2 || s["PutObject"].Errors != 2 || s.Total() != 9 {
		t.Errorf("failed calls counted %+v", s)
	}
	st.SetHook(nil)
	if _, err := st.Head(bg, "k"); err != nil {
		t.Fatalf("after SetHook(nil): %v", err)
	}
}

func TestLoseAnswerApplies(t *testing.T) {
	st := memstore.NewExpress("b--x-s3")
	st.SetHook(func(memstore.Call) memstore.Fault { return memstore.LoseAnswer })
	_, err := putBytes(st, "k", []byte("v1"), s3store.Cond{IfNoneMatch: true})
	checkInjected(t, "Put", err)
	if data, _, ok := st.Object("k"); !ok || string(data) != "v1" {
		t.Fatal("a lost Put was not applied")
	}
	_, err = appendAt(st, "k", 2, "+a")
	checkInjected(t, "AppendAt", err)
	// The retry of a lost append finds its own bytes there: a wrong offset.
	_, err = appendAt(st, "k", 2, "+a")
	checkInjected(t, "AppendAt again", err)
	st.SetHook(nil)
	if data, _, _ := st.Object("k"); string(data) != "v1+a" || st.Parts("k") != 2 {
		t.Fatalf("after a lost append and its retry: %q, %d parts", data, st.Parts("k"))
	}
	if _, err := appendAt(st, "k", 2, "+a"); !errors.Is(err, s3store.ErrPrecondition) {
		t.Fatalf("retried append at the old offset: %v", err)
	}

	st.SetHook(func(memstore.Call) memstore.Fault { return memstore.LoseAnswer })
	_, err = st.CreateMultipart(bg, "mp", s3store.Cond{})
	checkInjected(t, "CreateMultipart", err)
	if ups := st.Uploads(); len(ups) != 1 || ups[0].Key != "mp" {
		t.Fatalf("a lost CreateMultipart left no upload: %+v", ups)
	}
	checkInjected(t, "Rename", st.Rename(bg, "k", "moved"))
	checkInjected(t, "Delete", st.Delete(bg, "mp"))
	if k := st.Keys(); strings.Join(k, ",") != "moved" {
		t.Fatalf("keys %v after a lost Rename", k)
	}
	// A lost answer to a refused call is lost all the same.
	_, err = putBytes(st, "moved", []byte("x"), s3store.Cond{IfNoneMatch: true})
	checkInjected(t, "refused Put", err)
}

func TestLostCompleteMultipart(t *testing.T) {
	st := memstore.New("b")
	id, _ := st.CreateMultipart(bg, "k", s3store.Cond{})
	p, _ := st.UploadPart(bg, "k", id, 1, bytes.NewReader([]byte("all")), 3)
	st.SetHook(failAt(st.Calls()+1, memstore.LoseAnswer))
	_, err := st.CompleteMultipart(bg, "k", id, []s3store.Part{p}, s3store.Cond{IfNoneMatch: true})
	checkInjected(t, "Complete", err)
	if data, _, _ := st.Object("k"); string(data) != "all" || len(st.Uploads()) != 0 {
		t.Fatalf("lost Complete: object %q, uploads %v", data, st.Uploads())
	}
	if _, err := st.CompleteMultipart(bg, "k", id, []s3store.Part{p}, s3store.Cond{IfNoneMatch: true}); !errors.Is(err, s3store.ErrNoSuchUpload) {
		t.Fatalf("Complete retried after a lost answer: %v", err)
	}
}

// Retried: the call applies, and its answer is the SDK retry's: a
// conditional write refused by its own first attempt, an unconditional one
// done.
func TestRetriedAnswersAsTheRetry(t *testing.T) {
	st := memstore.New("b")
	base := st.PutObject("k", []byte("v1"))
	st.SetHook(func(memstore.Call) memstore.Fault { return memstore.Retried })
	if _, err := putBytes(st, "k", []byte("v2"), s3store.Cond{IfMatch: base}); !errors.Is(err, s3store.ErrPrecondition) {
		t.Fatalf("conditional put retried: %v, want ErrPrecondition", err)
	}
	if _, err := putBytes(st, "u", []byte("u"), s3store.Cond{}); err != nil {
		t.Fatalf("unconditional put retried: %v", err)
	}
	st.SetHook(nil)
	if data, _, _ := st.Object("k"); string(data) != "v2" {
		t.Fatalf("the first attempt was not applied: %q", data)
	}
}

// A hook may act as another host between two calls: here it appends to the
// log just before our conditional write, which must then be refused.
func TestHookForeignWriteBetweenCalls(t *testing.T) {
	st := memstore.NewExpress("b--x-s3")
	base := st.PutObject("log", []byte("a\n"))
	st.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "PutObject" && c.Key == "log" {
			st.AppendObject("log", []byte("foreign\n"))
		}
		return memstore.Pass
	})
	if _, err := appendAt(st, "log", 2, "b\n"); !errors.Is(err, s3store.ErrPrecondition) {
		t.Fatalf("append after a foreign append: %v", err)
	}
	if _, err := putBytes(st, "log", []byte("a\nb\n"), s3store.Cond{IfMatch: base}); !errors.Is(err, s3store.ErrPrecondition) {
		t.Fatalf("If-Match put after a foreign append: %v", err)
	}
	st.SetHook(nil)
	if data, _, _ := st.Object("log"); string(data) != "a\nforeign\nforeign\n" {
		t.Fatalf("log %q", data)
	}
	// And a hook can delete the key under a pinned read.
	h, _ := st.Head(bg, "log")
	st.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "GetObject" {
			st.DeleteObject("log")
		}
		return memstore.Pass
	})
	if _, err := getBytes(st, "log", 0, -1, h.ETag); !errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("Get after a foreign delete: %v", err)
	}
}

func TestSeqCountsEveryCall(t *testing.T) {
	st := memstore.NewExpress("b--x-s3")
	var got []memstore.Call
	st.SetHook(func(c memstore.Call) memstore.Fault {
		got = append(got, c)
		return memstore.Pass
	})
	mustPut(t, st, "a", []byte("x"))
	appendAt(st, "a", 1, "y")
	getBytes(st, "a", 0, 0, "") // no request: not a call
	getBytes(st, "a", 0, -1, "")
	st.Head(bg, "missing")
	id, _ := st.CreateMultipart(bg, "m", s3store.Cond{})
	p, _ := st.UploadPart(bg, "m", id, 1, bytes.NewReader([]byte("z")), 1)
	st.UploadPartCopy(bg, "m", id, 2, "a", "", 0, 1)
	st.CompleteMultipart(bg, "m", id, []s3store.Part{p}, s3store.Cond{})
	st.AbortMultipart(bg, "m", id)
	st.ListMultipartUploads(bg, "")
	st.List(bg, "", "/", "", 0)
	st.Copy(bg, "a", "", "c", s3store.Cond{})
	st.Rename(bg, "c", "d")
	st.Delete(bg, "a")
	want := []memstore.Call{
		{Op: "PutObject", Key: "a"}, {Op: "PutObject", Key: "a", Append: true}, {Op: "GetObject", Key: "a"},
		{Op: "HeadObject", Key: "missing"}, {Op: "CreateMultipartUpload", Key: "m"}, {Op: "UploadPart", Key: "m"},
		{Op: "UploadPartCopy", Key: "m", Src: "a"}, {Op: "CompleteMultipartUpload", Key: "m"},
		{Op: "AbortMultipartUpload", Key: "m"}, {Op: "ListMultipartUploads"}, {Op: "ListObjectsV2"},
		{Op: "CopyObject", Key: "c", Src: "a"}, {Op: "RenameObject", Key: "d", Src: "c"}, {Op: "DeleteObject", Key: "a"},
	}
	if len(got) != len(want) || st.Calls() != int64(len(want)) {
		t.Fatalf("%d calls seen, Calls() %d, want %d: %+v", len(got), st.Calls(), len(want), got)
	}
	for i := range want {
		want[i].Seq = int64(i + 1)
		if got[i] != want[i] {
			t.Errorf("call %d = %+v, want %+v", i+1, got[i], want[i])
		}
	}
	if st.Stats().Total() != int64(len(want)) {
		t.Errorf("Stats total %d", st.Stats().Total())
	}
}

// Failing each call of a sequence in turn, as crash-point tests do: Seq
// picks exactly one call and the others run.
func TestFailEachCallInTurn(t *testing.T) {
	run := func(st *memstore.Store) []error {
		var errs []error
		st.PutObject("k", []byte("0")) // direct: not a call
		_, err := putBytes(st, "k1", []byte("1"), s3store.Cond{})
		errs = append(errs, err)
		_, err = st.Copy(bg, "k", "", "k2", s3store.Cond{})
		errs = append(errs, err)
		errs = append(errs, st.Delete(bg, "k"))
		return errs
	}
	for seq := int64(1); seq <= 3; seq++ {
		st := memstore.New("b")
		st.SetHook(failAt(seq, memstore.Fail))
		for i, err := range run(st) {
			if failed := int64(i+1) == seq; failed != (err != nil) || (failed && !memstore.IsInjected(err)) {
				t.Errorf("fail at %d: call %d gave %v", seq, i+1, err)
			}
		}
	}
}

func TestHookDelayAndCancel(t *testing.T) {
	st := memstore.New("b")
	ctx, cancel := context.WithCancel(context.Background())
	st.SetHook(func(memstore.Call) memstore.Fault {
		cancel() // the caller gives up while the request is in flight
		return memstore.Pass
	})
	_, err := st.Put(ctx, "k", bytes.NewReader([]byte("x")), 1, s3store.Cond{})
	if !errors.Is(err, context.Canceled) || memstore.IsInjected(err) {
		t.Fatalf("Put with a cancelled context: %v", err)
	}
	if _, _, ok := st.Object("k"); ok {
		t.Fatal("a cancelled Put was applied")
	}

	// A hook that blocks holds only its own call: other calls go on.
	release := make(chan struct{})
	entered := make(chan struct{})
	st.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Key == "slow" {
			close(entered)
			<-release
		}
		return memstore.Pass
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := putBytes(st, "slow", []byte("s"), s3store.Cond{}); err != nil {
			t.Error(err)
		}
	}()
	<-entered
	mustPut(t, st, "fast", []byte("f"))
	if _, _, ok := st.Object("slow"); ok {
		t.Fatal("the delayed Put ran before its hook returned")
	}
	close(release)
	wg.Wait()
	if k := st.Keys(); strings.Join(k, ",") != "fast,slow" {
		t.Fatalf("keys %v", k)
	}
}
