// Package memstore is an in-memory S3 bucket with S3's semantics (AWS's
// documented behaviour where servers differ) and fault hooks: the test seam
// that lets the file-system core run against S3 without a server, and crash
// or lose answers at any chosen call.
package memstore

import (
	"crypto/md5"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
)

// Store is an in-memory S3 bucket with S3's semantics: implements
// s3store.Store (and s3store.Express when made with NewExpress). Safe for
// concurrent use.
type Store struct {
	bucket  string
	express bool

	mu      sync.Mutex
	objects map[string]*object
	// sorted is the keys of objects in order, nil when a key came or
	// went since (listings sort once, not once per page).
	sorted  []string
	uploads map[string]*upload // by upload id
	gen     int64              // write counter mixed into every ETag
	// contentETags: a single-part write's ETag is the MD5 of its bytes,
	// as AWS gives it (SetContentETags).
	contentETags bool
	nextID       int64

	seq  atomic.Int64
	hook atomic.Pointer[Hook]

	statsMu sync.Mutex
	stats   s3store.Stats
}

// object is one stored version. data is never modified in place: every
// write makes a new slice, so a Get body can read it without the lock.
type object struct {
	data     []byte
	etag     string
	modified time.Time
	parts    int    // parts the object is made of (Express's 10,000 limit)
	tag      string // publication tag (s3store.TagMetadataKey), "" for none
	attrs    *s3store.Attrs
	enc      *s3store.Encoding
}

type upload struct {
	key       string
	id        string
	initiated time.Time
	meta      s3store.Cond // the completed object's tag and attributes
	parts     map[int32]part
}

type part struct {
	data []byte
	etag string
}

var (
	_ s3store.Store   = (*Store)(nil)
	_ s3store.Express = (*Store)(nil)
)

// New is a general-purpose bucket.
func New(bucket string) *Store {
	return &Store{bucket: bucket, objects: map[string]*object{}, uploads: map[string]*upload{}, stats: s3store.Stats{}}
}

// NewExpress is a directory bucket (S3 Express One Zone): AppendAt and
// Rename work; on a New store they answer NotImplemented.
func NewExpress(bucket string) *Store {
	s := New(bucket)
	s.express = true
	return s
}

// Bucket implements s3store.Store.
func (s *Store) Bucket() string { return s.bucket }

// Stats implements s3store.Store: every call made counts one request
// (there are no retries), failed ones also one error.
func (s *Store) Stats() s3store.Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	out := make(s3store.Stats, len(s.stats))
	for k, v := range s.stats {
		out[k] = v
	}
	return out
}

func (s *Store) count(op string, f func(*s3store.OpStats)) {
	s.statsMu.Lock()
	o := s.stats[op]
	f(&o)
	s.stats[op] = o
	s.statsMu.Unlock()
}

// SetContentETags makes the ETag of every later single-part write (a
// PutObject, a CopyObject) the MD5 of its bytes, and of a multipart
// upload the MD5 of its parts' MD5s with their count, as AWS S3 gives
// them: the same bytes written twice, or copied to another key, have one
// ETag, so an ETag no longer names one write. Off by default, and on S3
// Express (whose ETags are not MD5s).
func (s *Store) SetContentETags(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.contentETags = on && !s.express
}

// newETag is a quoted ETag no other write of this store ever gets, even of
// the same bytes. Callers hold s.mu.
func (s *Store) newETag(key string, parts int, multipart bool) string {
	s.gen++
	sum := md5.Sum(fmt.Appendf(nil, "memstore/%s/%d/%s", s.bucket, s.gen, key))
	if multipart {
		return fmt.Sprintf(`"%x-%d"`, sum, parts)
	}
	return fmt.Sprintf(`"%x"`, sum)
}

// now is an object's LastModified: whole seconds, as HTTP dates carry it.
func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// put stores data as key's new version with meta's tag and attributes.
// Callers hold s.mu.
func (s *Store) put(key string, data []byte, parts int, multipart bool, meta s3store.Cond) *object {
	var etag string
	if s.contentETags && !multipart {
		etag = fmt.Sprintf(`"%x"`, md5.Sum(data))
	} else {
		etag = s.newETag(key, parts, multipart)
	}
	o := &object{data: data, etag: etag, modified: now(), parts: parts, tag: meta.Tag}
	if meta.Attrs != nil {
		a := *meta.Attrs
		o.attrs = &a
	}
	if meta.Encoding != nil {
		e := *meta.Encoding
		o.enc = &e
	}
	if _, ok := s.objects[key]; !ok {
		s.sorted = nil
	}
	s.objects[key] = o
	return o
}

// concat is a new slice holding a then b: stored data is never shared
// between versions that may grow.
func concat(a, b []byte) []byte {
	out := make([]byte, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

// attrsCopy is a copy of o's attributes for a caller (nil for none).
func (o *object) attrsCopy() *s3store.Attrs {
	if o.attrs == nil {
		return nil
	}
	a := *o.attrs
	return &a
}

// encCopy is a copy of o's compression mark for a caller (nil for none).
func (o *object) encCopy() *s3store.Encoding {
	if o.enc == nil {
		return nil
	}
	e := *o.enc
	return &e
}
