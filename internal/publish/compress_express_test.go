package publish

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
	"github.com/s3mount/s3mount/internal/zstore"
)

const expressBucket = "bucket--use1-az4--x-s3"

var codecTools = map[compress.Codec]string{compress.Gzip: "gzip", compress.Zstd: "zstd"}

// toolCheck runs the codec's own tool on obj: `gzip -t` / `zstd -t` must
// pass and `-dc` (zcat / zstdcat) give want.
func toolCheck(t *testing.T, c compress.Codec, obj []byte, want string) {
	t.Helper()
	tool := codecTools[c]
	p := filepath.Join(t.TempDir(), "obj"+c.Ext())
	if err := os.WriteFile(p, obj, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool, "-t", p).CombinedOutput(); err != nil {
		t.Fatalf("%s -t: %v\n%s", tool, err, out)
	}
	out, err := exec.Command(tool, "-dc", p).Output()
	if err != nil || string(out) != want {
		t.Fatalf("%s -dc: %d bytes, want %d, %v", tool, len(out), len(want), err)
	}
}

// callLog records the store calls (appends as "AppendAt").
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) hook(c memstore.Call) memstore.Fault {
	l.mu.Lock()
	defer l.mu.Unlock()
	op := c.Op
	if c.Append {
		op = "AppendAt"
	}
	l.calls = append(l.calls, op+" "+c.Key)
	return memstore.Pass
}

func (l *callLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls
	l.calls = nil
	return c
}

func readView(t *testing.T, z *zstore.Store, key string) string {
	t.Helper()
	rc, err := z.Get(context.Background(), key, 0, -1, "")
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

// On a directory bucket each publication of a compressed log is ONE
// append (PutObject at the object's stored size) of complete members and
// a trailer: never a re-put or a copy. After every publication the object
// passes gzip -t / zstd -t and decompresses to the file, its mark says the
// size is in the trailer, and a fresh view (another mount) shows the
// uncompressed size with one HEAD and one ranged GET, and reads at any
// offset.
func TestCompressedExpressAppendsOnce(t *testing.T) {
	for _, c := range []compress.Codec{compress.Gzip, compress.Zstd} {
		t.Run(string(c), func(t *testing.T) {
			ctx := context.Background()
			mem := memstore.NewExpress(expressBucket)
			z := zstore.New(mem, c, []string{"*.log"})
			sp, f := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend}, "")
			p := NewPublisher(z, mem, sp, Config{PartSize: 5 << 20}, nil)
			obj := "app.log" + c.Ext()
			var log callLog
			mem.SetHook(log.hook)
			var want strings.Builder
			lines := strings.Repeat("GET /index.html 200\n", 4000)
			for i, s := range []string{"one\n", "two\n", lines, "four\n", lines + "five\n"} {
				appendAndPublish(t, p, f, s)
				want.WriteString(s)
				calls := log.take()
				wantCalls := []string{"AppendAt " + obj}
				if i == 0 {
					// Did another host create app.log plain first
					// (adoptForm), or while this one was written
					// (settleForms)?
					wantCalls = []string{"HeadObject app.log", "PutObject " + obj, "HeadObject app.log"}
				}
				if !slices.Equal(calls, wantCalls) {
					t.Fatalf("publication %d sent %v, want %v", i, calls, wantCalls)
				}
				data, _, _ := mem.Object(obj)
				toolCheck(t, c, data, want.String())
				h, err := mem.Head(ctx, obj)
				if err != nil || h.Encoding == nil || h.Encoding.Name != string(c) || !h.Encoding.Trailer {
					t.Fatalf("mark after publication %d: %+v, %v", i, h.Encoding, err)
				}
				if j := f.Journal(); j.ExpressParts != i+1 || mem.Parts(obj) != i+1 {
					t.Fatalf("parts: journal %d, store %d; want %d", j.ExpressParts, mem.Parts(obj), i+1)
				}
				log.take() // the checks' own calls
			}
			mem.SetHook(nil)
			if _, _, plain := mem.Object("app.log"); plain {
				t.Fatal("an uncompressed app.log was written")
			}
			fresh := zstore.New(mem, c, []string{"*.log"})
			mem.SetHook(log.hook)
			info, err := fresh.Head(ctx, "app.log")
			if err != nil || info.Size != int64(want.Len()) {
				t.Fatalf("a fresh view's HEAD: size %d, %v; want %d", info.Size, err, want.Len())
			}
			if calls := log.take(); !slices.Equal(calls, []string{"HeadObject " + obj, "GetObject " + obj}) {
				t.Fatalf("a fresh view's stat sent %v, want one HEAD and one GET", calls)
			}
			mem.SetHook(nil)
			w := want.String()
			for _, off := range []int64{0, 3, int64(len(w)) - 10, int64(len(w)) / 2} {
				rc, err := fresh.Get(ctx, "app.log", off, 10, info.ETag)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || string(got) != w[off:min(off+10, int64(len(w)))] {
					t.Fatalf("read at %d: %q, %v", off, got, err)
				}
			}
			if got := readView(t, fresh, "app.log"); got != w {
				t.Fatalf("a fresh view reads %d bytes, want %d", len(got), len(w))
			}
		})
	}
}

