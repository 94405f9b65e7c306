// Package s3store is the only package that talks to S3. It hides aws-sdk-go-v2
// behind Store, a narrow interface with the handful of calls the file system
// needs, and maps S3 error codes onto the sentinel errors below.
package s3store

import (
	"context"
	"errors"
	"io"
	"time"
)

// Sentinel errors. Implementations wrap them (errors.Is works) and keep the
// S3 code and message in the error text.
var (
	ErrNotFound     = errors.New("not found")           // 404 NoSuchKey / head 404
	ErrPrecondition = errors.New("precondition failed") // 412: If-Match / If-None-Match refused
	ErrConflict     = errors.New("conflict")            // 409: concurrent conditional write
	ErrNoSuchUpload = errors.New("no such upload")      // multipart upload aborted by someone else
	ErrNoSuchBucket = errors.New("no such bucket")
	ErrAccessDenied = errors.New("access denied") // 403, refused credentials, bad signature
	ErrUnreachable  = errors.New("endpoint unreachable")
	ErrTooManyParts = errors.New("too many parts") // Express: 10,000 appends
	// ErrDirectoryData: a write onto a directory's marker key ("d/")
	// refused as carrying data (versitygw's POSIX backend, 400
	// DirectoryObjectContainsData): it refuses a CopyObject from another
	// directory's marker, counting that directory's size as data.
	ErrDirectoryData = errors.New("directory object contains data")
)

// LeftObjectError: a copy landed at its destination, but the object it
// replaced there in another form (a compressed file's NAME.gz, or the
// plain NAME: raw key Object, at ETag) could not be deleted. The copy's
// ObjectInfo is returned with it.
type LeftObjectError struct {
	Object, ETag string
	Err          error
}

func (e *LeftObjectError) Error() string {
	return "the replaced object " + e.Object + " could not be deleted: " + e.Err.Error()
}

func (e *LeftObjectError) Unwrap() error { return e.Err }

// IsConflict reports whether err means another writer changed the object
// between our read of it and our conditional write (412 or 409).
func IsConflict(err error) bool {
	return errors.Is(err, ErrPrecondition) || errors.Is(err, ErrConflict)
}

// ObjectInfo is what HEAD and LIST tell about one object.
type ObjectInfo struct {
	Key          string // full key in the bucket
	Size         int64
	ETag         string // quoted, as S3 returns it
	LastModified time.Time
	// Tag is the publication tag (user metadata TagMetadataKey) of the
	// write that made this version: only Head reports it ("" from List,
	// and for an object no s3mount write tagged).
	Tag string
	// Attrs are the POSIX attributes the object carries (Head only; nil
	// when it carries none).
	Attrs *Attrs
	// Encoding marks an object s3mount wrote compressed (Head only).
	Encoding *Encoding
}

// Attrs are a file's POSIX attributes, stored as s3fs stores them in user
// metadata (x-amz-meta-mode, -uid, -gid, -mtime, decimal), so a bucket
// written by either mount shows the same modes and owners in the other.
type Attrs struct {
	Mode  uint32 // st_mode: file type bits and permission bits
	UID   uint32
	GID   uint32
	Mtime time.Time
	Rdev  uint32 // device number of a device node (x-amz-meta-rdev, s3fs's)
}

// TagMetadataKey is the user-metadata key (header x-amz-meta-s3mount-pub)
// carrying the tag of the publication that wrote an object. The caller
// picks a tag unique to each publication attempt, so that after an answer
// lost in transit a Head whose Tag is ours proves S3 holds exactly that
// publication, and any other Tag proves it does not. A tag is printable
// ASCII (it travels as an HTTP header) and well under S3's 2 KB of user
// metadata.
const TagMetadataKey = "s3mount-pub"

// ListPage is one page of ListObjectsV2 with a delimiter.
type ListPage struct {
	Objects   []ObjectInfo
	Prefixes  []string // common prefixes, full keys ending in the delimiter
	NextToken string   // "" when this was the last page
}

