package zstore

import (
	"bytes"
	"testing"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// putTrailed stores s as a directory bucket's publication does: members,
// then a trailer with the size; marked as such.
func putTrailed(t *testing.T, st s3store.Store, c compress.Codec, obj, s string) {
	t.Helper()
	b := c.AppendMember(nil, []byte(s))
	b = c.AppendTrailer(b, compress.Trailer{Raw: int64(len(s))})
	if _, err := st.Put(bg, obj, bytes.NewReader(b), int64(len(b)), s3store.Cond{Encoding: &s3store.Encoding{Name: string(c), Trailer: true}}); err != nil {
		t.Fatal(err)
	}
}

// An object marked "size in the trailer" is listed and HEADed at the size
// its trailer holds (its last bytes read once per ETag).
func TestViewSizeFromTrailer(t *testing.T) {
	for _, c := range []compress.Codec{compress.Gzip, compress.Zstd} {
		mem := memstore.NewExpress("b--use1-az4--x-s3")
		z := New(mem, c, []string{"*.log"})
		putTrailed(t, mem, c, "d/a.log"+c.Ext(), "twelve bytes")
		page, err := z.List(bg, "d/", "/", "", 0)
		if err != nil || len(page.Objects) != 1 || page.Objects[0].Key != "d/a.log" || page.Objects[0].Size != 12 {
			t.Fatalf("%s: listing %+v, %v", c, page.Objects, err)
		}
		gets := mem.Stats()["GetObject"].Requests
		h, err := z.Head(bg, "d/a.log")
		if err != nil || h.Size != 12 {
			t.Fatalf("%s: head %+v, %v", c, h, err)
		}
		if n := mem.Stats()["GetObject"].Requests - gets; n != 0 {
			t.Fatalf("%s: the trailer of a version already read was read again (%d GETs)", c, n)
		}
		if s := readAll(t, z, "d/a.log"); s != "twelve bytes" {
			t.Fatalf("%s: read %q", c, s)
		}
	}
}

// RenameObject on a directory bucket moves a compressed file's object to
// the new name's object; a plain file renamed over a compressed one
// removes the compressed object it replaces.
func TestViewRenameObject(t *testing.T) {
	mem := memstore.NewExpress("b--use1-az4--x-s3")
	z := New(mem, compress.Gzip, []string{"*.log"})
	putTrailed(t, mem, compress.Gzip, "access.log.gz", "line\n")
	info, err := z.RenameObject(bg, mem, "access.log", "access.log.1")
	if err != nil || info.Key != "access.log.1" || info.Size != 5 {
		t.Fatalf("rename: %+v, %v", info, err)
	}
	if keys := mem.Keys(); len(keys) != 1 || keys[0] != "access.log.1.gz" {
		t.Fatalf("keys %v", keys)
	}
	if s := readAll(t, z, "access.log.1"); s != "line\n" {
		t.Fatalf("read %q", s)
	}
	putTrailed(t, mem, compress.Gzip, "x.log.gz", "old\n")
	mem.PutObject("tmp", []byte("new\n"))
	if _, err := z.RenameObject(bg, mem, "tmp", "x.log"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := mem.Object("x.log.gz"); ok {
		t.Fatal("the replaced file's compressed object is left")
	}
	if s := readAll(t, New(mem, compress.Gzip, []string{"*.log"}), "x.log"); s != "new\n" {
		t.Fatalf("after a remount x.log reads %q", s)
	}
}

// A compressed object larger than one CopyObject takes is copied by parts
// (raw UploadPartCopy: the view refuses uncompressed multipart writes to
// it), byte for byte, with its mark.
func TestViewCopiesLargeObjectsByParts(t *testing.T) {
	defer func(v int64) { copyPartsAbove = v }(copyPartsAbove)
	copyPartsAbove = 10
	mem := memstore.New("b")
	z := New(mem, compress.Gzip, []string{"*.log"})
	putMarked(t, mem, "big.log.gz", "a line long enough to pass the lowered limit\n")
	h, err := z.Head(bg, "big.log")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := z.Copy(bg, "big.log", h.ETag, "big.log.1", s3store.Cond{Tag: "rename"}); err != nil {
		t.Fatal(err)
	}
	if n := mem.Stats()["UploadPartCopy"].Requests; n == 0 {
		t.Fatal("not copied by parts")
	}
	src, _, _ := mem.Object("big.log.gz")
	dst, _, _ := mem.Object("big.log.1.gz")
	if !bytes.Equal(src, dst) {
		t.Fatal("the copy differs")
	}
	n, err := mem.Head(bg, "big.log.1.gz")
	if err != nil || n.Encoding == nil || n.Encoding.Size != h.Size || n.Tag != "rename" {
		t.Fatalf("copy: %+v, %v", n, err)
	}
	if s := readAll(t, z, "big.log.1"); s != "a line long enough to pass the lowered limit\n" {
		t.Fatalf("read %q", s)
	}
}

// A file this view learned plain that another host has since written
// anew compressed (the plain object gone) reads from its new object.
func TestViewFollowsAFileNowCompressed(t *testing.T) {
	mem := memstore.New("b")
	z := New(mem, compress.Gzip, []string{"*.log"})
	mem.PutObject("a.log", []byte("plain\n"))
	if _, err := z.Head(bg, "a.log"); err != nil {
		t.Fatal(err)
	}
	mem.DeleteObject("a.log")
	putMarked(t, mem, "a.log.gz", "compressed now\n")
	if s := readAll(t, z, "a.log"); s != "compressed now\n" {
		t.Fatalf("read %q", s)
	}
}