// Two hosts append to one compressed key on a directory bucket: the
// second's append meets the first's (offset refused), it rebases after it
// (the size read from the trailer), and both hosts' lines survive in a
// valid stream. A lost answer of an append is settled by the object's
// bytes: never appended twice.
func TestCompressedExpressRebaseAndLostAnswer(t *testing.T) {
	for _, c := range []compress.Codec{compress.Gzip, compress.Zstd} {
		t.Run(string(c), func(t *testing.T) {
			mem := memstore.NewExpress(expressBucket)
			za := zstore.New(mem, c, []string{"*.log"})
			zb := zstore.New(mem, c, []string{"*.log"})
			spa, fa := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend}, "")
			spb, fb := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend}, "")
			pa := NewPublisher(za, mem, spa, Config{PartSize: 5 << 20}, nil)
			pb := NewPublisher(zb, mem, spb, Config{PartSize: 5 << 20}, nil)
			obj := "app.log" + c.Ext()
			appendAndPublish(t, pa, fa, "a1\n")
			if res := appendAndPublish(t, pb, fb, "b1\n"); res.Rebases != 1 {
				t.Fatalf("second host: %+v, want one rebase", res)
			}
			appendAndPublish(t, pa, fa, "a2\n")
			appendAndPublish(t, pb, fb, "b2\n")
			data, _, _ := mem.Object(obj)
			toolCheck(t, c, data, "a1\nb1\na2\nb2\n")
			appendAndPublish(t, pa, fa, "a3\n") // rebases after b2
			lost := true
			mem.SetHook(func(call memstore.Call) memstore.Fault {
				if call.Append && lost {
					lost = false
					return memstore.LoseAnswer
				}
				return memstore.Pass
			})
			appendAndPublish(t, pa, fa, "a4\n")
			mem.SetHook(nil)
			appendAndPublish(t, pa, fa, "a5\n")
			data, _, _ = mem.Object(obj)
			toolCheck(t, c, data, "a1\nb1\na2\nb2\na3\na4\na5\n")
			if j := fa.Journal(); j.BaseSize != 21 {
				t.Fatalf("host a's base is %d bytes, want 21", j.BaseSize)
			}
		})
	}
}

// tooManyParts answers the first append with TooManyParts (the object has
// more parts than the journal counted: another host appended).
type tooManyParts struct {
	s3store.Express
	once sync.Once
}

func (e *tooManyParts) AppendAt(ctx context.Context, key string, off int64, body io.ReadSeeker, size int64) (s3store.ObjectInfo, error) {
	var hit bool
	e.once.Do(func() { hit = true })
	if hit {
		return s3store.ObjectInfo{}, s3store.ErrTooManyParts
	}
	return e.Express.AppendAt(ctx, key, off, body, size)
}

