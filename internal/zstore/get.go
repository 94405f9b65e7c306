package zstore

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
)

// Get reads uncompressed [off, off+n) of a compressed file (n < 0: to the
// end), a whole member at a time. Members are decompressed once, in order,
// by a stream shared by every reader of the object version (one GET from
// the last member boundary known), and kept for a while (members.go): the
// read-ahead's parallel ranged reads of a sequential reader wait for the
// stream to reach them instead of each decompressing from the start.
// ifMatch pins the object's version as for a plain Get.
func (z *Store) Get(ctx context.Context, key string, off, n int64, ifMatch string) (io.ReadCloser, error) {
	obj, comp := z.Compressed(key)
	if !comp {
		rc, err := z.Store.Get(ctx, key, off, n, ifMatch)
		if !errors.Is(err, s3store.ErrNotFound) || strings.HasSuffix(key, "/") {
			return rc, err
		}
		// Stored compressed since this view learned it plain (another
		// host deleted the plain object and wrote the file anew)?
		info, herr := z.headObject(ctx, key, key+z.codec.Ext())
		if herr != nil || !z.ours(info) {
			return nil, err
		}
		z.learn(key, true)
		return z.Get(ctx, key, off, n, ifMatch)
	}
	etag := ifMatch
	if etag == "" {
		info, err := z.Head(ctx, key)
		if err != nil {
			return nil, err
		}
		if _, still := z.Compressed(key); !still {
			return z.Store.Get(ctx, key, off, n, ifMatch)
		}
		etag = info.ETag
	}
	r := &memberReader{z: z, ctx: ctx, s: z.stream(ctx, key, obj, etag), off: off, end: -1}
	if n >= 0 {
		r.end = off + n
	}
	// The first member now: a changed or missing object is the Get's error.
	if err := r.fill(); err != nil && err != io.EOF {
		r.Close()
		if errors.Is(err, s3store.ErrNotFound) {
			// A plain object under a compressed name (written before
			// --compress): read it as it is.
			if prc, perr := z.Store.Get(ctx, key, off, n, ifMatch); perr == nil {
				z.learn(key, false)
				return prc, nil
			}
		}
		return nil, err
	}
	return r, nil
}

// stream is the decompression of one object version shared by its
// readers; mu is held while it decompresses a member.
type stream struct {
	z              *Store
	key, obj, etag string
	users          int // readers holding it (Store.mu)
	// ctx is the stream's own: its GET outlives the reader that started
	// it (the read-ahead cancels a part's context once the part is in,
	// which cut the GET under every other reader: each restarted it).
	// Cancelled when the last reader lets go.
	ctx    context.Context
	cancel context.CancelFunc

	mu   sync.Mutex
	body io.ReadCloser
	zr   *compress.Reader
	next compress.Boundary // where zr's next member starts
	eof  bool              // zr reached the end of the object
}

type streamKey struct{ key, etag string }

// stream returns the shared stream of (key, etag), taken by one more
// reader (release gives it back).
func (z *Store) stream(ctx context.Context, key, obj, etag string) *stream {
	z.mu.Lock()
	defer z.mu.Unlock()
	k := streamKey{key, etag}
	s := z.streams[k]
	if s == nil {
		s = &stream{z: z, key: key, obj: obj, etag: etag}
		s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
		z.streams[k] = s
	}
	s.users++
	return s
}

func (s *stream) release() {
	z := s.z
	z.mu.Lock()
	s.users--
	last := s.users == 0
	if last {
		delete(z.streams, streamKey{s.key, s.etag})
	}
	z.mu.Unlock()
	if last {
		s.cancel()
		s.mu.Lock()
		if s.body != nil {
			s.body.Close()
			s.body, s.zr = nil, nil
		}
		s.mu.Unlock()
	}
}

// advance decompresses the stream's next member toward off (cached), or
// reports io.EOF when off is past the object's end. A stream positioned
// past off, or behind a closer known boundary, starts again from the
// boundary nearest off.
func (s *stream) advance(ctx context.Context, off int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.z
	at := z.idx.Nearest(s.key, s.etag, off)
	if data, ok := z.members.get(s.key, s.etag, at.Comp); ok && at.Raw+int64(len(data)) > off {
		return nil // another reader got it meanwhile: look again
	}
	if s.zr == nil || s.next.Raw > off || s.next.Raw < at.Raw || (s.eof && s.next.Raw <= off && at.Raw < s.next.Raw) {
		if s.body != nil {
			s.body.Close()
			s.body, s.zr = nil, nil
		}
		if err := ctx.Err(); err != nil {
			return err // the asking reader gave up
		}
		body, err := z.Store.Get(s.ctx, s.obj, at.Comp, -1, s.etag)
		if err != nil {
			return err
		}
		s.body, s.next, s.eof = body, at, false
		s.zr = compress.NewReader(z.codec, body, at)
		s.zr.OnBoundary = func(b compress.Boundary) { z.idx.Add(s.key, s.etag, b) }
	}
	if s.eof {
		return io.EOF
	}
	start, data, err := s.zr.Member(nil)
	if err == io.EOF {
		s.eof = true
		return io.EOF
	}
	if err != nil {
		s.body.Close()
		s.body, s.zr = nil, nil
		return err
	}
	s.next = compress.Boundary{Comp: -1, Raw: start.Raw + int64(len(data))}
	z.members.put(s.key, s.etag, start.Comp, data)
	return nil
}

// memberReader serves [off, end) from whole members.
type memberReader struct {
	z        *Store
	ctx      context.Context
	s        *stream
	off, end int64 // end < 0: to the end of the object
	cur      []byte
	curAt    int64 // uncompressed offset of cur[0]
}

// fill makes cur hold the member with r.off in it.
func (r *memberReader) fill() error {
	for {
		if r.off >= r.curAt && r.off < r.curAt+int64(len(r.cur)) {
			return nil
		}
		at := r.z.idx.Nearest(r.s.key, r.s.etag, r.off)
		if data, ok := r.z.members.get(r.s.key, r.s.etag, at.Comp); ok {
			if at.Raw+int64(len(data)) > r.off {
				r.cur, r.curAt = data, at.Raw
				return nil
			}
		}
		if err := r.s.advance(r.ctx, r.off); err != nil {
			return err
		}
	}
}

func (r *memberReader) Read(p []byte) (int, error) {
	if r.end >= 0 && r.off >= r.end {
		return 0, io.EOF
	}
	if err := r.fill(); err != nil {
		return 0, err
	}
	q := r.cur[r.off-r.curAt:]
	if r.end >= 0 && int64(len(q)) > r.end-r.off {
		q = q[:r.end-r.off]
	}
	n := copy(p, q)
	r.off += int64(n)
	return n, nil
}

func (r *memberReader) Close() error {
	if r.s != nil {
		r.s.release()
		r.s = nil
	}
	return nil
}
