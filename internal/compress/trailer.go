package compress

import (
	"bytes"
	"encoding/binary"
)

// A trailer ends each publication of a compressed log on a directory
// bucket (S3 Express One Zone), where an append cannot change the object's
// metadata: the mark cannot carry the uncompressed size, so the object's
// last bytes do. A trailer is itself part of the stream, holding no bytes:
// for gzip an empty member whose header's extra field (FEXTRA, RFC 1952
// 2.3.1.1) holds the record; for zstd a skippable frame holding it. gzip,
// zcat, zstd and every library skip it. Its length is fixed per codec, so
// one ranged GET of the object's last TrailerSize bytes reads it.
type Trailer struct {
	// Raw is the uncompressed size of the object that ends with it.
	Raw int64
	// Pub is where the publication the trailer ends began: its first
	// member's boundary (a place to start reading its bytes from).
	Pub Boundary
}

// trailerMagic opens the record: the format's name and version.
var trailerMagic = []byte("s3mount1")

// trailerRecord is the record's length: magic, Raw, Pub.Comp, Pub.Raw.
const trailerRecord = 8 + 3*8

func (t Trailer) record() []byte {
	b := append([]byte(nil), trailerMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(t.Raw))
	b = binary.LittleEndian.AppendUint64(b, uint64(t.Pub.Comp))
	return binary.LittleEndian.AppendUint64(b, uint64(t.Pub.Raw))
}

func parseRecord(b []byte) (Trailer, bool) {
	if len(b) != trailerRecord || !bytes.HasPrefix(b, trailerMagic) {
		return Trailer{}, false
	}
	b = b[len(trailerMagic):]
	t := Trailer{Raw: int64(binary.LittleEndian.Uint64(b)),
		Pub: Boundary{Comp: int64(binary.LittleEndian.Uint64(b[8:])), Raw: int64(binary.LittleEndian.Uint64(b[16:]))}}
	if t.Raw < 0 || t.Pub.Comp < 0 || t.Pub.Raw < 0 || t.Pub.Raw > t.Raw {
		return Trailer{}, false
	}
	return t, true
}

// The gzip trailer: a member header with FEXTRA set (mtime 0, no extra
// flags, OS unknown), the extra field's one subfield 'S','3', then the
// deflate stream of no bytes (one final fixed-Huffman block holding only
// its end code: 0x03 0x00), CRC-32 and length of nothing (zeros).
var (
	gzTrailerHead = []byte{0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, 0, 0xff,
		byte(4 + trailerRecord), 0, 'S', '3', byte(trailerRecord), 0}
	gzTrailerTail = []byte{0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}
)

// The zstd trailer: a skippable frame (magic 0x184D2A5E, then the
// record's length) holding the record.
var zstdTrailerHead = []byte{0x5e, 0x2a, 0x4d, 0x18, byte(trailerRecord), 0, 0, 0}

// TrailerSize is the length of the codec's trailer.
func (c Codec) TrailerSize() int {
	if c == Zstd {
		return len(zstdTrailerHead) + trailerRecord
	}
	return len(gzTrailerHead) + trailerRecord + len(gzTrailerTail)
}

// AppendTrailer appends t's trailer to dst.
func (c Codec) AppendTrailer(dst []byte, t Trailer) []byte {
	if c == Zstd {
		return append(append(dst, zstdTrailerHead...), t.record()...)
	}
	dst = append(append(dst, gzTrailerHead...), t.record()...)
	return append(dst, gzTrailerTail...)
}

// ParseTrailer reads the trailer b (an object's last TrailerSize bytes);
// ok false when b is not one.
func (c Codec) ParseTrailer(b []byte) (Trailer, bool) {
	if len(b) != c.TrailerSize() {
		return Trailer{}, false
	}
	head, tail := gzTrailerHead, gzTrailerTail
	if c == Zstd {
		head, tail = zstdTrailerHead, nil
	}
	rec := b[len(head) : len(b)-len(tail)]
	if !bytes.Equal(b[:len(head)], head) || !bytes.Equal(b[len(b)-len(tail):], tail) {
		return Trailer{}, false
	}
	return parseRecord(rec)
}
