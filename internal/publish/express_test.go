package publish

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/testenv"
)

// expressOnReal gives a real (general-purpose) store the Express calls, so
// that the decisions of ExpressAppend run against a real server: AppendAt
// is emulated by a conditional re-put that checks the offset as S3 Express
// does. It records the calls.
type expressOnReal struct {
	s3store.Store
	mu    sync.Mutex
	calls []string
}

func (e *expressOnReal) record(c string) {
	e.mu.Lock()
	e.calls = append(e.calls, c)
	e.mu.Unlock()
}

func (e *expressOnReal) Copy(ctx context.Context, src, etag, dst string, c s3store.Cond) (s3store.ObjectInfo, error) {
	e.record("CopyObject")
	return e.Store.Copy(ctx, src, etag, dst, c)
}

func (e *expressOnReal) AppendAt(ctx context.Context, key string, off int64, body io.ReadSeeker, size int64) (s3store.ObjectInfo, error) {
	e.record("AppendAt")
	info, err := e.Store.Head(ctx, key)
	if err != nil {
		return info, err
	}
	if info.Size != off {
		return s3store.ObjectInfo{}, s3store.ErrPrecondition
	}
	rc, err := e.Store.Get(ctx, key, 0, off, info.ETag)
	if err != nil {
		return info, err
	}
	old, _ := io.ReadAll(rc)
	rc.Close()
	add, _ := io.ReadAll(body)
	// An append keeps the object's metadata, its tag included.
	return e.Store.Put(ctx, key, bytes.NewReader(append(old, add...)), off+size, s3store.Cond{IfMatch: info.ETag, Tag: info.Tag})
}

func (e *expressOnReal) Rename(ctx context.Context, src, dst string) error {
	e.record("RenameObject")
	return errors.New("not used")
}

type bytesSource []byte

func (b bytesSource) Section(off, n int64) *io.SectionReader {
	return io.NewSectionReader(bytes.NewReader(b), off, n)
}

func TestExpressAppendDecisions(t *testing.T) {
	if needsCompaction(ExpressCompactAt-10) || !needsCompaction(ExpressCompactAt-1) || !needsCompaction(s3store.MaxParts) {
		t.Fatal("compaction threshold is wrong")
	}
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	ex := &expressOnReal{Store: srv.Store(t, b)}
	ctx := context.Background()
	var data bytesSource
	add := func(s string) int64 { data = append(data, s...); return int64(len(data)) }

	// New object: a plain conditional PUT, one part.
	base, parts, err := ExpressAppend(ctx, ex, ex, "x.log", Base{}, data, 0, add("first\n"), 0, Config{})
	if err != nil || parts != 1 {
		t.Fatalf("first publication: parts %d, %v", parts, err)
	}
	// Appends: one AppendAt each, no copies.
	for i := 0; i < 3; i++ {
		base, parts, err = ExpressAppend(ctx, ex, ex, "x.log", base, data, 0, add("more\n"), parts, Config{})
		if err != nil {
			t.Fatal(err)
		}
	}
	if parts != 4 || len(ex.calls) != 3 || ex.calls[0] != "AppendAt" {
		t.Fatalf("after 3 appends: parts %d, calls %v", parts, ex.calls)
	}
	// Near the 10,000-part limit: compact (CopyObject onto itself) first.
	base, parts, err = ExpressAppend(ctx, ex, ex, "x.log", base, data, 0, add("late\n"), ExpressCompactAt-1, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ex.calls[len(ex.calls)-2:]; got[0] != "CopyObject" || got[1] != "AppendAt" || parts != 2 {
		t.Fatalf("near the limit: calls %v, parts %d", ex.calls, parts)
	}
	if got := srv.Get(t, b, "x.log"); !bytes.Equal(got, data) || base.Size != int64(len(data)) {
		t.Fatalf("object %q, want %q", got, data)
	}
	// Another writer appended first: the offset no longer matches.
	srv.Put(t, b, "x.log", append(append([]byte{}, data...), "theirs\n"...))
	if _, _, err := ExpressAppend(ctx, ex, ex, "x.log", base, data, 0, add("ours\n"), parts, Config{}); !errors.Is(err, ErrConflict) {
		t.Fatalf("offset mismatch: %v, want ErrConflict", err)
	}
}
