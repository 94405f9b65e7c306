package publish

import (
	"bytes"
	"context"
	"io"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
	"github.com/s3mount/s3mount/internal/zstore"
)

// gunzip reads every member of a gzip series, as zcat does.
func gunzip(t *testing.T, obj []byte) string {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(obj))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("not a valid gzip series: %v", err)
	}
	return string(b)
}

// appendAndPublish writes s at the end of f and publishes it.
func appendAndPublish(t *testing.T, p *Publisher, f *spool.File, s string) Result {
	t.Helper()
	if _, err := f.WriteAt([]byte(s), f.Journal().Size); err != nil {
		t.Fatal(err)
	}
	res, err := p.Publish(context.Background(), f, &fakeFile{}, true)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Each publication of a compressed log appends one member: the object is
// a valid gzip series after every one, marked with the uncompressed size,
// and the view reads it back at any offset.
func TestCompressedLogGrowsByMembers(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	z := zstore.New(mem, compress.Gzip, []string{"*.log"})
	sp, f := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend}, "")
	p := NewPublisher(z, nil, sp, Config{PartSize: 5 << 20}, nil)
	var want bytes.Buffer
	big := make([]byte, 6<<20) // incompressible: the object passes 5 MiB, so later appends compose
	rand.New(rand.NewSource(1)).Read(big)
	for i, s := range []string{"one\n", "two\n", string(big) + "\n", "four\n", "five\n"} {
		heads := mem.Stats()["HeadObject"].Requests
		appendAndPublish(t, p, f, s)
		// The first asks whether another host created app.log plain
		// first (adoptForm) or meanwhile (settleForms); after it the
		// mount knows its own object.
		wantHeads := int64(0)
		if i == 0 {
			wantHeads = 2
		}
		if n := mem.Stats()["HeadObject"].Requests - heads; n != wantHeads {
			t.Fatalf("publication %d sent %d HEADs, want %d: the mount knows its own object's size", i, n, wantHeads)
		}
		want.WriteString(s)
		obj, _, ok := mem.Object("app.log.gz")
		if !ok {
			t.Fatal("no app.log.gz")
		}
		if got := gunzip(t, obj); got != want.String() {
			t.Fatalf("after publication %d the object holds %d bytes, want %d", i, len(got), want.Len())
		}
		h, err := mem.Head(ctx, "app.log.gz")
		if err != nil || h.Encoding == nil || h.Encoding.Name != "gzip" || h.Encoding.Size != int64(want.Len()) {
			t.Fatalf("mark after publication %d: %+v, %v", i, h.Encoding, err)
		}
		if _, _, plain := mem.Object("app.log"); plain {
			t.Fatal("an uncompressed app.log was written")
		}
	}
	if n := mem.Stats()["UploadPartCopy"].Requests; n == 0 {
		t.Fatal("appends to a 6 MiB object did not compose")
	}
	info, err := z.Head(ctx, "app.log")
	if err != nil || info.Size != int64(want.Len()) {
		t.Fatalf("view's HEAD: size %d, %v; want %d", info.Size, err, want.Len())
	}
	for _, off := range []int64{0, 3, int64(want.Len()) - 10, 8 + 5<<20} {
		rc, err := z.Get(ctx, "app.log", off, 10, info.ETag)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want.Bytes()[off:off+10]) {
			t.Fatalf("read at %d: %q, %v", off, got, err)
		}
	}
}

// Two hosts append to one compressed key: the second rebases after the
// first's member, both hosts' lines survive, the series stays valid.
func TestCompressedLogRebases(t *testing.T) {
	mem := memstore.New("b")
	za := zstore.New(mem, compress.Gzip, []string{"*.log"})
	zb := zstore.New(mem, compress.Gzip, []string{"*.log"})
	spa, fa := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend}, "")
	spb, fb := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend}, "")
	pa := NewPublisher(za, nil, spa, Config{PartSize: 5 << 20}, nil)
	pb := NewPublisher(zb, nil, spb, Config{PartSize: 5 << 20}, nil)
	appendAndPublish(t, pa, fa, "a1\n")
	res := appendAndPublish(t, pb, fb, "b1\n")
	if res.Rebases != 1 {
		t.Fatalf("second host: %+v, want one rebase", res)
	}
	appendAndPublish(t, pa, fa, "a2\n")
	obj, _, _ := mem.Object("app.log.gz")
	if got := gunzip(t, obj); got != "a1\nb1\na2\n" {
		t.Fatalf("S3 holds %q", got)
	}
}

