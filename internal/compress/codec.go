// Package compress encodes a log's bytes as a series of complete gzip
// members (RFC 1952 allows any number) or zstd frames, and reads such a
// series back from a known member boundary. Each publication of a
// compressed log appends members, so the object is a valid stream after
// every publication and any offset a member starts at is a place to start
// decompressing from. The codecs are klauspost/compress's.
package compress

import (
	"bytes"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Codec is a compression format: "gzip" or "zstd".
type Codec string

const (
	Gzip Codec = "gzip"
	Zstd Codec = "zstd"
)

// Parse returns the codec named s ("" and "none" give "", no codec).
func Parse(s string) (Codec, error) {
	switch s {
	case "", "none":
		return "", nil
	case "gzip", "gz":
		return Gzip, nil
	case "zstd", "zst":
		return Zstd, nil
	}
	return "", fmt.Errorf("unknown compression %q (gzip or zstd)", s)
}

// Ext is the suffix the codec's objects carry: ".gz" or ".zst".
func (c Codec) Ext() string {
	if c == Zstd {
		return ".zst"
	}
	return ".gz"
}

// Twin is the other name whose file would be stored under the same S3
// object as key's (S3 has one key for both): the plain file NAME.gz's
// object is the compressed file NAME's. For a compressed key NAME it is
// NAME.gz; for a plain key NAME.gz it is NAME. ok false: a plain key that
// is no compressed file's object (it does not end in the extension, or
// its base name is the extension alone: ".gz" is nobody's NAME.gz).
func (c Codec) Twin(key string, compressed bool) (other string, ok bool) {
	ext := c.Ext()
	if compressed {
		return key + ext, true
	}
	if !strings.HasSuffix(key, ext) || path.Base(key) == ext {
		return "", false
	}
	return strings.TrimSuffix(key, ext), true
}

// MemberSize is the most uncompressed bytes one member holds: a read at
// an offset decompresses at most about this much before its first byte.
const MemberSize = 4 << 20

var (
	gzPool = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression)
		return w
	}}
	zEncOnce sync.Once
	zEnc     *zstd.Encoder
	zDecOnce sync.Once
	zDec     *zstd.Decoder
)

func zstdEncoder() *zstd.Encoder {
	zEncOnce.Do(func() {
		zEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true))
	})
	return zEnc
}

func zstdDecoder() *zstd.Decoder {
	zDecOnce.Do(func() {
		zDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))
	})
	return zDec
}

// AppendMember appends one complete member (gzip) or frame (zstd) holding
// p to dst. An empty p still gives a member: an empty object is not a
// valid stream for gzip -t.
func (c Codec) AppendMember(dst, p []byte) []byte {
	if c == Zstd {
		return zstdEncoder().EncodeAll(p, dst)
	}
	buf := bytes.NewBuffer(dst)
	w := gzPool.Get().(*gzip.Writer)
	w.Reset(buf)
	_, _ = w.Write(p) // a bytes.Buffer does not fail
	_ = w.Close()
	w.Reset(io.Discard)
	gzPool.Put(w)
	return buf.Bytes()
}

// Boundary is a place where a member starts: Comp in the compressed
// stream, Raw in the uncompressed bytes.
type Boundary struct {
	Comp, Raw int64
}

// Encode compresses [off, off+n) of src into members of at most
// MemberSize bytes each, written to w. It returns the boundary of each
// member relative to the start of what it wrote (the first is {0, 0}) and
// how many compressed bytes it wrote.
func (c Codec) Encode(w io.Writer, src io.ReaderAt, off, n int64) ([]Boundary, int64, error) {
	var bs []Boundary
	var comp int64
	raw := make([]byte, min(n, MemberSize))
	var out []byte
	for done := int64(0); done < n || len(bs) == 0; {
		k := min(n-done, MemberSize)
		if _, err := src.ReadAt(raw[:k], off+done); err != nil && !(err == io.EOF && k == 0) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, 0, err
		}
		bs = append(bs, Boundary{Comp: comp, Raw: done})
		out = c.AppendMember(out[:0], raw[:k])
		m, err := w.Write(out)
		comp += int64(m)
		if err != nil {
			return nil, comp, err
		}
		done += k
	}
	return bs, comp, nil
}
