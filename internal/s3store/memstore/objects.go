package memstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/s3mount/s3mount/internal/s3store"
)

// Head implements s3store.Store.
func (s *Store) Head(ctx context.Context, key string) (s3store.ObjectInfo, error) {
	var info s3store.ObjectInfo
	err := s.do(ctx, Call{Op: "HeadObject", Key: key}, 0, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		o := s.objects[key]
		if o == nil {
			// HEAD answers carry no body, so no code: the SDK says NotFound.
			return apiErr("HeadObject", key, "NotFound", 404, s3store.ErrNotFound, "Not Found")
		}
		info = o.info(key)
		return nil
	})
	return info, err
}

func (o *object) info(key string) s3store.ObjectInfo {
	return s3store.ObjectInfo{Key: key, Size: int64(len(o.data)), ETag: o.etag, LastModified: o.modified, Tag: o.tag, Attrs: o.attrsCopy(), Encoding: o.encCopy()}
}

// Get implements s3store.Store. A range starting at or past the end (and
// any range of an empty object) is refused as S3 does: 416 InvalidRange,
// not ErrNotFound. A range running past the end returns what exists.
func (s *Store) Get(ctx context.Context, key string, off, n int64, ifMatch string) (io.ReadCloser, error) {
	if n == 0 {
		return http.NoBody, nil // the real store sends no request
	}
	var body []byte
	err := s.do(ctx, Call{Op: "GetObject", Key: key}, 0, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		o := s.objects[key]
		if o == nil {
			return noSuchKey("GetObject", key)
		}
		if ifMatch != "" && ifMatch != o.etag {
			return preconditionFailed("GetObject", key)
		}
		size := int64(len(o.data))
		ranged := n > 0 || off > 0
		if !ranged {
			body = o.data
			return nil
		}
		if off < 0 || off >= size {
			return apiErr("GetObject", key, "InvalidRange", 416, nil,
				fmt.Sprintf("The requested range is not satisfiable (offset %d, object size %d)", off, size))
		}
		end := size
		if n > 0 && off+n < size {
			end = off + n
		}
		body = o.data[off:end]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &countingBody{Reader: bytes.NewReader(body), s: s, ctx: ctx}, nil
}

// countingBody counts GetObject's BytesIn as the caller reads, like the
// real store, and fails once the request's context is done, as an HTTP
// response body does.
type countingBody struct {
	*bytes.Reader
	s   *Store
	ctx context.Context
}

func (b *countingBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := b.Reader.Read(p)
	if n > 0 {
		b.s.count("GetObject", func(o *s3store.OpStats) { o.BytesIn += int64(n) })
	}
	return n, err
}

func (b *countingBody) Close() error { return nil }

// Put implements s3store.Store. The body is read from its current position;
// fewer or more than size bytes is an error, as the SDK's would be.
func (s *Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, c s3store.Cond) (s3store.ObjectInfo, error) {
	data, rerr := readBody(body, size)
	var info s3store.ObjectInfo
	err := s.do(ctx, Call{Op: "PutObject", Key: key}, size, func() error {
		if rerr != nil {
			return badRequest("PutObject", key, "IncompleteBody", rerr.Error())
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.checkCond("PutObject", key, key, c); err != nil {
			return err
		}
		o := s.put(key, data, 1, false, s3store.Cond{Tag: c.Tag, Attrs: c.Attrs, Encoding: c.Encoding})
		info = s3store.ObjectInfo{Key: key, Size: size, ETag: o.etag}
		return nil
	})
	return info, err
}

// readBody reads exactly size bytes.
func readBody(r io.Reader, size int64) ([]byte, error) {
	if size < 0 || size > s3store.MaxPutSize {
		return nil, fmt.Errorf("size %d out of range", size)
	}
	data := make([]byte, size)
	if n, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("body has %d bytes, Content-Length %d", n, size)
	}
	if n, _ := r.Read(make([]byte, 1)); n > 0 {
		return nil, fmt.Errorf("body has more than Content-Length %d bytes", size)
	}
	return data, nil
}

// checkCond evaluates a conditional write's headers against key's current
// version. If-Match on a missing key is 404 NoSuchKey, as AWS documents it.
// label is the key as errors name it. Callers hold s.mu.
func (s *Store) checkCond(op, key, label string, c s3store.Cond) error {
	o := s.objects[key]
	if c.IfNoneMatch && o != nil {
		return preconditionFailed(op, label)
	}
	if c.IfMatch != "" {
		if o == nil {
			return noSuchKey(op, label)
		}
		if o.etag != c.IfMatch {
			return preconditionFailed(op, label)
		}
	}
	return nil
}

// Copy implements s3store.Store: the destination gets a new ETag, one part
// on a directory bucket, and c.Tag, or else the source's tag (none on a
// copy onto itself, whose metadata S3 only replaces).
func (s *Store) Copy(ctx context.Context, srcKey, srcETag, dstKey string, c s3store.Cond) (s3store.ObjectInfo, error) {
	var info s3store.ObjectInfo
	err := s.do(ctx, Call{Op: "CopyObject", Key: dstKey, Src: srcKey}, 0, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		what := srcKey + " -> " + dstKey
		src := s.objects[srcKey]
		if src == nil {
			return noSuchKey("CopyObject", what)
		}
		if srcETag != "" && srcETag != src.etag {
			return preconditionFailed("CopyObject", what)
		}
		if len(src.data) > s3store.MaxCopySize {
			return badRequest("CopyObject", what, "InvalidRequest", "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
		}
		if err := s.checkCond("CopyObject", dstKey, what, c); err != nil {
			return err
		}
		// Metadata replaced when the copy sets any, else copied (a copy
		// onto itself replaces it with none).
		meta := s3store.Cond{Tag: c.Tag, Attrs: c.Attrs, Encoding: c.Encoding}
		if c.Tag == "" && c.Attrs == nil && c.Encoding == nil && srcKey != dstKey {
			meta = s3store.Cond{Tag: src.tag, Attrs: src.attrs, Encoding: src.enc}
		}
		o := s.put(dstKey, src.data, 1, false, meta)
		info = s3store.ObjectInfo{Key: dstKey, Size: -1, ETag: o.etag, LastModified: o.modified}
		return nil
	})
	return info, err
}

// DeleteIf implements s3store.Store: 412 when the object is at another
// ETag, 404 when there is none (as S3 answers an If-Match delete).
func (s *Store) DeleteIf(ctx context.Context, key, etag string) error {
	return s.do(ctx, Call{Op: "DeleteObject", Key: key}, 0, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		o := s.objects[key]
		switch {
		case o == nil:
			return noSuchKey("DeleteObject", key)
		case o.etag != etag:
			return preconditionFailed("DeleteObject", key)
		}
		delete(s.objects, key)
		s.sorted = nil
		return nil
	})
}

// Delete implements s3store.Store: a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.do(ctx, Call{Op: "DeleteObject", Key: key}, 0, func() error {
		s.mu.Lock()
		delete(s.objects, key)
		s.sorted = nil
		s.mu.Unlock()
		return nil
	})
}
