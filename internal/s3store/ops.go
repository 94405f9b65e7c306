package s3store

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Head returns the object's size, ETag, mtime and publication tag.
func (s *S3) Head(ctx context.Context, key string) (ObjectInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return ObjectInfo{}, wrapErr("HeadObject", key, err)
	}
	return ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag),
		LastModified: aws.ToTime(out.LastModified), Tag: tagOf(out.Metadata), Attrs: AttrsOf(out.Metadata), Encoding: EncodingOf(out.Metadata)}, nil
}

// List returns one page of ListObjectsV2.
func (s *S3) List(ctx context.Context, prefix, delimiter, token string, max int32) (ListPage, error) {
	// encoding-type=url: a key with a character XML 1.0 cannot carry
	// (a control character someone put there) would otherwise make the
	// whole listing fail to parse.
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix, EncodingType: types.EncodingTypeUrl}
	if delimiter != "" {
		in.Delimiter = &delimiter
	}
	if token != "" {
		in.ContinuationToken = &token
	}
	if max > 0 {
		in.MaxKeys = &max
	}
	var fast ListPage
	var fastOK bool
	var opts []func(*s3.Options)
	if !s.opts.SDKListDecoder {
		opts = append(opts, withListDecoder(listDecoder{dst: &fast, ok: &fastOK, url: &s.listURL}))
	}
	out, err := s.client.ListObjectsV2(ctx, in, opts...)
	if err != nil {
		return ListPage{}, wrapErr("ListObjectsV2", prefix, err)
	}
	if fastOK {
		s.stats.listPlain.Add(1)
		return fast, nil
	}
	s.stats.listSDK.Add(1)
	// Decoded only when the server says it encoded: some servers ignore
	// the request and send keys as they are.
	decode := func(s *string) (string, error) { return aws.ToString(s), nil }
	if out.EncodingType == types.EncodingTypeUrl {
		decode = func(s *string) (string, error) { return url.QueryUnescape(aws.ToString(s)) }
	}
	p := ListPage{Objects: make([]ObjectInfo, 0, len(out.Contents))}
	for _, o := range out.Contents {
		key, err := decode(o.Key)
		if err != nil {
			return ListPage{}, fmt.Errorf("s3 ListObjectsV2 %q: the server sent a key it did not encode: %w", prefix, err)
		}
		p.Objects = append(p.Objects, ObjectInfo{Key: key, Size: aws.ToInt64(o.Size),
			ETag: aws.ToString(o.ETag), LastModified: aws.ToTime(o.LastModified)})
	}
	for _, cp := range out.CommonPrefixes {
		pre, err := decode(cp.Prefix)
		if err != nil {
			return ListPage{}, fmt.Errorf("s3 ListObjectsV2 %q: the server sent a prefix it did not encode: %w", prefix, err)
		}
		p.Prefixes = append(p.Prefixes, pre)
	}
	if aws.ToBool(out.IsTruncated) {
		p.NextToken = aws.ToString(out.NextContinuationToken)
	}
	return p, nil
}

// Get reads n bytes at off (n < 0: to the end); the body is the SDK's
// response body, not copied.
func (s *S3) Get(ctx context.Context, key string, off, n int64, ifMatch string) (io.ReadCloser, error) {
	if n == 0 {
		return http.NoBody, nil
	}
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	switch {
	case n > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	case off > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	if ifMatch != "" {
		in.IfMatch = &ifMatch
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return nil, wrapErr("GetObject", key, err)
	}
	return &countingBody{ReadCloser: out.Body, n: &s.stats.op("GetObject").bytesIn}, nil
}

// Put uploads the whole object. body must be seekable: the SDK rewinds it to
// sign and to retry.
func (s *S3) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, c Cond) (ObjectInfo, error) {
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: body, ContentLength: &size,
		Metadata: metadata(c)}
	setCond(&in.IfMatch, &in.IfNoneMatch, c)
	in.StorageClass = types.StorageClass(s.opts.StorageClass)
	in.ServerSideEncryption = types.ServerSideEncryption(s.opts.SSE)
	in.SSEKMSKeyId = s.kmsKey()
	if s.opts.checksums() {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c
	}
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		return ObjectInfo{}, wrapErr("PutObject", key, err)
	}
	return ObjectInfo{Key: key, Size: size, ETag: aws.ToString(out.ETag)}, nil
}

