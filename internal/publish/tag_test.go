package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

func headTag(t *testing.T, st s3store.Store, key string) string {
	t.Helper()
	h, err := st.Head(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return h.Tag
}

// Every strategy writes Config.Tag with the object: single PUT, multipart,
// re-put of a small object, compose and stream.
func TestEveryStrategyWritesTheTag(t *testing.T) {
	ctx := context.Background()
	const part = s3store.MinPartSize
	big := bytesSource(bytes.Repeat([]byte("0123456789abcdef"), (2*part+1000)/16))
	mem := memstore.New("b")
	var mu sync.Mutex
	var ops []string
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		mu.Lock()
		ops = append(ops, c.Op)
		mu.Unlock()
		return memstore.Pass
	})
	cfg := func(tag string) Config { return Config{PartSize: part, Concurrency: 1, Tag: tag} }
	check := func(what, key, tag, op string) {
		t.Helper()
		if got := headTag(t, mem, key); got != tag {
			t.Errorf("%s: tag %q, want %q", what, got, tag)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(ops, op) {
			t.Errorf("%s: ops %v, want a %s", what, ops, op)
		}
		ops = nil
	}

	small, err := Whole(ctx, mem, "small", big, 10, Base{}, cfg("w:10"))
	if err != nil {
		t.Fatal(err)
	}
	check("Whole, one PUT", "small", "w:10", "PutObject")
	if _, err := Append(ctx, mem, "small", small, big, 0, 20, cfg("a:20")); err != nil {
		t.Fatal(err)
	}
	check("Append of a small object (re-put)", "small", "a:20", "PutObject")

	whole, err := Whole(ctx, mem, "big", big, part+1, Base{}, cfg("w:big"))
	if err != nil {
		t.Fatal(err)
	}
	check("Whole, multipart", "big", "w:big", "CompleteMultipartUpload")
	if _, err := Append(ctx, mem, "big", whole, big, 0, int64(len(big)), cfg("a:big")); err != nil {
		t.Fatal(err)
	}
	check("Append by compose", "big", "a:big", "UploadPartCopy")

	s, err := StartStream(ctx, mem, "stream", cfg("s:1"))
	if err != nil {
		t.Fatal(err)
	}
	s.Advance(big, int64(len(big)))
	if _, err := s.Finish(ctx, big, int64(len(big)), Base{}); err != nil {
		t.Fatal(err)
	}
	check("Stream", "stream", "s:1", "CompleteMultipartUpload")

	ex := memstore.NewExpress("b--x-s3")
	eb, _, err := ExpressAppend(ctx, ex, ex, "log", Base{}, big, 0, 5, 0, cfg("e:5"))
	if err != nil {
		t.Fatal(err)
	}
	if got := headTag(t, ex, "log"); got != "e:5" {
		t.Errorf("Express first write: tag %q", got)
	}
	// Appends cannot change metadata: the first tag stays.
	if _, _, err := ExpressAppend(ctx, ex, ex, "log", eb, big, 0, 9, 1, cfg("e:9")); err != nil {
		t.Fatal(err)
	}
	if got := headTag(t, ex, "log"); got != "e:5" {
		t.Errorf("Express append: tag %q, want the first write's", got)
	}
}

// What the tag is for: a publication applied whose answer was lost is
// recognised by Head after the retry is refused, and another writer's
// identical bytes are not taken for ours.
func TestTagTellsALostAnswerFromIdenticalForeignBytes(t *testing.T) {
	ctx := context.Background()
	const l = "same line\n"
	for _, c := range []struct {
		name  string
		lines int // in the base; compose needs a base of a whole part
	}{{"re-put", 1}, {"compose", s3store.MinPartSize/len(l) + 1}} {
		t.Run(c.name, func(t *testing.T) {
			line := bytesSource(strings.Repeat(l, c.lines+1))
			end, mid := int64(len(line)), int64(c.lines*len(l))
			mem := memstore.New("b")
			cfg := Config{Tag: fmt.Sprintf("spool-7:%d", end)}
			base, err := Whole(ctx, mem, "log", line, mid, Base{}, Config{Tag: fmt.Sprintf("spool-7:%d", mid)})
			if err != nil {
				t.Fatal(err)
			}

			// Ours applied, answer lost: the retry is refused, Head says ours.
			mem.SetHook(func(c memstore.Call) memstore.Fault {
				if c.Op == "PutObject" || c.Op == "CompleteMultipartUpload" {
					return memstore.LoseAnswer
				}
				return memstore.Pass
			})
			if _, err := Append(ctx, mem, "log", base, line, 0, end, cfg); err == nil {
				t.Fatal("lost answer reported success")
			}
			mem.SetHook(nil)
			if _, err := Append(ctx, mem, "log", base, line, 0, end, cfg); !errors.Is(err, ErrConflict) {
				t.Fatalf("retry after the lost answer: %v, want ErrConflict", err)
			}
			if got := headTag(t, mem, "log"); got != cfg.Tag {
				t.Fatalf("after our lost answer: tag %q, want ours", got)
			}

			// Another host appends the same line first: same bytes, not ours.
			mem.PutObject("log", line[:mid])
			_, etag, _ := mem.Object("log")
			base = Base{Exists: true, Size: mid, ETag: etag}
			mem.AppendObject("log", line[mid:])
			if _, err := Append(ctx, mem, "log", base, line, 0, end, cfg); !errors.Is(err, ErrConflict) {
				t.Fatalf("append after a foreign one: %v, want ErrConflict", err)
			}
			if composed := mem.Stats()["UploadPartCopy"].Requests > 0; composed != (c.name == "compose") {
				t.Fatalf("UploadPartCopy used: %v", composed)
			}
			if data, _, _ := mem.Object("log"); !bytes.Equal(data, line) {
				t.Fatalf("object %q", data)
			}
			if got := headTag(t, mem, "log"); got == cfg.Tag {
				t.Fatal("identical foreign bytes carry our tag")
			}
		})
	}
}
