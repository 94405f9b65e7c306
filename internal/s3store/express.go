package s3store

import (
	"context"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Express is what S3 Express One Zone directory buckets add: appends at an
// offset and a server-side rename. The local test servers have neither, so
// the calls are isolated here and the decisions that use them are tested
// in internal/publish with a recording store.
type Express interface {
	// AppendAt appends body at off, which must be the object's size
	// (PutObject with x-amz-write-offset-bytes); another writer having
	// appended first gives ErrPrecondition or ErrConflict.
	//
	// An append cannot change metadata: the object keeps the tag of the
	// write that created (or last copied) it, so Tag cannot tell whether
	// an append applied. After a lost answer the offset decides instead:
	// S3 refuses an append whose offset is not the object's size
	// (InvalidWriteOffset, ErrPrecondition), so a retry at the same offset
	// is never applied twice.
	AppendAt(ctx context.Context, key string, off int64, body io.ReadSeeker, size int64) (ObjectInfo, error)
	// Rename is RenameObject: atomic, server side.
	Rename(ctx context.Context, src, dst string) error
}

// IsDirectoryBucket reports whether a bucket name is an S3 Express One
// Zone directory bucket ("name--azid--x-s3").
func IsDirectoryBucket(bucket string) bool { return strings.HasSuffix(bucket, "--x-s3") }

var _ Express = (*S3)(nil)

// AppendAt implements Express.
func (s *S3) AppendAt(ctx context.Context, key string, off int64, body io.ReadSeeker, size int64) (ObjectInfo, error) {
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: body, ContentLength: &size, WriteOffsetBytes: aws.Int64(off)}
	if s.opts.checksums() {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c
	}
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		return ObjectInfo{}, wrapErr("PutObject", key, err)
	}
	return ObjectInfo{Key: key, Size: off + size, ETag: aws.ToString(out.ETag)}, nil
}

// Rename implements Express.
func (s *S3) Rename(ctx context.Context, src, dst string) error {
	_, err := s.client.RenameObject(ctx, &s3.RenameObjectInput{Bucket: &s.bucket, Key: &dst, RenameSource: aws.String(s.bucket + "/" + src)})
	if err != nil {
		return wrapErr("RenameObject", dst, err)
	}
	return nil
}
