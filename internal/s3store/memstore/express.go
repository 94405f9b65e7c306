package memstore

import (
	"context"
	"fmt"
	"io"

	"github.com/s3mount/s3mount/internal/s3store"
)

func notImplemented(op, key string) error {
	return apiErr(op, key, "NotImplemented", 501, nil, "appends and RenameObject need a directory bucket (memstore.NewExpress)")
}

// AppendAt implements s3store.Express: off must be the object's size
// (InvalidWriteOffset, matching ErrPrecondition); each append adds a part,
// and the 10,001st part is TooManyParts (ErrTooManyParts). The object keeps
// its tag: an append cannot change metadata.
func (s *Store) AppendAt(ctx context.Context, key string, off int64, body io.ReadSeeker, size int64) (s3store.ObjectInfo, error) {
	const op = "PutObject"
	data, rerr := readBody(body, size)
	var info s3store.ObjectInfo
	err := s.do(ctx, Call{Op: op, Key: key, Append: true}, size, func() error {
		if !s.express {
			return notImplemented(op, key)
		}
		if rerr != nil {
			return badRequest(op, key, "IncompleteBody", rerr.Error())
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		o := s.objects[key]
		if o == nil {
			return noSuchKey(op, key)
		}
		if cur := int64(len(o.data)); off != cur {
			// errors.go does not map InvalidWriteOffset yet: the sentinel is
			// set here, as the API contract says.
			return apiErr(op, key, "InvalidWriteOffset", 400, s3store.ErrPrecondition,
				fmt.Sprintf("The write offset value that you specified does not match the current object size (offset %d, size %d)", off, cur))
		}
		if o.parts+1 > s3store.MaxParts {
			return apiErr(op, key, "TooManyParts", 400, s3store.ErrTooManyParts,
				"You have attempted to add more parts than the maximum of 10000 that are allowed for this object.")
		}
		n := s.put(key, concat(o.data, data), o.parts+1, false, s3store.Cond{Tag: o.tag, Attrs: o.attrs, Encoding: o.enc})
		info = s3store.ObjectInfo{Key: key, Size: off + size, ETag: n.etag}
		return nil
	})
	return info, err
}

// Rename implements s3store.Express: an atomic move that keeps the
// object's ETag, parts and LastModified; dst is replaced.
func (s *Store) Rename(ctx context.Context, src, dst string) error {
	const op = "RenameObject"
	return s.do(ctx, Call{Op: op, Key: dst, Src: src}, 0, func() error {
		if !s.express {
			return notImplemented(op, dst)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		o := s.objects[src]
		if o == nil {
			return noSuchKey(op, dst)
		}
		delete(s.objects, src)
		s.objects[dst] = o
		s.sorted = nil
		return nil
	})
}
