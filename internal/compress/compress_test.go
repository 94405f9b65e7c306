package compress

import (
	"bytes"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// publish appends one member per chunk, as publications do, and returns
// the object and every boundary.
func publish(t testing.TB, c Codec, chunks [][]byte) ([]byte, []Boundary) {
	var obj bytes.Buffer
	var bs []Boundary
	var raw int64
	for _, ch := range chunks {
		got, n, err := c.Encode(&obj, bytes.NewReader(ch), 0, int64(len(ch)))
		if err != nil {
			t.Fatal(err)
		}
		base := int64(obj.Len()) - n
		for _, b := range got {
			bs = append(bs, Boundary{Comp: base + b.Comp, Raw: raw + b.Raw})
		}
		raw += int64(len(ch))
	}
	return obj.Bytes(), bs
}

func decodeFrom(t testing.TB, c Codec, obj []byte, at Boundary) ([]byte, []Boundary, error) {
	var seen []Boundary
	r := NewReader(c, bytes.NewReader(obj[at.Comp:]), at)
	r.OnBoundary = func(b Boundary) { seen = append(seen, b) }
	out, err := io.ReadAll(r)
	return out, seen, err
}

func logLines(rng *rand.Rand, n int) []byte {
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString("127.0.0.1 - - [06/Dec/2026:13:00:00 +0000] \"GET /item/")
		b.WriteString(string(rune('a' + rng.Intn(26))))
		b.WriteString(" HTTP/1.1\" 200 612 \"-\" \"wrk\"\n")
	}
	return b.Bytes()[:n]
}

func TestRoundTripAndBoundaries(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, c := range []Codec{Gzip, Zstd} {
		t.Run(string(c), func(t *testing.T) {
			chunks := [][]byte{logLines(rng, 100), {}, logLines(rng, MemberSize+5000), logLines(rng, 1)}
			want := bytes.Join(chunks, nil)
			obj, bs := publish(t, c, chunks)
			if len(bs) != 5 { // the large chunk is two members
				t.Fatalf("%d boundaries, want 5: %v", len(bs), bs)
			}
			got, seen, err := decodeFrom(t, c, obj, Boundary{})
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("round trip: %d bytes, want %d, %v", len(got), len(want), err)
			}
			if len(seen) != len(bs) {
				t.Fatalf("reader saw boundaries %v, writer wrote %v", seen, bs)
			}
			for i := range bs {
				if seen[i] != bs[i] {
					t.Fatalf("boundary %d: reader %v, writer %v", i, seen[i], bs[i])
				}
			}
			// From every boundary the rest decodes.
			for _, b := range bs {
				got, _, err := decodeFrom(t, c, obj, b)
				if err != nil || !bytes.Equal(got, want[b.Raw:]) {
					t.Fatalf("from %v: %d bytes, %v", b, len(got), err)
				}
			}
			// A cut stream is an error, never short data passed as whole.
			if _, _, err := decodeFrom(t, c, obj[:len(obj)-3], Boundary{}); err == nil {
				t.Fatal("truncated stream decoded without an error")
			}
		})
	}
}

// The concatenation of members is a valid stream for the codec's own
// command-line tool (gzip -t, zstd -t) and decodes to the bytes.
func TestToolsReadSeries(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	chunks := [][]byte{logLines(rng, 3000), logLines(rng, 10), {}, logLines(rng, 70000)}
	want := bytes.Join(chunks, nil)
	for _, c := range []Codec{Gzip, Zstd} {
		tool := map[Codec]string{Gzip: "gzip", Zstd: "zstd"}[c]
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (apt package %s)", tool, tool)
		}
		obj, _ := publish(t, c, chunks)
		p := filepath.Join(t.TempDir(), "x"+c.Ext())
		if err := os.WriteFile(p, obj, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(tool, "-t", p).CombinedOutput(); err != nil {
			t.Fatalf("%s -t: %v\n%s", tool, err, out)
		}
		out, err := exec.Command(tool, "-dc", p).Output()
		if err != nil || !bytes.Equal(out, want) {
			t.Fatalf("%s -dc: %d bytes, want %d, %v", tool, len(out), len(want), err)
		}
	}
}

func TestIndexNearest(t *testing.T) {
	x := NewIndex()
	x.Add("k", "e1", Boundary{0, 0}, Boundary{50, 100}, Boundary{90, 300})
	if b := x.Nearest("k", "e1", 299); b != (Boundary{50, 100}) {
		t.Fatalf("nearest 299: %v", b)
	}
	if b := x.Nearest("k", "e2", 299); b != (Boundary{}) {
		t.Fatalf("another version must start at 0: %v", b)
	}
	x.Extend("k", "e1", "e2", Boundary{120, 400})
	if b := x.Nearest("k", "e2", 1000); b != (Boundary{120, 400}) {
		t.Fatalf("after extend: %v", b)
	}
	if b := x.Nearest("k", "e2", 350); b != (Boundary{90, 300}) {
		t.Fatalf("old boundaries carried: %v", b)
	}
	x.Extend("k", "e9", "e10", Boundary{200, 500}) // not our version: start over
	if b := x.Nearest("k", "e10", 450); b != (Boundary{}) {
		t.Fatalf("unknown base kept boundaries: %v", b)
	}
	// Empty members start where the next member does: the later one is
	// where reads start, whichever order they are seen in.
	x.Add("k", "e10", Boundary{230, 600}, Boundary{250, 600}, Boundary{240, 600})
	if b := x.Nearest("k", "e10", 700); b != (Boundary{250, 600}) {
		t.Fatalf("equal raw offsets: %v, want the last member's", b)
	}
	x.Move("k", "k2", "e10", "e11")
	if b := x.Nearest("k2", "e11", 599); b != (Boundary{200, 500}) {
		t.Fatalf("after move: %v", b)
	}
}

// FuzzRoundTrip: any split of any bytes into publications decodes back to
// the bytes, from the start and from every boundary.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), uint8(3), false)
	f.Add([]byte{}, uint8(0), true)
	f.Fuzz(func(t *testing.T, data []byte, cuts uint8, zst bool) {
		c := Gzip
		if zst {
			c = Zstd
		}
		var chunks [][]byte
		rest := data
		for i := 0; i < int(cuts%8); i++ {
			k := min(len(rest), int(cuts)*(i+1)%(len(rest)+1))
			chunks = append(chunks, rest[:k])
			rest = rest[k:]
		}
		chunks = append(chunks, rest)
		obj, bs := publish(t, c, chunks)
		for _, b := range bs {
			got, _, err := decodeFrom(t, c, obj, b)
			if err != nil || !bytes.Equal(got, data[b.Raw:]) {
				t.Fatalf("from %v: %q, %v; want %q", b, got, err, data[b.Raw:])
			}
		}
	})
}

// Member hands out whole members with their boundaries.
func TestMembers(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, c := range []Codec{Gzip, Zstd} {
		chunks := [][]byte{logLines(rng, 500), {}, logLines(rng, 7000)}
		obj, bs := publish(t, c, chunks)
		r := NewReader(c, bytes.NewReader(obj), Boundary{})
		var buf []byte
		for i, want := range chunks {
			at, b, err := r.Member(buf)
			if err != nil || at != bs[i] || !bytes.Equal(b, want) {
				t.Fatalf("%s member %d: at %v (want %v), %d bytes (want %d), %v", c, i, at, bs[i], len(b), len(want), err)
			}
			buf = b
		}
		if _, _, err := r.Member(buf); err != io.EOF {
			t.Fatalf("%s: after the last member: %v", c, err)
		}
	}
}
