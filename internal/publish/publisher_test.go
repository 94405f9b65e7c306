package publish

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
)

// fakeFile is the file system's side of a publication, recording what the
// publisher told it.
type fakeFile struct {
	mu        sync.Mutex
	held      int
	published []int64
	rebased   int
	wrote     int
	attrs     *s3store.Attrs
	mapOpen   bool // an open that may map the data file lasts
}

func (t *fakeFile) End(f *spool.File, final bool) (int64, error) {
	j := f.Journal()
	to := j.Size
	if j.Kind == spool.KindAppend && to <= j.BaseSize {
		return -1, nil
	}
	err := f.Update(func(jj *spool.Journal) {
		jj.Pending = to
		jj.PubSeq++
		jj.PendingTag = f.ID() + ":" + string(rune('0'+jj.PubSeq))
	})
	return to, err
}

func (t *fakeFile) HoldWriters() func() {
	t.mu.Lock()
	t.held++
	t.mu.Unlock()
	return func() {}
}

func (t *fakeFile) Stream(int64) *Stream { return nil }

func (t *fakeFile) Wrote(int64, ...string) {
	t.mu.Lock()
	t.wrote++
	t.mu.Unlock()
}

func (t *fakeFile) Published(size int64, _ ...string) {
	t.mu.Lock()
	t.published = append(t.published, size)
	t.mu.Unlock()
}

func (t *fakeFile) Attrs() *s3store.Attrs { return t.attrs }

func (t *fakeFile) Recopied(string, string) {}

func (t *fakeFile) HeldBy() string { return "" }

func (t *fakeFile) MapOpen() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mapOpen
}

func (t *fakeFile) Rebased(_ bool, _ int64, _ string, _ *s3store.Attrs, move func() error) error {
	if err := move(); err != nil {
		return err
	}
	t.mu.Lock()
	t.rebased++
	t.mu.Unlock()
	return nil
}

func newSpoolFile(t *testing.T, j spool.Journal, data string) (*spool.Spool, *spool.File) {
	t.Helper()
	sp, _, err := spool.Open(t.TempDir(), "test", spool.Options{MaxBuffer: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Close)
	f, err := sp.Create(j)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(data), j.Size); err != nil {
		t.Fatal(err)
	}
	return sp, f
}

// A log whose object another host appended to is rebased: both hosts'
// lines end up in S3, ours after theirs.
func TestPublisherRebasesAnAppend(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	etag := mem.PutObject("app.log", []byte("a1\n"))
	sp, f := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend, Exists: true, BaseSize: 3, BaseETag: etag, LocalStart: 3, Size: 3}, "a2\n")
	mem.AppendObject("app.log", []byte("other\n"))
	p := NewPublisher(mem, nil, sp, Config{PartSize: 5 << 20}, nil)
	ff := &fakeFile{}
	res, err := p.Publish(ctx, f, ff, true)
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ := mem.Object("app.log")
	if string(got) != "a1\nother\na2\n" {
		t.Fatalf("S3 holds %q", got)
	}
	if res.Conflicts != 1 || res.Rebases != 1 || !res.Published || ff.rebased != 1 {
		t.Fatalf("result %+v, rebased %d", res, ff.rebased)
	}
	if j := f.Journal(); j.BaseSize != int64(len(got)) || j.Pending != 0 || j.PendingTag != "" {
		t.Fatalf("journal after the publication: %+v", j)
	}
}

// A file written whole whose object another host replaced is never
// overwritten: the publication gives up, the journal names the conflict
// and the data stays.
func TestPublisherGivesUpOnAReplacedObject(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	etag := mem.PutObject("data.bin", []byte("old"))
	sp, f := newSpoolFile(t, spool.Journal{Key: "data.bin", Kind: spool.KindWhole, Exists: true, BaseSize: 3, BaseETag: etag, Dirty: true}, "ours")
	mem.PutObject("data.bin", []byte("theirs"))
	p := NewPublisher(mem, nil, sp, Config{PartSize: 5 << 20}, nil)
	ff := &fakeFile{}
	_, err := p.Publish(ctx, f, ff, true)
	if !errors.Is(err, ErrGaveUp) {
		t.Fatalf("publication over another host's object: %v, want ErrGaveUp", err)
	}
	if got, _, _ := mem.Object("data.bin"); string(got) != "theirs" {
		t.Fatalf("S3 holds %q: the other host's object was overwritten", got)
	}
	if j := f.Journal(); !strings.Contains(j.Conflict, f.DataPath()) {
		t.Fatalf("journal's conflict %q does not say where the data is", j.Conflict)
	}
	if ff.held == 0 {
		t.Fatal("a whole file was published without holding its writers off")
	}
}

// A publication S3 applied but whose answer was lost is recognised by its
// tag: recorded as published, never put twice.
func TestPublisherSettlesALostAnswer(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	etag := mem.PutObject("app.log", []byte("a1\n"))
	sp, f := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend, Exists: true, BaseSize: 3, BaseETag: etag, LocalStart: 3, Size: 3}, "a2\n")
	lost := true
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "PutObject" && lost {
			lost = false
			return memstore.LoseAnswer
		}
		return memstore.Pass
	})
	p := NewPublisher(mem, nil, sp, Config{PartSize: 5 << 20}, nil)
	ff := &fakeFile{}
	res, err := p.Publish(ctx, f, ff, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := mem.Object("app.log"); string(got) != "a1\na2\n" {
		t.Fatalf("S3 holds %q", got)
	}
	if !res.Published || len(ff.published) != 1 || ff.published[0] != 6 {
		t.Fatalf("result %+v, published %v", res, ff.published)
	}
}
