package compress

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/gzip"
)

// Reader decompresses a series of members read sequentially from a
// compressed stream that starts at a member boundary. It tells OnBoundary
// where each member after the first starts, so callers can remember
// places to start later reads from.
type Reader struct {
	codec Codec
	br    *bufio.Reader
	src   *countingReader
	start Boundary
	read  int64 // compressed bytes consumed by finished members (relative)
	raw   int64 // uncompressed bytes handed out
	gz    *gzip.Reader
	cur   io.Reader // the member being read
	// Reused for every member: decompressing into a buffer grown from
	// nothing cleared and faulted in ~3× each member's size (70 % of a
	// compressed read's CPU); a member is copied out of it once.
	scratch, frame []byte
	// OnBoundary, when set, is told each member boundary the reader
	// passes (absolute offsets), including the one it started at.
	OnBoundary func(Boundary)
	err        error
}

// NewReader reads members from r, the compressed stream from the boundary
// at.
func NewReader(c Codec, r io.Reader, at Boundary) *Reader {
	src := &countingReader{r: r}
	return &Reader{codec: c, br: bufio.NewReaderSize(src, 64<<10), src: src, start: at}
}

type countingReader struct {
	r   io.Reader
	n   int64
	err error // the source's last error other than io.EOF
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// corrupt names a failed member: the source's own error (a cut
// connection, a cancelled request) as it is, otherwise ErrCorrupt.
func (z *Reader) corrupt(err error) error {
	if z.src.err != nil {
		return z.src.err
	}
	return fmt.Errorf("%w: %v", ErrCorrupt, err)
}

// ErrCorrupt: the stream is not a series of complete members.
var ErrCorrupt = errors.New("compress: corrupt stream")

func (z *Reader) Read(p []byte) (int, error) {
	for z.err == nil {
		if z.cur == nil {
			if err := z.nextMember(); err != nil {
				z.err = err
				break
			}
		}
		n, err := z.cur.Read(p)
		z.raw += int64(n)
		if err == io.EOF {
			z.cur = nil
			if z.codec == Gzip {
				// The gzip reader ends a member having consumed exactly
				// its bytes (bufio is an io.ByteReader, so flate does not
				// read ahead): the member ends where the buffer stands.
				z.read = z.consumed()
			}
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	return 0, z.err
}

// Member decompresses the next whole member and returns where it starts
// and its bytes (appended to buf[:0]); io.EOF at the clean end of the
// stream. It is not to be mixed with Read in the middle of a member.
func (z *Reader) Member(buf []byte) (Boundary, []byte, error) {
	at := Boundary{Comp: z.start.Comp + z.read, Raw: z.start.Raw + z.raw}
	if z.err != nil {
		return at, nil, z.err
	}
	if z.cur != nil {
		return at, nil, errors.New("compress: Member in the middle of a member")
	}
	if err := z.nextMember(); err != nil {
		z.err = err
		return at, nil, err
	}
	var err error
	if sr, ok := z.cur.(*sliceReader); ok {
		buf = append(buf[:0], sr.b...)
	} else {
		var n int
		n, err = z.readMember()
		buf = append(buf[:0], z.scratch[:n]...)
		z.read = z.consumed()
	}
	z.cur = nil
	z.raw += int64(len(buf))
	if err != nil {
		z.err = z.corrupt(err)
		return at, nil, z.err
	}
	if _, perr := z.br.Peek(1); perr == nil && z.OnBoundary != nil {
		// Where the next member is, known now.
		z.OnBoundary(Boundary{Comp: z.start.Comp + z.read, Raw: z.start.Raw + z.raw})
	}
	return at, buf, nil
}

// readMember decompresses the rest of the current gzip member into
// z.scratch, growing it as needed, and returns its length.
func (z *Reader) readMember() (int, error) {
	n := 0
	for {
		if n == len(z.scratch) {
			z.scratch = append(z.scratch, make([]byte, max(64<<10, len(z.scratch)))...)
		}
		k, err := z.cur.Read(z.scratch[n:])
		n += k
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// consumed is how many compressed bytes the reader took from its source.
func (z *Reader) consumed() int64 { return z.src.n - int64(z.br.Buffered()) }

// nextMember starts the next member, or returns io.EOF at a clean end.
func (z *Reader) nextMember() error {
	if _, err := z.br.Peek(1); err == io.EOF {
		return io.EOF
	}
	if z.OnBoundary != nil {
		z.OnBoundary(Boundary{Comp: z.start.Comp + z.read, Raw: z.start.Raw + z.raw})
	}
	if z.codec == Zstd {
		frame, err := readFrame(z.br, z.frame[:0])
		z.frame = frame
		z.read += int64(len(frame))
		if err != nil && z.src.err != nil {
			return z.src.err
		}
		if err != nil {
			return err
		}
		if skippable(frame) { // a trailer (trailer.go): no bytes
			z.cur = &sliceReader{}
			return nil
		}
		b, err := zstdDecoder().DecodeAll(frame, z.scratch[:0])
		if err != nil {
			return z.corrupt(err)
		}
		z.scratch = b[:0]
		z.cur = &sliceReader{b: b}
		return nil
	}
	var err error
	if z.gz == nil {
		z.gz, err = gzip.NewReader(z.br)
	} else {
		err = z.gz.Reset(z.br)
	}
	if err != nil {
		return z.corrupt(err)
	}
	z.gz.Multistream(false)
	z.cur = z.gz
	return nil
}

type sliceReader struct{ b []byte }

func (s *sliceReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

// readFrame reads one whole zstd frame (or skippable frame) by walking its
// block headers, without decompressing; it appends to f.
func readFrame(br *bufio.Reader, f []byte) ([]byte, error) {
	take := func(n int) ([]byte, error) {
		start := len(f)
		f = slices.Grow(f, n)[:start+n]
		if _, err := io.ReadFull(br, f[start:]); err != nil {
			return nil, fmt.Errorf("%w: truncated frame: %v", ErrCorrupt, err)
		}
		return f[start:], nil
	}
	m, err := take(4)
	if err != nil {
		return f, err
	}
	if skippable(m) {
		s, err := take(4)
		if err != nil {
			return f, err
		}
		_, err = take(int(binary.LittleEndian.Uint32(s)))
		return f, err
	}
	if binary.LittleEndian.Uint32(m) != 0xFD2FB528 {
		return f, fmt.Errorf("%w: not a zstd frame", ErrCorrupt)
	}
	d, err := take(1)
	if err != nil {
		return f, err
	}
	desc := d[0]
	single := desc&0x20 != 0
	hdr := [4]int{0, 1, 2, 4}[desc&3] // dictionary id
	if !single {
		hdr++ // window descriptor
	}
	switch desc >> 6 {
	case 0:
		if single {
			hdr++
		}
	case 1:
		hdr += 2
	case 2:
		hdr += 4
	case 3:
		hdr += 8
	}
	if _, err := take(hdr); err != nil {
		return f, err
	}
	for {
		b, err := take(3)
		if err != nil {
			return f, err
		}
		h := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
		size := int(h >> 3)
		if (h>>1)&3 == 1 { // RLE block: one byte
			size = 1
		}
		if size > 1<<17+16 {
			return f, fmt.Errorf("%w: block too large", ErrCorrupt)
		}
		if _, err := take(size); err != nil {
			return f, err
		}
		if h&1 != 0 {
			break
		}
	}
	if desc&4 != 0 { // content checksum
		_, err = take(4)
	}
	return f, err
}

// skippable: frame (at least its magic) is a zstd skippable frame.
func skippable(frame []byte) bool {
	return len(frame) >= 4 && binary.LittleEndian.Uint32(frame)&0xFFFFFFF0 == 0x184D2A50
}
