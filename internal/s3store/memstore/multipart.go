package memstore

import (
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/s3mount/s3mount/internal/s3store"
)

// CreateMultipart implements s3store.Store.
func (s *Store) CreateMultipart(ctx context.Context, key string, meta s3store.Cond) (string, error) {
	var id string
	err := s.do(ctx, Call{Op: "CreateMultipartUpload", Key: key}, 0, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.nextID++
		id = fmt.Sprintf("memstore-upload-%d", s.nextID)
		s.uploads[id] = &upload{key: key, id: id, initiated: now(), meta: meta, parts: map[int32]part{}}
		return nil
	})
	return id, err
}

// findUpload is the upload id of key, or NoSuchUpload (an id of another
// key is unknown too, as in S3). Callers hold s.mu.
func (s *Store) findUpload(op, key, id string) (*upload, error) {
	u := s.uploads[id]
	if u == nil || u.key != key {
		return nil, noSuchUpload(op, key)
	}
	return u, nil
}

func checkPartNumber(op, key string, num int32) error {
	if num < 1 || num > s3store.MaxParts {
		return badRequest(op, key, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
	}
	return nil
}

func partETag(data []byte) string { return fmt.Sprintf(`"%x"`, md5.Sum(data)) }

// UploadPart implements s3store.Store; a part number uploaded again
// replaces the earlier part.
func (s *Store) UploadPart(ctx context.Context, key, uploadID string, num int32, body io.ReadSeeker, size int64) (s3store.Part, error) {
	data, rerr := readBody(body, size)
	var p s3store.Part
	err := s.do(ctx, Call{Op: "UploadPart", Key: key}, size, func() error {
		if rerr != nil {
			return badRequest("UploadPart", key, "IncompleteBody", rerr.Error())
		}
		if err := checkPartNumber("UploadPart", key, num); err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		u, err := s.findUpload("UploadPart", key, uploadID)
		if err != nil {
			return err
		}
		pt := part{data: data, etag: partETag(data)}
		u.parts[num] = pt
		p = s3store.Part{Number: num, ETag: pt.etag}
		return nil
	})
	return p, err
}

// UploadPartCopy implements s3store.Store: [off, off+n) of srcKey, pinned
// to srcETag when it is not "".
func (s *Store) UploadPartCopy(ctx context.Context, key, uploadID string, num int32, srcKey, srcETag string, off, n int64) (s3store.Part, error) {
	var p s3store.Part
	err := s.do(ctx, Call{Op: "UploadPartCopy", Key: key, Src: srcKey}, 0, func() error {
		if err := checkPartNumber("UploadPartCopy", key, num); err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		u, err := s.findUpload("UploadPartCopy", key, uploadID)
		if err != nil {
			return err
		}
		src := s.objects[srcKey]
		if src == nil {
			return noSuchKey("UploadPartCopy", key)
		}
		if srcETag != "" && srcETag != src.etag {
			return preconditionFailed("UploadPartCopy", key)
		}
		size := int64(len(src.data))
		if off < 0 || n <= 0 || off+n > size {
			return badRequest("UploadPartCopy", key, "InvalidArgument",
				fmt.Sprintf("Range specified is not valid for source object of size: %d", size))
		}
		data := src.data[off : off+n : off+n]
		pt := part{data: data, etag: partETag(data)}
		u.parts[num] = pt
		p = s3store.Part{Number: num, ETag: pt.etag}
		return nil
	})
	return p, err
}

// CompleteMultipart implements s3store.Store. Parts must be given in
// ascending order with the ETags they were uploaded with; every part but
// the last must be at least MinPartSize (EntityTooSmall). c is checked at
// completion. A refused completion keeps the upload.
func (s *Store) CompleteMultipart(ctx context.Context, key, uploadID string, parts []s3store.Part, c s3store.Cond) (s3store.ObjectInfo, error) {
	const op = "CompleteMultipartUpload"
	var info s3store.ObjectInfo
	err := s.do(ctx, Call{Op: op, Key: key}, 0, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		u, err := s.findUpload(op, key, uploadID)
		if err != nil {
			return err
		}
		if len(parts) == 0 {
			return badRequest(op, key, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
		}
		for i, p := range parts {
			if i > 0 && p.Number <= parts[i-1].Number {
				return badRequest(op, key, "InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be specified in order by part number.")
			}
			if pt, ok := u.parts[p.Number]; !ok || pt.etag != p.ETag {
				return badRequest(op, key, "InvalidPart", fmt.Sprintf("One or more of the specified parts could not be found (part %d)", p.Number))
			}
		}
		for i, p := range parts {
			if pt := u.parts[p.Number]; i < len(parts)-1 && len(pt.data) < s3store.MinPartSize {
				return badRequest(op, key, "EntityTooSmall", fmt.Sprintf("Your proposed upload is smaller than the minimum allowed object size (part %d: %d bytes)", p.Number, len(pt.data)))
			}
		}
		if err := s.checkCond(op, key, key, c); err != nil {
			return err
		}
		var total int
		for _, p := range parts {
			total += len(u.parts[p.Number].data)
		}
		data := make([]byte, 0, total)
		for _, p := range parts {
			data = append(data, u.parts[p.Number].data...)
		}
		o := s.put(key, data, len(parts), true, u.meta)
		if s.contentETags {
			// AWS's: the MD5 of the parts' MD5s, and their count. The
			// same parts in the same order repeat it.
			sums := make([]byte, 0, md5.Size*len(parts))
			for _, p := range parts {
				sum := md5.Sum(u.parts[p.Number].data)
				sums = append(sums, sum[:]...)
			}
			o.etag = fmt.Sprintf(`"%x-%d"`, md5.Sum(sums), len(parts))
		}
		delete(s.uploads, uploadID)
		info = s3store.ObjectInfo{Key: key, Size: -1, ETag: o.etag}
		return nil
	})
	return info, err
}

// AbortMultipart implements s3store.Store; an unknown upload is NoSuchUpload.
func (s *Store) AbortMultipart(ctx context.Context, key, uploadID string) error {
	return s.do(ctx, Call{Op: "AbortMultipartUpload", Key: key}, 0, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, err := s.findUpload("AbortMultipartUpload", key, uploadID); err != nil {
			return err
		}
		delete(s.uploads, uploadID)
		return nil
	})
}

// ListMultipartUploads implements s3store.Store (any prefix, as AWS).
func (s *Store) ListMultipartUploads(ctx context.Context, prefix string) ([]s3store.Upload, error) {
	var ups []s3store.Upload
	err := s.do(ctx, Call{Op: "ListMultipartUploads", Key: prefix}, 0, func() error {
		ups = s.listUploads(prefix)
		return nil
	})
	return ups, err
}

// listUploads is every upload under prefix by key, then start.
func (s *Store) listUploads(prefix string) []s3store.Upload {
	s.mu.Lock()
	var ups []s3store.Upload
	for _, u := range s.uploads {
		if strings.HasPrefix(u.key, prefix) {
			ups = append(ups, s3store.Upload{Key: u.key, UploadID: u.id, Initiated: u.initiated})
		}
	}
	s.mu.Unlock()
	sort.Slice(ups, func(i, j int) bool {
		if ups[i].Key != ups[j].Key {
			return ups[i].Key < ups[j].Key
		}
		return uploadSeq(ups[i].UploadID) < uploadSeq(ups[j].UploadID)
	})
	return ups
}

func uploadSeq(id string) int64 {
	var n int64
	fmt.Sscanf(id, "memstore-upload-%d", &n)
	return n
}
