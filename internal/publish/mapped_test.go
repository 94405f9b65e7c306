package publish

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
)

// A file whose bytes S3 has may have been written through a shared
// mapping (the journal's MapCheck) is compared with S3 before it is
// published: the same, it goes on as an append (after another host's
// bytes); different, or S3's object shorter or gone (answers), it is
// published whole, conditionally; a read that fails is an error that
// keeps the look due, never a whole publication.
func TestPublisherLooksAtMappedBytesFirst(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		s3      func(mem *memstore.Store) // after our "one\nours\n" was published
		local   string                    // the spool file's bytes
		want    string                    // S3 after the publication
		gaveUp  bool
		getFail bool // the first look's GET fails
	}{
		{"unchanged, another host appended", func(mem *memstore.Store) { mem.AppendObject("a.log", []byte("theirs\n")) },
			"one\nours\ntwo\n", "one\nours\ntheirs\ntwo\n", false, false},
		{"unchanged, S3 failing at the first look", func(mem *memstore.Store) { mem.AppendObject("a.log", []byte("theirs\n")) },
			"one\nours\ntwo\n", "one\nours\ntheirs\ntwo\n", false, true},
		{"changed", func(*memstore.Store) {}, "one\nOURS\ntwo\n", "one\nOURS\ntwo\n", false, false},
		{"object shorter", func(mem *memstore.Store) { mem.PutObject("a.log", []byte("one\n")) }, "one\nours\ntwo\n", "one\n", true, false},
		{"object gone", func(mem *memstore.Store) { mem.DeleteObject("a.log") }, "one\nours\ntwo\n", "", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := memstore.New("b")
			etag := mem.PutObject("a.log", []byte("one\nours\n"))
			c.s3(mem)
			sp, f := newSpoolFile(t, spool.Journal{Key: "a.log", Kind: spool.KindAppend, Exists: true, BaseSize: 9, BaseETag: etag}, c.local)
			if err := f.Update(func(j *spool.Journal) { j.MapCheck = j.MapCheck.Merged(4, 13) }); err != nil {
				t.Fatal(err)
			}
			failing := c.getFail
			mem.SetHook(func(call memstore.Call) memstore.Fault {
				if call.Op == "GetObject" && failing {
					return memstore.Fail
				}
				return memstore.Pass
			})
			p := NewPublisher(mem, nil, sp, Config{PartSize: 5 << 20}, nil)
			if c.getFail {
				_, err := p.Publish(ctx, f, &fakeFile{}, true)
				if err == nil || errors.Is(err, ErrGaveUp) {
					t.Fatalf("publication while the look fails: %v, want a failure to retry", err)
				}
				if j := f.Journal(); j.MapCheck == nil || j.Kind != spool.KindAppend {
					t.Fatalf("after the failed look: kind %s, map check %+v; want an append, the look still due", j.Kind, j.MapCheck)
				}
				failing = false
			}
			_, err := p.Publish(ctx, f, &fakeFile{}, true)
			if gaveUp := errors.Is(err, ErrGaveUp); gaveUp != c.gaveUp || err != nil && !gaveUp {
				t.Fatalf("publication: %v; want a refusal %v", err, c.gaveUp)
			}
			if got, _, _ := mem.Object("a.log"); string(got) != c.want {
				t.Fatalf("S3 holds %q, want %q", got, c.want)
			}
			if j := f.Journal(); j.MapCheck != nil {
				t.Fatalf("map check left: %+v", j.MapCheck)
			}
		})
	}
}

// While an open that may map the data file lasts, its check is not
// taken (a look then cannot tell that a mapped write does not come after
// it) and stays recorded, while the publications go on: an open log's
// new lines publish on time. Once it is released the look is taken. A
// record made while a look runs (another such open, a release) is not
// cleared by it.
func TestPublisherLeavesTheMapCheckWhileAMappingOpenLasts(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	etag := mem.PutObject("a.log", []byte("one\n"))
	sp, f := newSpoolFile(t, spool.Journal{Key: "a.log", Kind: spool.KindAppend, Exists: true, BaseSize: 4, BaseETag: etag}, "one\nours\n")
	if err := f.Update(func(j *spool.Journal) { j.MapCheck = j.MapCheck.Merged(0, spool.MapToEnd) }); err != nil {
		t.Fatal(err)
	}
	var gets atomic.Int64
	var recordAtLook atomic.Bool
	mem.SetHook(func(call memstore.Call) memstore.Fault {
		if call.Op == "GetObject" {
			gets.Add(1)
			if recordAtLook.Swap(false) {
				if err := f.Update(func(j *spool.Journal) { j.MapCheck = j.MapCheck.Merged(0, 4) }); err != nil {
					t.Error(err)
				}
			}
		}
		return memstore.Pass
	})
	p := NewPublisher(mem, nil, sp, Config{PartSize: 5 << 20}, nil)
	ff := &fakeFile{mapOpen: true}
	if _, err := p.Publish(ctx, f, ff, true); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := mem.Object("a.log"); string(got) != "one\nours\n" {
		t.Fatalf("S3 holds %q while the open lasts, want the appended line published", got)
	}
	if j := f.Journal(); j.MapCheck == nil || j.MapCheck.To != spool.MapToEnd || gets.Load() != 0 {
		t.Fatalf("while the open lasts: map check %+v, %d GETs; want it kept, not looked at", j.MapCheck, gets.Load())
	}
	ff.mu.Lock()
	ff.mapOpen = false
	ff.mu.Unlock()
	recordAtLook.Store(true)
	if _, err := p.Publish(ctx, f, ff, true); err != nil {
		t.Fatal(err)
	}
	if j := f.Journal(); j.MapCheck == nil || gets.Load() != 1 {
		t.Fatalf("after a look during which another record was made: map check %+v, %d GETs; want it kept", j.MapCheck, gets.Load())
	}
	if _, err := p.Publish(ctx, f, ff, true); err != nil {
		t.Fatal(err)
	}
	if j := f.Journal(); j.MapCheck != nil || gets.Load() != 2 {
		t.Fatalf("after the open's release: map check %+v, %d GETs; want it looked at and cleared", j.MapCheck, gets.Load())
	}
	if got, _, _ := mem.Object("a.log"); string(got) != "one\nours\n" {
		t.Fatalf("S3 holds %q", got)
	}
}
