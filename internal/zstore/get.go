package zstore

import (
	"context"
	"errors"
	"io"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
)

// Get reads uncompressed [off, off+n) of a compressed file (n < 0: to the
// end): one GET of the object from the last member boundary known at or
// below off (the start when none is known), decompressed, the bytes
// before off skipped. Boundaries passed on the way are remembered.
// ifMatch pins the object's version as for a plain Get.
func (z *Store) Get(ctx context.Context, key string, off, n int64, ifMatch string) (io.ReadCloser, error) {
	obj, comp := z.Compressed(key)
	if !comp {
		return z.Store.Get(ctx, key, off, n, ifMatch)
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
	at := z.idx.Nearest(key, etag, off)
	rc, err := z.Store.Get(ctx, obj, at.Comp, -1, etag)
	if errors.Is(err, s3store.ErrNotFound) {
		// A plain object under a compressed name (written before
		// --compress): read it as it is.
		if prc, perr := z.Store.Get(ctx, key, off, n, ifMatch); perr == nil {
			z.learn(key, false)
			return prc, nil
		}
	}
	if err != nil {
		return nil, err
	}
	zr := compress.NewReader(z.codec, rc, at)
	zr.OnBoundary = func(b compress.Boundary) { z.idx.Add(key, etag, b) }
	if _, err := io.CopyN(io.Discard, zr, off-at.Raw); err != nil {
		rc.Close()
		if err == io.EOF {
			return io.NopCloser(eofReader{}), nil
		}
		return nil, err
	}
	var r io.Reader = zr
	if n >= 0 {
		r = io.LimitReader(zr, n)
	}
	return readCloser{Reader: r, Closer: rc}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
