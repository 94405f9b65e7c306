package zstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

var bg = context.Background()

// putMarked stores s as one gzip member under obj, marked as ours.
func putMarked(t *testing.T, st s3store.Store, obj, s string) {
	t.Helper()
	b := compress.Gzip.AppendMember(nil, []byte(s))
	if _, err := st.Put(bg, obj, bytes.NewReader(b), int64(len(b)), s3store.Cond{Encoding: &s3store.Encoding{Name: "gzip", Size: int64(len(s))}}); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, z *Store, key string) string {
	t.Helper()
	rc, err := z.Get(bg, key, 0, -1, "")
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

// A marked NAME.gz is the file NAME (listed, HEADed, read uncompressed);
// an unmarked one is shown as it is; a rotated name finds its object.
func TestViewNamesAndSizes(t *testing.T) {
	mem := memstore.New("b")
	z := New(mem, compress.Gzip, []string{"*.log"})
	putMarked(t, mem, "d/access.log.gz", "hello\n")
	putMarked(t, mem, "d/access.log.1.gz", "older\n")
	mem.PutObject("d/archive.log.2.gz", []byte("\x1f\x8bnot ours"))
	mem.PutObject("d/plain.txt", []byte("p"))
	page, err := z.List(bg, "d/", "/", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, o := range page.Objects {
		got[o.Key] = o.Size
	}
	want := map[string]int64{"d/access.log": 6, "d/access.log.1": 6, "d/archive.log.2.gz": 10, "d/plain.txt": 1}
	if len(got) != len(want) {
		t.Fatalf("listing %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("listing %v, want %v", got, want)
		}
	}
	// A fresh view (remount) finds the rotated name without a listing.
	z2 := New(mem, compress.Gzip, []string{"*.log"})
	for _, k := range []string{"d/access.log", "d/access.log.1"} {
		h, err := z2.Head(bg, k)
		if err != nil || h.Size != 6 || h.Key != k {
			t.Fatalf("HEAD %s: %+v, %v", k, h, err)
		}
	}
	if s := readAll(t, z2, "d/access.log.1"); s != "older\n" {
		t.Fatalf("read %q", s)
	}
	if _, err := z2.Head(bg, "d/none.log"); !errors.Is(err, s3store.ErrNotFound) {
		t.Fatalf("HEAD of a missing file: %v", err)
	}
	if _, err := z2.Put(bg, "d/new.log", bytes.NewReader([]byte("x")), 1, s3store.Cond{}); err == nil {
		t.Fatal("an uncompressed Put of a compressed file's key was taken")
	}
}

// Rename (logrotate create): access.log -> access.log.1 moves
// access.log.gz -> access.log.1.gz with its mark; delete follows too.
func TestViewRenameAndDelete(t *testing.T) {
	mem := memstore.New("b")
	z := New(mem, compress.Gzip, []string{"*.log"})
	putMarked(t, mem, "access.log.gz", "line\n")
	h, err := z.Head(bg, "access.log")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := z.Copy(bg, "access.log", h.ETag, "access.log.1", s3store.Cond{Tag: "rename"}); err != nil {
		t.Fatal(err)
	}
	if err := z.Delete(bg, "access.log"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := mem.Object("access.log.gz"); ok {
		t.Fatal("old object left")
	}
	n, err := mem.Head(bg, "access.log.1.gz")
	if err != nil || n.Encoding == nil || n.Encoding.Size != 5 || n.Tag != "rename" {
		t.Fatalf("moved object: %+v, %v", n, err)
	}
	if s := readAll(t, z, "access.log.1"); s != "line\n" {
		t.Fatalf("read %q", s)
	}
	if _, err := z.Copy(bg, "access.log.1", "\"stale\"", "x.log", s3store.Cond{}); !s3store.IsConflict(err) {
		t.Fatalf("copy pinned to an old ETag: %v", err)
	}
}

// A rename replaces its target whatever form each is stored in; an unlink
// never deletes an object that is not one of ours (logrotate's compress
// writes access.log.1.gz itself, then unlinks access.log.1).
func TestViewReplacesAndDeletesOnlyOurs(t *testing.T) {
	mem := memstore.New("b")
	z := New(mem, compress.Gzip, []string{"*.log"})
	putMarked(t, mem, "x.log.gz", "old\n")
	mem.PutObject("tmp", []byte("new\n"))
	h, _ := z.Head(bg, "tmp")
	if _, err := z.Copy(bg, "tmp", h.ETag, "x.log", s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := mem.Object("x.log.gz"); ok {
		t.Fatal("the replaced file's compressed object is left")
	}
	if s := readAll(t, New(mem, compress.Gzip, []string{"*.log"}), "x.log"); s != "new\n" {
		t.Fatalf("after a remount x.log reads %q", s)
	}
	putMarked(t, mem, "y.log.gz", "ours\n")
	mem.PutObject("plain.1", []byte("theirs\n"))
	h, _ = z.Head(bg, "y.log")
	if _, err := z.Copy(bg, "y.log", h.ETag, "plain.1", s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := mem.Object("plain.1"); ok {
		t.Fatal("the replaced file's plain object is left")
	}
	// access.log.1 is compressed (learned); its object name now holds
	// another file's own gzip.
	mem.PutObject("plain.1.gz", []byte("\x1f\x8bits own"))
	if err := z.Delete(bg, "plain.1"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := mem.Object("plain.1.gz"); !ok {
		t.Fatal("unlink deleted an object that is not ours")
	}
}

// A symlink (or FIFO) named like a log and a directory marker are stored
// as they are.
func TestViewSpecialFilesStayPlain(t *testing.T) {
	mem := memstore.New("b")
	z := New(mem, compress.Gzip, []string{"*.log"})
	link := &s3store.Attrs{Mode: 0o120777}
	if _, err := z.Put(bg, "cur.log", bytes.NewReader([]byte("a.log")), 5, s3store.Cond{Attrs: link}); err != nil {
		t.Fatal(err)
	}
	if _, err := z.Put(bg, "d.log/", bytes.NewReader(nil), 0, s3store.Cond{}); err != nil {
		t.Fatal(err)
	}
	if h, err := z.Head(bg, "cur.log"); err != nil || h.Size != 5 {
		t.Fatalf("symlink: %+v, %v", h, err)
	}
	if s := readAll(t, z, "cur.log"); s != "a.log" {
		t.Fatalf("symlink body %q", s)
	}
}

// A sequential reader's small consecutive reads are served from members
// already decompressed: a few GETs in all, not one decompression from the
// start per read; reads at any offset return the bytes.
func TestViewReadsMembers(t *testing.T) {
	mem := memstore.New("b")
	z := New(mem, compress.Gzip, []string{"*.log"})
	var want []byte
	var obj bytes.Buffer
	for i := 0; i < 6; i++ { // six publications of 300 KB
		chunk := bytes.Repeat([]byte(fmt.Sprintf("line %d of publication %d\n", i*7, i)), 12000)
		want = append(want, chunk...)
		obj.Write(compress.Gzip.AppendMember(nil, chunk))
	}
	if _, err := mem.Put(bg, "big.log.gz", bytes.NewReader(obj.Bytes()), int64(obj.Len()), s3store.Cond{Encoding: &s3store.Encoding{Name: "gzip", Size: int64(len(want))}}); err != nil {
		t.Fatal(err)
	}
	h, err := z.Head(bg, "big.log")
	if err != nil {
		t.Fatal(err)
	}
	gets := mem.Stats()["GetObject"].Requests
	for off := int64(0); off < int64(len(want)); off += 128 << 10 {
		rc, err := z.Get(bg, "big.log", off, 128<<10, h.ETag)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want[off:min(off+128<<10, int64(len(want)))]) {
			t.Fatalf("read at %d: %d bytes, %v", off, len(got), err)
		}
	}
	if n := mem.Stats()["GetObject"].Requests - gets; n > 7 {
		t.Fatalf("%d GETs for a sequential read of six members", n)
	}
	for _, off := range []int64{int64(len(want)) - 5, 1, int64(len(want)) / 3} {
		z2 := New(mem, compress.Gzip, []string{"*.log"}) // nothing known yet
		rc, err := z2.Get(bg, "big.log", off, 5, h.ETag)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, want[off:off+5]) {
			t.Fatalf("fresh read at %d: %q", off, got)
		}
	}
	if _, err := z.Get(bg, "big.log", 0, 5, `"other"`); !s3store.IsConflict(err) && !errors.Is(err, s3store.ErrPrecondition) {
		t.Fatalf("a read pinned to another version: %v", err)
	}
}

// A listing of many compressed objects asks for their marks once per
// ETag: listing again sends no HEAD.
func TestViewListingHeadsOncePerETag(t *testing.T) {
	mem := memstore.New("b")
	z := New(mem, compress.Gzip, []string{"*.log"})
	for i := 0; i < 50; i++ {
		putMarked(t, mem, fmt.Sprintf("r/app.log.%d.gz", i), fmt.Sprintf("line %d\n", i))
	}
	list := func() {
		t.Helper()
		page, err := z.List(bg, "r/", "/", "", 0)
		if err != nil || len(page.Objects) != 50 {
			t.Fatalf("listing: %d objects, %v", len(page.Objects), err)
		}
		for _, o := range page.Objects {
			if strings.HasSuffix(o.Key, ".gz") || o.Size < 7 {
				t.Fatalf("listed %q (%d bytes)", o.Key, o.Size)
			}
		}
	}
	list()
	heads := mem.Stats()["HeadObject"].Requests
	if heads != 50 {
		t.Fatalf("%d HEADs for 50 objects", heads)
	}
	list()
	if n := mem.Stats()["HeadObject"].Requests - heads; n != 0 {
		t.Fatalf("listing again sent %d HEADs", n)
	}
}

// An object whose base name is the extension alone (x/.gz) is nobody's
// NAME.gz (compress.Codec.Twin): a listing without a delimiter shows it
// under its own name, even marked, not as the file "x/".
func TestViewListsDotGzAsItIs(t *testing.T) {
	mem := memstore.New("b")
	z := New(mem, compress.Gzip, []string{"*"})
	putMarked(t, mem, "x/.gz", "line\n")
	putMarked(t, mem, "x/a.gz", "line\n")
	for _, prefix := range []string{"", "x"} {
		page, err := z.List(bg, prefix, "", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range page.Objects {
			keys = append(keys, o.Key)
		}
		if got := strings.Join(keys, " "); got != "x/.gz x/a" {
			t.Errorf("listing %q: %s, want x/.gz x/a", prefix, got)
		}
	}
}

// The decompressing stream several readers share keeps reading after the
// reader that started it is done and its context cancelled (the
// read-ahead cancels each part's context once the part is in): before,
// the shared GET failed under the other readers and was sent again.
func TestSharedStreamOutlivesItsFirstReader(t *testing.T) {
	mem := memstore.New("b")
	z := New(mem, compress.Gzip, []string{"*.log"})
	var want []byte
	var obj bytes.Buffer
	var starts []int64
	for i := 0; i < 6; i++ {
		starts = append(starts, int64(len(want)))
		chunk := bytes.Repeat([]byte(fmt.Sprintf("line %d of publication %d\n", i*7, i)), 12000)
		want = append(want, chunk...)
		obj.Write(compress.Gzip.AppendMember(nil, chunk))
	}
	info, err := mem.Put(bg, "big.log.gz", bytes.NewReader(obj.Bytes()), int64(obj.Len()), s3store.Cond{Encoding: &s3store.Encoding{Name: "gzip", Size: int64(len(want))}})
	if err != nil {
		t.Fatal(err)
	}
	gets := mem.Stats()["GetObject"].Requests
	ctxA, cancelA := context.WithCancel(bg)
	a, err := z.Get(ctxA, "big.log", 0, 100, info.ETag) // starts the stream
	if err != nil {
		t.Fatal(err)
	}
	b, err := z.Get(bg, "big.log", starts[1], -1, info.ETag) // shares it
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(a); err != nil || !bytes.Equal(got, want[:100]) {
		t.Fatalf("first reader: %d bytes, %v", len(got), err)
	}
	cancelA()
	a.Close()
	got, err := io.ReadAll(b)
	b.Close()
	if err != nil || !bytes.Equal(got, want[starts[1]:]) {
		t.Fatalf("second reader after the first one's context ended: %d bytes, %v", len(got), err)
	}
	if n := mem.Stats()["GetObject"].Requests - gets; n != 1 {
		t.Fatalf("%d GETs for two readers of one stream, want 1", n)
	}
}

// --compress-glob takes shell patterns: `[!0-9]` negates (path.Match alone
// reads the `!` as a member), and a name under no glob stays plain.
func TestViewGlobsAreShellPatterns(t *testing.T) {
	z := New(memstore.New("b"), compress.Gzip, []string{"*.[!0-9]", "app-[]ab]"})
	for name, want := range map[string]bool{
		"access.x": true, "access.1": false, "access.!": true, "dir/access.y": true,
		"app-]": true, "app-a": true, "app-c": false, "dir/": false,
	} {
		if _, got := z.Compressed(name); got != want {
			t.Errorf("Compressed(%q) = %v, want %v", name, got, want)
		}
	}
}

// S3 has one key for the compressed file NAME and the plain file NAME.gz:
// the view shows NAME.gz that s3mount wrote only as NAME (a lookup of
// NAME.gz finds nothing, as a listing shows nothing), and Holder names
// the file a new name would take the object of.
func TestViewOneKeyOneFile(t *testing.T) {
	mem := memstore.New("b")
	z := New(mem, compress.Gzip, []string{"*.log"})
	putMarked(t, mem, "a.log.gz", "ours\n")
	putMarked(t, mem, "r.log.1.gz", "rotated\n") // access.log.1's object after a rename
	mem.PutObject("p.log.gz", []byte("a plain gzip someone uploaded"))

	for _, name := range []string{"a.log.gz", "r.log.1.gz"} {
		if info, err := z.Head(bg, name); !errors.Is(err, s3store.ErrNotFound) {
			t.Errorf("Head(%q) = %+v, %v; want not found (it is the file %s)", name, info, err, strings.TrimSuffix(name, ".gz"))
		}
	}
	if info, err := z.Head(bg, "r.log.1"); err != nil || info.Size != int64(len("rotated\n")) {
		t.Fatalf("Head(r.log.1) = %+v, %v", info, err)
	}
	if info, err := z.Head(bg, "p.log.gz"); err != nil || info.Encoding != nil {
		t.Fatalf("Head of an unmarked p.log.gz = %+v, %v; want the plain object", info, err)
	}

	for _, c := range []struct {
		key        string
		compressed bool
		want       string
	}{
		{"a.log.gz", false, "a.log"},     // plain NAME.gz over the compressed a.log
		{"r.log.1.gz", false, "r.log.1"}, // logrotate's compress of a rotated log
		{"p.log", true, "p.log.gz"},      // a compressed p.log over the plain p.log.gz
		{"a.log", true, ""},              // its own object
		{"new.log", true, ""},
		{"p.log.gz", false, ""}, // a plain object is its own file
		{"x.txt", false, ""},
	} {
		before := mem.Stats().Total()
		got, err := z.Holder(bg, c.key, c.compressed)
		if err != nil || got != c.want {
			t.Errorf("Holder(%q, %v) = %q, %v; want %q", c.key, c.compressed, got, err, c.want)
		}
		if c.key == "x.txt" && mem.Stats().Total() != before {
			t.Errorf("Holder of a plain name without the codec's extension sent a request")
		}
	}
}
