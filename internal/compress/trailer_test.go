package compress

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// withTrailers is an object as Express publications write it: each
// publication's members, then a trailer with the size so far and where the
// publication began.
func withTrailers(t *testing.T, c Codec, chunks [][]byte) ([]byte, []Trailer) {
	var obj bytes.Buffer
	var ts []Trailer
	var raw int64
	for _, ch := range chunks {
		pub := Boundary{Comp: int64(obj.Len()), Raw: raw}
		if _, _, err := c.Encode(&obj, bytes.NewReader(ch), 0, int64(len(ch))); err != nil {
			t.Fatal(err)
		}
		raw += int64(len(ch))
		tr := Trailer{Raw: raw, Pub: pub}
		obj.Write(c.AppendTrailer(nil, tr))
		ts = append(ts, tr)
	}
	return obj.Bytes(), ts
}

// A series of publications each ended by a trailer is a valid stream for
// gzip -t / zcat, zstd -t / zstdcat, Python's gzip, Go's compress/gzip and
// our reader; the last TrailerSize bytes after each publication parse
// back to its trailer, and the bytes before a trailer never do.
func TestTrailerInTheStream(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	chunks := [][]byte{logLines(rng, 3000), {}, logLines(rng, 70000), logLines(rng, 1)}
	want := bytes.Join(chunks, nil)
	for _, c := range []Codec{Gzip, Zstd} {
		t.Run(string(c), func(t *testing.T) {
			obj, ts := withTrailers(t, c, chunks)
			tr, ok := c.ParseTrailer(obj[len(obj)-c.TrailerSize():])
			if !ok || tr != ts[len(ts)-1] {
				t.Fatalf("last trailer %+v %v, want %+v", tr, ok, ts[len(ts)-1])
			}
			if _, ok := c.ParseTrailer(obj[len(obj)-c.TrailerSize()-1 : len(obj)-1]); ok {
				t.Fatal("bytes that are not a trailer parsed as one")
			}
			if _, ok := c.ParseTrailer(c.AppendMember(nil, nil)[:0]); ok {
				t.Fatal("nothing parsed as a trailer")
			}
			// From each publication's start the rest decodes.
			for _, tr := range ts {
				got, _, err := decodeFrom(t, c, obj, tr.Pub)
				if err != nil || !bytes.Equal(got, want[tr.Pub.Raw:]) {
					t.Fatalf("from %+v: %d bytes, %v", tr.Pub, len(got), err)
				}
			}
			p := filepath.Join(t.TempDir(), "x"+c.Ext())
			if err := os.WriteFile(p, obj, 0o600); err != nil {
				t.Fatal(err)
			}
			tool, cat := "gzip", "zcat"
			if c == Zstd {
				tool, cat = "zstd", "zstdcat"
			}
			if out, err := exec.Command(tool, "-t", p).CombinedOutput(); err != nil {
				t.Fatalf("%s -t: %v\n%s", tool, err, out)
			}
			if out, err := exec.Command(cat, p).Output(); err != nil || !bytes.Equal(out, want) {
				t.Fatalf("%s: %d bytes, want %d, %v", cat, len(out), len(want), err)
			}
			if c == Zstd {
				return
			}
			py := "import gzip,sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())"
			if out, err := exec.Command("python3", "-c", py, p).Output(); err != nil || !bytes.Equal(out, want) {
				t.Fatalf("python3 gzip: %d bytes, want %d, %v", len(out), len(want), err)
			}
			zr, err := stdgzip.NewReader(bytes.NewReader(obj))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("compress/gzip: %d bytes, want %d, %v", len(got), len(want), err)
			}
		})
	}
}