// A lost answer is settled by the tag, never published twice; an edited
// file (published whole) replaces the object with members of all of it.
func TestCompressedLostAnswerAndWhole(t *testing.T) {
	mem := memstore.New("b")
	z := zstore.New(mem, compress.Zstd, []string{"*.log"})
	sp, f := newSpoolFile(t, spool.Journal{Key: "x.log", Kind: spool.KindAppend}, "")
	p := NewPublisher(z, nil, sp, Config{PartSize: 5 << 20}, nil)
	appendAndPublish(t, p, f, "l1\n")
	lost := true
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "PutObject" && lost {
			lost = false
			return memstore.LoseAnswer
		}
		return memstore.Pass
	})
	appendAndPublish(t, p, f, "l2\n")
	read := func() string {
		rc, err := z.Get(context.Background(), "x.log", 0, -1, "")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read(); got != "l1\nl2\n" {
		t.Fatalf("after a lost answer S3 holds %q", got)
	}
	// Edit: the file is now whole (truncated and rewritten).
	if err := f.Update(func(j *spool.Journal) { j.Kind = spool.KindWhole; j.Dirty = true }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("L1"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(context.Background(), f, &fakeFile{}, true); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "L1\nl2\n" {
		t.Fatalf("after the whole publication S3 holds %q", got)
	}
	h, _ := mem.Head(context.Background(), "x.log.zst")
	if h.Encoding == nil || h.Encoding.Size != 6 {
		t.Fatalf("mark %+v", h.Encoding)
	}
}

// A large publication is compressed into an unlinked file in the spool
// directory (not memory): the object is the same, nothing is left behind.
func TestCompressedLargePublicationSpills(t *testing.T) {
	defer func(v int64) { spillAbove = v }(spillAbove)
	spillAbove = 1 << 10
	mem := memstore.New("b")
	z := zstore.New(mem, compress.Gzip, []string{"*.log"})
	sp, f := newSpoolFile(t, spool.Journal{Key: "big.log", Kind: spool.KindAppend}, "")
	p := NewPublisher(z, nil, sp, Config{PartSize: 5 << 20}, nil)
	want := bytes.Repeat([]byte("a line of a large backlog\n"), 2000)
	appendAndPublish(t, p, f, string(want[:30000]))
	appendAndPublish(t, p, f, string(want[30000:]))
	obj, _, _ := mem.Object("big.log.gz")
	if got := gunzip(t, obj); got != string(want) {
		t.Fatalf("object holds %d bytes, want %d", len(got), len(want))
	}
	left, _ := filepath.Glob(filepath.Join(sp.Dir(), "publishing-*"))
	if len(left) != 0 {
		t.Fatalf("left in the spool: %v", left)
	}
}

// With the memory budget spent, a compressed publication keeps its members
// and the old bytes of the small object it re-puts in spool files, and the
// object is the same; a budget that fits is taken and given back whole.
func TestCompressedPublicationPastBudget(t *testing.T) {
	for _, budget := range []int64{0, 1 << 20} {
		mem := memstore.New("b")
		z := zstore.New(mem, compress.Gzip, []string{"*.log"})
		sp, f := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend}, "")
		b := NewBudget(budget)
		p := NewPublisher(z, nil, sp, Config{PartSize: 5 << 20, Budget: b, SpillDir: sp.Dir()}, nil)
		appendAndPublish(t, p, f, "first line\n")
		appendAndPublish(t, p, f, "second line\n") // re-put: old bytes fetched
		obj, _, _ := mem.Object("app.log.gz")
		if got := gunzip(t, obj); got != "first line\nsecond line\n" {
			t.Fatalf("budget %d: object holds %q", budget, got)
		}
		if !b.TryTake(budget) || b.TryTake(1) {
			t.Fatalf("budget %d not given back whole", budget)
		}
		left, _ := filepath.Glob(filepath.Join(sp.Dir(), "publishing-*"))
		if len(left) != 0 {
			t.Fatalf("left in the spool: %v", left)
		}
	}
}