// Before an object reaches the part limit it is compacted (CopyObject onto
// itself) and then appended to; TooManyParts (the count was wrong) does
// the same. The copy keeps the mark, so the object's size is still read
// from its trailer.
func TestCompressedExpressCompaction(t *testing.T) {
	ctx := context.Background()
	mem := memstore.NewExpress(expressBucket)
	z := zstore.New(mem, compress.Gzip, []string{"*.log"})
	ex := &tooManyParts{Express: mem}
	ex.once.Do(func() {}) // armed below
	sp, f := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend}, "")
	p := NewPublisher(z, ex, sp, Config{PartSize: 5 << 20}, nil)
	appendAndPublish(t, p, f, "l1\n")
	appendAndPublish(t, p, f, "l2\n")
	if err := f.Update(func(j *spool.Journal) { j.ExpressParts = ExpressCompactAt - 1 }); err != nil {
		t.Fatal(err)
	}
	var log callLog
	mem.SetHook(log.hook)
	appendAndPublish(t, p, f, "l3\n")
	if calls := log.take(); !slices.Equal(calls, []string{"CopyObject app.log.gz", "AppendAt app.log.gz"}) {
		t.Fatalf("at the part limit: %v, want a compaction and an append", calls)
	}
	ex.once = sync.Once{} // the next append meets TooManyParts
	appendAndPublish(t, p, f, "l4\n")
	if calls := log.take(); !slices.Equal(calls, []string{"CopyObject app.log.gz", "AppendAt app.log.gz"}) {
		t.Fatalf("after TooManyParts: %v, want a compaction and an append", calls)
	}
	mem.SetHook(nil)
	if mem.Parts("app.log.gz") != 2 || f.Journal().ExpressParts != 2 {
		t.Fatalf("parts: store %d, journal %d; want 2", mem.Parts("app.log.gz"), f.Journal().ExpressParts)
	}
	data, _, _ := mem.Object("app.log.gz")
	toolCheck(t, compress.Gzip, data, "l1\nl2\nl3\nl4\n")
	fresh := zstore.New(mem, compress.Gzip, []string{"*.log"})
	if info, err := fresh.Head(ctx, "app.log"); err != nil || info.Size != 12 {
		t.Fatalf("after compactions a fresh view shows %d bytes, %v; want 12", info.Size, err)
	}
}

// Rename on a directory bucket is RenameObject of the file's object:
// access.log -> access.log.1 moves access.log.gz to access.log.1.gz, which
// keeps its trailer and mark; the old key is gone.
func TestCompressedExpressRename(t *testing.T) {
	ctx := context.Background()
	mem := memstore.NewExpress(expressBucket)
	z := zstore.New(mem, compress.Gzip, []string{"*.log"})
	sp, f := newSpoolFile(t, spool.Journal{Key: "access.log", Kind: spool.KindAppend}, "")
	p := NewPublisher(z, mem, sp, Config{PartSize: 5 << 20}, nil)
	appendAndPublish(t, p, f, "r1\n")
	appendAndPublish(t, p, f, "r2\n")
	j := f.Journal()
	var log callLog
	mem.SetHook(log.hook)
	etag, err := p.Move(ctx, f, "access.log", j.BaseETag, j.BaseSize, "access.log.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	calls := log.take()
	mem.SetHook(nil)
	if !slices.Contains(calls, "RenameObject access.log.1.gz") || slices.ContainsFunc(calls, func(s string) bool { return strings.HasPrefix(s, "CopyObject") }) {
		t.Fatalf("rename sent %v, want RenameObject of the object and no copy", calls)
	}
	if keys := mem.Keys(); !slices.Equal(keys, []string{"access.log.1.gz"}) {
		t.Fatalf("keys after the rename: %v", keys)
	}
	info, err := z.Head(ctx, "access.log.1")
	if err != nil || info.Size != 6 || info.ETag != etag {
		t.Fatalf("renamed file: %+v, %v; want 6 bytes at %s", info, err, etag)
	}
	// The file publishes on under its new name.
	appendAndPublish(t, p, f, "r3\n")
	data, _, _ := mem.Object("access.log.1.gz")
	toolCheck(t, compress.Gzip, data, "r1\nr2\nr3\n")
	fresh := zstore.New(mem, compress.Gzip, []string{"*.log"})
	if info, err := fresh.Head(ctx, "access.log.1"); err != nil || info.Size != 9 { // a lookup comes first
		t.Fatalf("a fresh view shows %+v, %v", info, err)
	}
	if got := readView(t, fresh, "access.log.1"); got != "r1\nr2\nr3\n" {
		t.Fatalf("a fresh view reads %q", got)
	}
}

// Bytes that are not s3mount's publications appended to a marked object
// (its last bytes no trailer): the view shows the object as it is, under
// its own name, rather than a wrong size.
func TestCompressedExpressForeignAppend(t *testing.T) {
	mem := memstore.NewExpress(expressBucket)
	z := zstore.New(mem, compress.Gzip, []string{"*.log"})
	sp, f := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend}, "")
	p := NewPublisher(z, mem, sp, Config{PartSize: 5 << 20}, nil)
	appendAndPublish(t, p, f, "ok\n")
	mem.AppendObject("app.log.gz", compress.Gzip.AppendMember(nil, []byte("foreign\n")))
	fresh := zstore.New(mem, compress.Gzip, []string{"*.log"})
	if _, err := fresh.Head(context.Background(), "app.log"); err == nil {
		t.Fatal("an object whose last bytes are no trailer was shown as the file")
	}
	h, err := fresh.Head(context.Background(), "app.log.gz")
	data, _, _ := mem.Object("app.log.gz")
	if err != nil || h.Size != int64(len(data)) {
		t.Fatalf("shown as it is: %+v, %v", h, err)
	}
	if !bytes.Contains([]byte(gunzip(t, data)), []byte("foreign")) {
		t.Fatal("test object lacks the foreign member")
	}
}

