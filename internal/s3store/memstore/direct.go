package memstore

import (
	"sort"

	"github.com/s3mount/s3mount/internal/s3store"
)

// The methods below are direct access for tests and "foreign writers"
// (another host). They never pass through hooks, Seq or Stats, and never fail.

// Object returns a copy of key's bytes and its ETag.
func (s *Store) Object(key string) (data []byte, etag string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[key]
	if o == nil {
		return nil, "", false
	}
	return append([]byte{}, o.data...), o.etag, true
}

// Keys is every key, sorted.
func (s *Store) Keys() []string {
	s.mu.Lock()
	keys := make([]string, 0, len(s.objects))
	for k := range s.objects {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	sort.Strings(keys)
	return keys
}

// PutObject creates or replaces key (one part, no tag) and returns the new ETag.
func (s *Store) PutObject(key string, data []byte) string {
	return s.PutTagged(key, data, "")
}

// PutTagged is PutObject of a version tagged tag: a foreign writer that
// tags its writes, or a test's own reuse of a tag.
func (s *Store) PutTagged(key string, data []byte, tag string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.put(key, append([]byte{}, data...), 1, false, s3store.Cond{Tag: tag}).etag
}

// PutWith is PutObject of a version with c's metadata (tag, attributes,
// compression mark): another host's write as s3mount makes it.
func (s *Store) PutWith(key string, data []byte, c s3store.Cond) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.put(key, append([]byte{}, data...), 1, false, s3store.Cond{Tag: c.Tag, Attrs: c.Attrs, Encoding: c.Encoding}).etag
}

// Info is what a HEAD of key would tell (metadata included).
func (s *Store) Info(key string) (s3store.ObjectInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[key]
	if o == nil {
		return s3store.ObjectInfo{}, false
	}
	return o.info(key), true
}

// AppendObject appends data to key (creating it when absent) and returns
// the new ETag. On a directory bucket it adds a part, but is never refused
// for the 10,000-part limit, and keeps the tag as an append does; on a
// general bucket it is another writer's whole-object write: no tag.
func (s *Store) AppendObject(key string, data []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[key]
	if o == nil {
		return s.put(key, append([]byte{}, data...), 1, false, s3store.Cond{}).etag
	}
	return s.appendLocked(key, o, data)
}

// appendLocked appends data to key's object o (s.mu held).
func (s *Store) appendLocked(key string, o *object, data []byte) string {
	var meta s3store.Cond
	if s.express {
		meta = s3store.Cond{Tag: o.tag, Attrs: o.attrs, Encoding: o.enc}
	}
	return s.put(key, concat(o.data, data), o.parts+1, false, meta).etag
}

// AppendObjectIf is AppendObject while key's object is still at etag: a
// foreign writer's read-then-append that must not cross the store's own
// writes (false, nothing written: it changed since the read).
func (s *Store) AppendObjectIf(key string, data []byte, etag string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[key]
	if o == nil || o.etag != etag {
		return "", false
	}
	return s.appendLocked(key, o, data), true
}

// PutWithIf is PutWith while key's object is still at etag: a foreign
// writer's read-modify-write (false, nothing written: it changed).
func (s *Store) PutWithIf(key string, data []byte, c s3store.Cond, etag string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.objects[key]; o == nil || o.etag != etag {
		return "", false
	}
	return s.put(key, append([]byte{}, data...), 1, false, s3store.Cond{Tag: c.Tag, Attrs: c.Attrs, Encoding: c.Encoding}).etag, true
}

// DeleteObject removes key, if present.
func (s *Store) DeleteObject(key string) {
	s.mu.Lock()
	delete(s.objects, key)
	s.sorted = nil
	s.mu.Unlock()
}

// Uploads is every multipart upload not yet completed or aborted.
func (s *Store) Uploads() []s3store.Upload { return s.listUploads("") }

// Parts is the number of parts key is made of: 1 after a Put or Copy, the
// part count after CompleteMultipart, +1 per append; 0 when key is absent.
func (s *Store) Parts(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.objects[key]; o != nil {
		return o.parts
	}
	return 0
}
