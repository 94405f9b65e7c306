package publish

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// uploadLog records what OnUpload is told.
type uploadLog struct {
	mu  sync.Mutex
	ids []string
}

func (l *uploadLog) on(id string) {
	l.mu.Lock()
	l.ids = append(l.ids, id)
	l.mu.Unlock()
}

func (l *uploadLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ids)
}

func requests(mem *memstore.Store, op string) int64 { return mem.Stats()[op].Requests }

// A stream's multipart upload is reported through OnUpload when it starts
// (the journal records it, so recovery can abort it) and cleared exactly
// once when it ends. Abort after Finish, or twice, touches neither S3 nor
// OnUpload again: a late "" would clear the id of a later upload from the
// journal, and a late abort could hit an upload that is no longer ours.
func TestStreamUploadIsReportedAndEndsOnce(t *testing.T) {
	ctx := context.Background()
	const part = s3store.MinPartSize
	data := bytesSource(bytes.Repeat([]byte("0123456789abcdef"), (2*part+1000)/16))

	t.Run("finish then abort", func(t *testing.T) {
		mem := memstore.New("b")
		var log uploadLog
		s, err := StartStream(ctx, mem, "big", Config{PartSize: part, OnUpload: log.on})
		if err != nil {
			t.Fatal(err)
		}
		ids := log.get()
		if len(ids) != 1 || ids[0] == "" {
			t.Fatalf("OnUpload after start: %q", ids)
		}
		s.Advance(data, int64(len(data)))
		if _, err := s.Finish(ctx, data, int64(len(data)), Base{}); err != nil {
			t.Fatal(err)
		}
		s.Abort()
		s.Abort()
		if got, want := log.get(), []string{ids[0], ""}; !slices.Equal(got, want) {
			t.Fatalf("OnUpload told %q, want %q", got, want)
		}
		if n := requests(mem, "AbortMultipartUpload"); n != 0 {
			t.Fatalf("%d AbortMultipartUpload after a completed stream", n)
		}
		if got, _, ok := mem.Object("big"); !ok || !bytes.Equal(got, data) {
			t.Fatalf("object: %d bytes (%v), want %d", len(got), ok, len(data))
		}
	})

	t.Run("abort twice, then advance and finish", func(t *testing.T) {
		mem := memstore.New("b")
		var log uploadLog
		s, err := StartStream(ctx, mem, "big", Config{PartSize: part, OnUpload: log.on})
		if err != nil {
			t.Fatal(err)
		}
		s.Advance(data, part)
		s.Abort()
		s.Abort()
		id := log.get()[0]
		if got, want := log.get(), []string{id, ""}; !slices.Equal(got, want) {
			t.Fatalf("OnUpload told %q, want %q", got, want)
		}
		if n := requests(mem, "AbortMultipartUpload"); n != 1 {
			t.Fatalf("%d AbortMultipartUpload, want 1", n)
		}
		parts := requests(mem, "UploadPart")
		s.Advance(data, int64(len(data)))
		if _, err := s.Finish(ctx, data, int64(len(data)), Base{}); err == nil {
			t.Fatal("Finish of an aborted stream succeeded")
		}
		if n := requests(mem, "UploadPart"); n != parts {
			t.Fatalf("an aborted stream uploaded %d more parts", n-parts)
		}
		if len(log.get()) != 2 || len(mem.Uploads()) != 0 || len(mem.Keys()) != 0 {
			t.Fatalf("after the aborted stream: OnUpload %q, uploads %v, keys %v", log.get(), mem.Uploads(), mem.Keys())
		}
	})

	t.Run("refused finish then abort", func(t *testing.T) {
		mem := memstore.New("b")
		mem.PutObject("big", []byte("someone else's"))
		var log uploadLog
		s, err := StartStream(ctx, mem, "big", Config{PartSize: part, OnUpload: log.on})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Finish(ctx, data, int64(len(data)), Base{}); !errors.Is(err, ErrConflict) {
			t.Fatalf("Finish over another writer's object: %v, want ErrConflict", err)
		}
		s.Abort()
		if got := log.get(); len(got) != 2 || got[1] != "" {
			t.Fatalf("OnUpload told %q", got)
		}
		if n := requests(mem, "AbortMultipartUpload"); n != 1 || len(mem.Uploads()) != 0 {
			t.Fatalf("%d AbortMultipartUpload, uploads left %v", n, mem.Uploads())
		}
	})
}
