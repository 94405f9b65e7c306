package compress

import (
	"sort"
	"sync"
)

// Index remembers member boundaries of compressed objects, per key and
// ETag: the ones this mount wrote and the ones its reads passed. A read at
// an offset starts at the nearest boundary below it instead of at the
// start of the object. Boundaries are only trusted for the exact object
// version (ETag) they were seen in; an append by this mount carries them
// to the new version (its old bytes are the new object's first bytes).
type Index struct {
	mu   sync.Mutex
	keys map[string]*versionIndex
}

type versionIndex struct {
	etag string
	bs   []Boundary // sorted by Raw
}

// maxKeys bounds the index's memory: past it, the index starts over.
const maxKeys = 4096

// maxBoundaries bounds one object's entries: past it every other one is
// dropped (reads then start at most twice as far back).
const maxBoundaries = 1 << 14

// NewIndex returns an empty index.
func NewIndex() *Index { return &Index{keys: map[string]*versionIndex{}} }

// Add records b for (key, etag).
func (x *Index) Add(key, etag string, bs ...Boundary) {
	x.mu.Lock()
	defer x.mu.Unlock()
	v := x.keys[key]
	if v == nil || v.etag != etag {
		if len(x.keys) >= maxKeys {
			x.keys = map[string]*versionIndex{}
		}
		v = &versionIndex{etag: etag}
		x.keys[key] = v
	}
	for _, b := range bs {
		i := sort.Search(len(v.bs), func(i int) bool { return v.bs[i].Raw >= b.Raw })
		if i < len(v.bs) && v.bs[i].Raw == b.Raw {
			// Members holding no bytes (an empty file's publication, a
			// trailer) start where the next one does: the last of them
			// is where a read starts, else a reader would go round the
			// empty ones forever.
			v.bs[i].Comp = max(v.bs[i].Comp, b.Comp)
			continue
		}
		v.bs = append(v.bs, Boundary{})
		copy(v.bs[i+1:], v.bs[i:])
		v.bs[i] = b
	}
	if len(v.bs) > maxBoundaries {
		kept := v.bs[:0]
		for i, b := range v.bs {
			if i%2 == 0 {
				kept = append(kept, b)
			}
		}
		v.bs = kept
	}
}

// Extend records that this mount appended to (key, oldETag), making
// newETag: the old boundaries hold in the new version, plus bs.
func (x *Index) Extend(key, oldETag, newETag string, bs ...Boundary) {
	x.mu.Lock()
	v := x.keys[key]
	if v != nil && v.etag == oldETag {
		v.etag = newETag
	} else {
		delete(x.keys, key)
	}
	x.mu.Unlock()
	x.Add(key, newETag, bs...)
}

// Move follows a rename: the bytes of (from, etag) are (to, newETag).
func (x *Index) Move(from, to, etag, newETag string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if v := x.keys[from]; v != nil && v.etag == etag {
		v.etag = newETag
		x.keys[to] = v
	}
	delete(x.keys, from)
}

// Nearest is the last known boundary of (key, etag) at or below raw; the
// start of the object when none is known.
func (x *Index) Nearest(key, etag string, raw int64) Boundary {
	x.mu.Lock()
	defer x.mu.Unlock()
	v := x.keys[key]
	if v == nil || v.etag != etag {
		return Boundary{}
	}
	i := sort.Search(len(v.bs), func(i int) bool { return v.bs[i].Raw > raw })
	if i == 0 {
		return Boundary{}
	}
	return v.bs[i-1]
}