// An object on a directory bucket marked with its size (copied there from
// a general-purpose bucket, metadata and all) is not appended to: the
// append could not change that size. It is rewritten once (conditional
// re-put) with the trailer's mark; appends follow as usual.
func TestCompressedExpressConvertsASizeMark(t *testing.T) {
	ctx := context.Background()
	mem := memstore.NewExpress(expressBucket)
	old := compress.Gzip.AppendMember(nil, []byte("copied\n"))
	if _, err := mem.Put(ctx, "app.log.gz", bytes.NewReader(old), int64(len(old)), s3store.Cond{Encoding: &s3store.Encoding{Name: "gzip", Size: 7}}); err != nil {
		t.Fatal(err)
	}
	z := zstore.New(mem, compress.Gzip, []string{"*.log"})
	info, err := z.Head(ctx, "app.log")
	if err != nil || info.Size != 7 {
		t.Fatalf("head: %+v, %v", info, err)
	}
	sp, f := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend, Exists: true, BaseSize: 7, BaseETag: info.ETag, Size: 7, LocalStart: 7}, "")
	p := NewPublisher(z, mem, sp, Config{PartSize: 5 << 20}, nil)
	var log callLog
	mem.SetHook(log.hook)
	appendAndPublish(t, p, f, "new\n")
	if calls := log.take(); !slices.Equal(calls, []string{"GetObject app.log.gz", "PutObject app.log.gz"}) {
		t.Fatalf("conversion sent %v, want a GET of the old bytes and a re-put", calls)
	}
	appendAndPublish(t, p, f, "newer\n")
	if calls := log.take(); !slices.Equal(calls, []string{"AppendAt app.log.gz"}) {
		t.Fatalf("then %v, want one append", calls)
	}
	mem.SetHook(nil)
	h, _ := mem.Head(ctx, "app.log.gz")
	if h.Encoding == nil || !h.Encoding.Trailer {
		t.Fatalf("mark after the conversion: %+v", h.Encoding)
	}
	data, _, _ := mem.Object("app.log.gz")
	toolCheck(t, compress.Gzip, data, "copied\nnew\nnewer\n")
	if info, err := zstore.New(mem, compress.Gzip, []string{"*.log"}).Head(ctx, "app.log"); err != nil || info.Size != 17 {
		t.Fatalf("a fresh view shows %d bytes, %v; want 17", info.Size, err)
	}
}