// Cond is a conditional-write header set. Zero value: unconditional.
type Cond struct {
	IfMatch     string // the object must have this ETag
	IfNoneMatch bool   // the object must not exist (If-None-Match: *)
	// Tag is the publication tag Put and Copy write (see TagMetadataKey);
	// "" writes none. CompleteMultipart ignores it: a multipart upload's
	// metadata is fixed by CreateMultipart.
	Tag string
	// Attrs, when not nil, are written with the object (Put, Copy,
	// CreateMultipart); CompleteMultipart ignores them too.
	Attrs *Attrs
	// Encoding, when not nil, marks the object compressed (written like
	// Attrs).
	Encoding *Encoding
}

// Part is one completed part of a multipart upload.
type Part struct {
	Number int32
	ETag   string
	// CRC32C is the part's base64 checksum when --upload-checksums is on.
	CRC32C string
}

// Upload is an in-progress multipart upload.
type Upload struct {
	Key       string
	UploadID  string
	Initiated time.Time
}

// Store is everything the file system asks of S3. Keys are full keys in the
// one bucket the Store is bound to. All methods are safe for concurrent use.
type Store interface {
	Bucket() string
	Head(ctx context.Context, key string) (ObjectInfo, error)
	// List returns one page of keys under prefix. With delimiter "/" it
	// returns immediate children only.
	List(ctx context.Context, prefix, delimiter, token string, max int32) (ListPage, error)
	// Get reads n bytes from off (n < 0: to the end). A non-empty ifMatch pins
	// the read to that ETag; a changed object gives ErrPrecondition.
	Get(ctx context.Context, key string, off, n int64, ifMatch string) (io.ReadCloser, error)
	// Put uploads body (size bytes) as the whole object, tagged c.Tag.
	Put(ctx context.Context, key string, body io.ReadSeeker, size int64, c Cond) (ObjectInfo, error)
	// CreateMultipart starts an upload whose object, once completed,
	// carries meta's Tag and Attrs (its conditions are CompleteMultipart's
	// to check, not this call's).
	CreateMultipart(ctx context.Context, key string, meta Cond) (uploadID string, err error)
	UploadPart(ctx context.Context, key, uploadID string, num int32, body io.ReadSeeker, size int64) (Part, error)
	// UploadPartCopy copies bytes [off, off+n) of srcKey, pinned to srcETag.
	UploadPartCopy(ctx context.Context, key, uploadID string, num int32, srcKey, srcETag string, off, n int64) (Part, error)
	CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part, c Cond) (ObjectInfo, error)
	AbortMultipart(ctx context.Context, key, uploadID string) error
	ListMultipartUploads(ctx context.Context, prefix string) ([]Upload, error)
	// Copy is a server-side CopyObject of a whole object (≤ 5 GiB), pinned
	// to srcETag. When c.Tag or c.Attrs is set the copy's metadata is
	// replaced by them (what is not set is dropped); else it keeps the
	// source's, except a copy onto itself, which drops it (S3 only copies
	// an object onto itself when its metadata is replaced).
	Copy(ctx context.Context, srcKey, srcETag, dstKey string, c Cond) (ObjectInfo, error)
	Delete(ctx context.Context, key string) error
	// DeleteIf deletes key only while its object is still at etag (a
	// conditional DeleteObject, If-Match: S3 decides atomically, where a
	// HEAD then a DELETE could delete what another writer put in
	// between): ErrPrecondition when the object changed, ErrNotFound
	// when it is gone.
	DeleteIf(ctx context.Context, key, etag string) error
	// Stats returns the per-operation request and byte counters so far.
	Stats() Stats
}

// Limits S3 puts on multipart uploads.
const (
	MinPartSize = 5 << 20
	MaxPartSize = 5 << 30
	MaxParts    = 10000
	MaxPutSize  = 5 << 30
	MaxCopySize = 5 << 30
)

// OpStats counts one operation's requests.
type OpStats struct {
	Requests int64 // attempts sent, retries included
	Errors   int64 // calls that failed after retries
	BytesIn  int64 // body bytes received
	BytesOut int64 // body bytes sent
}

// Stats maps an operation name ("GetObject", "PutObject", ...) to its counts.
type Stats map[string]OpStats

// Total is the number of requests over all operations.
func (s Stats) Total() int64 {
	var n int64
	for _, o := range s {
		n += o.Requests
	}
	return n
}
