package zstore

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
)

// Objects on directory buckets (S3 Express) carry their uncompressed size
// in a trailer at their end, not in the mark (compress.Trailer): appends
// cannot change metadata. Reading it costs one ranged GET of the last
// bytes, once per object version.

type trailerOf struct {
	etag string
	t    compress.Trailer
}

// withTrailer fills in the uncompressed size of raw (a HEAD of key's
// object) from its trailer when its mark says the size is there, and
// remembers where its last publication began. A marked object whose last
// bytes are no trailer is not ours: it comes back without its mark.
func (z *Store) withTrailer(ctx context.Context, key string, raw s3store.ObjectInfo) (s3store.ObjectInfo, error) {
	if raw.Encoding == nil || !raw.Encoding.Trailer || !z.ours(raw) {
		return raw, nil
	}
	t, ok, err := z.trailer(ctx, raw)
	if err != nil {
		return raw, err
	}
	e := *raw.Encoding
	raw.Encoding = &e
	if !ok {
		raw.Encoding = nil
		return raw, nil
	}
	raw.Encoding.Size = t.Raw
	z.idx.Add(key, raw.ETag, t.Pub)
	return raw, nil
}

// trailer reads the trailer of raw's object at its ETag; ok false when
// its last bytes are not one.
func (z *Store) trailer(ctx context.Context, raw s3store.ObjectInfo) (compress.Trailer, bool, error) {
	z.mu.Lock()
	c, known := z.trailers[raw.Key]
	z.mu.Unlock()
	if known && c.etag == raw.ETag {
		return c.t, true, nil
	}
	n := int64(z.codec.TrailerSize())
	if raw.Size < n {
		return compress.Trailer{}, false, nil
	}
	rc, err := z.Store.Get(ctx, raw.Key, raw.Size-n, n, raw.ETag)
	if err != nil {
		return compress.Trailer{}, false, fmt.Errorf("reading the size of %s from its last bytes: %w", raw.Key, err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return compress.Trailer{}, false, err
	}
	t, ok := z.codec.ParseTrailer(b)
	if !ok {
		return t, false, nil
	}
	z.mu.Lock()
	if len(z.trailers) > 1<<16 {
		z.trailers = map[string]trailerOf{}
	}
	z.trailers[raw.Key] = trailerOf{raw.ETag, t}
	z.mu.Unlock()
	return t, true, nil
}

// headObject is a raw HEAD of key's object obj with the size from its
// trailer filled in. The object may change between the HEAD and the GET
// of its trailer (pinned to the HEAD's ETag): then it is asked again.
func (z *Store) headObject(ctx context.Context, key, obj string) (s3store.ObjectInfo, error) {
	for i := 0; ; i++ {
		info, err := z.Store.Head(ctx, obj)
		if err != nil {
			return info, err
		}
		info, err = z.withTrailer(ctx, key, info)
		if err == nil || i == 2 || !(errors.Is(err, s3store.ErrPrecondition) || errors.Is(err, s3store.ErrNotFound)) {
			return info, err
		}
	}
}