// CreateMultipart starts an upload; the object it completes into carries
// meta's tag and attributes. It sets no checksum algorithm: MinIO then
// refuses UploadPartCopy into the upload.
func (s *S3) CreateMultipart(ctx context.Context, key string, meta Cond) (string, error) {
	in := &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key, Metadata: metadata(meta)}
	in.StorageClass = types.StorageClass(s.opts.StorageClass)
	in.ServerSideEncryption = types.ServerSideEncryption(s.opts.SSE)
	in.SSEKMSKeyId = s.kmsKey()
	// Not retried by the SDK: an attempt whose answer was lost may have
	// made an upload, and a retry that succeeds would hide it (it would
	// stay, billed, until a lifecycle rule). The error lets the caller
	// abort what the lost answer left (publish.Publisher.AbortUploads).
	out, err := s.client.CreateMultipartUpload(ctx, in, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	if err != nil {
		return "", wrapErr("CreateMultipartUpload", key, err)
	}
	return aws.ToString(out.UploadId), nil
}

// UploadPart uploads part num from a seekable body.
func (s *S3) UploadPart(ctx context.Context, key, uploadID string, num int32, body io.ReadSeeker, size int64) (Part, error) {
	in := &s3.UploadPartInput{Bucket: &s.bucket, Key: &key, UploadId: &uploadID, PartNumber: &num,
		Body: body, ContentLength: &size}
	if s.opts.checksums() {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c
	}
	out, err := s.client.UploadPart(ctx, in)
	if err != nil {
		return Part{}, wrapErr("UploadPart", key, err)
	}
	return Part{Number: num, ETag: aws.ToString(out.ETag), CRC32C: aws.ToString(out.ChecksumCRC32C)}, nil
}

// UploadPartCopy copies srcKey's bytes [off, off+n) into part num, pinned to srcETag.
func (s *S3) UploadPartCopy(ctx context.Context, key, uploadID string, num int32, srcKey, srcETag string, off, n int64) (Part, error) {
	in := &s3.UploadPartCopyInput{Bucket: &s.bucket, Key: &key, UploadId: &uploadID, PartNumber: &num,
		CopySource:      aws.String(copySource(s.bucket, srcKey)),
		CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))}
	if srcETag != "" {
		in.CopySourceIfMatch = &srcETag
	}
	out, err := s.client.UploadPartCopy(ctx, in)
	if err != nil {
		return Part{}, wrapErr("UploadPartCopy", key, err)
	}
	p := Part{Number: num}
	if r := out.CopyPartResult; r != nil {
		p.ETag = aws.ToString(r.ETag)
		p.CRC32C = aws.ToString(r.ChecksumCRC32C)
	}
	return p, nil
}

// CompleteMultipart finishes the upload under condition c. The returned
// ObjectInfo has Size -1: CompleteMultipartUpload does not report it.
func (s *S3) CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part, c Cond) (ObjectInfo, error) {
	cp := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		// No part checksums here: the upload was created without a checksum
		// algorithm, and servers then refuse them (InvalidPart). Each part's
		// CRC32C was already checked when it was uploaded.
		cp[i] = types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag)}
	}
	in := &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: &uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: cp}}
	setCond(&in.IfMatch, &in.IfNoneMatch, c)
	out, err := s.client.CompleteMultipartUpload(ctx, in)
	if err != nil {
		return ObjectInfo{}, wrapErr("CompleteMultipartUpload", key, err)
	}
	return ObjectInfo{Key: key, Size: -1, ETag: aws.ToString(out.ETag)}, nil
}

// AbortMultipart drops the upload and its parts.
func (s *S3) AbortMultipart(ctx context.Context, key, uploadID string) error {
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: &s.bucket, Key: &key, UploadId: &uploadID})
	return wrapErr("AbortMultipartUpload", key, err)
}

