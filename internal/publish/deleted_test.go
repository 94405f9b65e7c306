package publish

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/testenv"
)

// deleteBefore is a store on which another host deletes the object just
// before the first call of one operation reaches S3.
type deleteBefore struct {
	s3store.Store
	op   string
	done bool
}

func (d *deleteBefore) before(ctx context.Context, op, key string) {
	if op == d.op && !d.done {
		d.done = true
		if err := d.Store.Delete(ctx, key); err != nil {
			panic(err)
		}
	}
}

func (d *deleteBefore) Get(ctx context.Context, key string, off, n int64, ifMatch string) (io.ReadCloser, error) {
	d.before(ctx, "GetObject", key)
	return d.Store.Get(ctx, key, off, n, ifMatch)
}

func (d *deleteBefore) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, c s3store.Cond) (s3store.ObjectInfo, error) {
	d.before(ctx, "PutObject", key)
	return d.Store.Put(ctx, key, body, size, c)
}

func (d *deleteBefore) UploadPartCopy(ctx context.Context, key, id string, num int32, src, etag string, off, n int64) (s3store.Part, error) {
	d.before(ctx, "UploadPartCopy", src)
	return d.Store.UploadPartCopy(ctx, key, id, num, src, etag, off, n)
}

func (d *deleteBefore) CompleteMultipart(ctx context.Context, key, id string, parts []s3store.Part, c s3store.Cond) (s3store.ObjectInfo, error) {
	d.before(ctx, "CompleteMultipartUpload", key)
	return d.Store.CompleteMultipart(ctx, key, id, parts, c)
}

// An object deleted by someone else while we publish onto it is a
// conflict (the caller rebases onto what S3 holds now), whichever request
// meets the NotFound; a plain error would be retried for ever.
func TestPublishOntoDeletedObjectIsConflict(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	ctx := context.Background()
	small := bytesSource("old line\nnew line\n")
	big := bytesSource(bytes.Repeat([]byte("0123456789abcde\n"), 6<<16)) // 6 MiB: multipart

	// put publishes the first part of src as the base we then extend.
	put := func(key string, src bytesSource, n int64) Base {
		t.Helper()
		nb, err := Whole(ctx, srv.Store(t, b), key, src, n, Base{}, Config{})
		if err != nil {
			t.Fatal(err)
		}
		return nb
	}
	cases := []struct {
		name, op string
		run      func(st s3store.Store, key string) error
	}{
		{"compose: UploadPartCopy of a deleted source", "UploadPartCopy", func(st s3store.Store, key string) error {
			base := put(key, small, 9)
			_, err := Append(ctx, st, key, base, small, 9, int64(len(small)), Config{ComposeMin: 1})
			return err
		}},
		{"small re-put: GET of the deleted old bytes", "GetObject", func(st s3store.Store, key string) error {
			base := put(key, small, 9)
			_, err := Append(ctx, st, key, base, small, 9, int64(len(small)), Config{})
			return err
		}},
		{"small re-put: PUT If-Match on a deleted key", "PutObject", func(st s3store.Store, key string) error {
			base := put(key, small, 9)
			_, err := Append(ctx, st, key, base, small, 0, int64(len(small)), Config{})
			return err
		}},
		{"multipart: Complete If-Match on a deleted key", "CompleteMultipartUpload", func(st s3store.Store, key string) error {
			base := put(key, big, 10)
			_, err := Whole(ctx, st, key, big, int64(len(big)), base, Config{PartSize: s3store.MinPartSize})
			return err
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := "deleted-" + string(rune('a'+i))
			st := &deleteBefore{Store: srv.Store(t, b), op: c.op}
			err := c.run(st, key)
			if !st.done {
				t.Fatalf("no %s was made", c.op)
			}
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("got %v, want ErrConflict", err)
			}
			if srv.Exists(t, b, key) {
				t.Fatal("the deleted object came back")
			}
		})
	}
}