// ListMultipartUploads returns every in-progress upload under prefix.
// MinIO only answers for a prefix that is a whole key.
func (s *S3) ListMultipartUploads(ctx context.Context, prefix string) ([]Upload, error) {
	in := &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: &prefix}
	var ups []Upload
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, wrapErr("ListMultipartUploads", prefix, err)
		}
		for _, u := range out.Uploads {
			ups = append(ups, Upload{Key: aws.ToString(u.Key), UploadID: aws.ToString(u.UploadId),
				Initiated: aws.ToTime(u.Initiated)})
		}
		if !aws.ToBool(out.IsTruncated) || (out.NextKeyMarker == nil && out.NextUploadIdMarker == nil) {
			return ups, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// Copy is a server-side CopyObject pinned to srcETag: metadata copied, or
// replaced by c.Tag when it is not "". The returned ObjectInfo has Size -1:
// CopyObject does not report it.
func (s *S3) Copy(ctx context.Context, srcKey, srcETag, dstKey string, c Cond) (ObjectInfo, error) {
	in := &s3.CopyObjectInput{Bucket: &s.bucket, Key: &dstKey,
		CopySource:        aws.String(copySource(s.bucket, srcKey)),
		MetadataDirective: types.MetadataDirectiveCopy}
	if srcETag != "" {
		in.CopySourceIfMatch = &srcETag
	}
	if c.Tag != "" || c.Attrs != nil || c.Encoding != nil || srcKey == dstKey {
		// A copy onto itself (Express compaction) must change something:
		// without a tag its metadata is replaced by none.
		in.MetadataDirective = types.MetadataDirectiveReplace
		in.Metadata = metadata(c)
	}
	setCond(&in.IfMatch, &in.IfNoneMatch, c)
	in.StorageClass = types.StorageClass(s.opts.StorageClass)
	in.ServerSideEncryption = types.ServerSideEncryption(s.opts.SSE)
	in.SSEKMSKeyId = s.kmsKey()
	out, err := s.client.CopyObject(ctx, in)
	if err != nil {
		return ObjectInfo{}, wrapErr("CopyObject", srcKey+" -> "+dstKey, err)
	}
	info := ObjectInfo{Key: dstKey, Size: -1}
	if r := out.CopyObjectResult; r != nil {
		info.ETag = aws.ToString(r.ETag)
		info.LastModified = aws.ToTime(r.LastModified)
	}
	return info, nil
}

// Delete removes the key; a missing key is not an error (S3 answers 204).
func (s *S3) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	return wrapErr("DeleteObject", key, err)
}

// DeleteIf implements Store: DeleteObject with If-Match.
func (s *S3) DeleteIf(ctx context.Context, key, etag string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key, IfMatch: &etag})
	return wrapErr("DeleteObject", key, err)
}

func (s *S3) kmsKey() *string {
	if s.opts.SSEKMSKeyID == "" {
		return nil
	}
	return &s.opts.SSEKMSKeyID
}

// metadata is the user metadata of a write: c's tag and attributes (nil
// for none).
func metadata(c Cond) map[string]string {
	if c.Tag == "" && c.Attrs == nil && c.Encoding == nil {
		return nil
	}
	md := map[string]string{}
	if c.Tag != "" {
		md[TagMetadataKey] = c.Tag
	}
	if c.Attrs != nil {
		for k, v := range c.Attrs.Metadata() {
			md[k] = v
		}
	}
	if c.Encoding != nil {
		c.Encoding.metadata(md)
	}
	return md
}

// tagOf reads the tag from response metadata.
func tagOf(md map[string]string) string {
	v, _ := metaValue(md, TagMetadataKey)
	return v
}

// metaValue is key's value in response metadata; servers differ in the
// case of the keys they return.
func metaValue(md map[string]string, key string) (string, bool) {
	for k, v := range md {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

func setCond(ifMatch, ifNoneMatch **string, c Cond) {
	if c.IfMatch != "" {
		*ifMatch = aws.String(c.IfMatch)
	}
	if c.IfNoneMatch {
		*ifNoneMatch = aws.String("*")
	}
}

// copySource is the URL-escaped "bucket/key" of x-amz-copy-source. Only
// unreserved characters and "/" stay as they are ("+" would read as a space).
func copySource(bucket, key string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for _, c := range []byte(bucket + "/" + key) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
