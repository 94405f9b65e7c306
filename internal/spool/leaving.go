package spool

import (
	"slices"
	"time"
)

// Old keys of unfinished renames. A rename copies the object to its new
// key and deletes the old one; when that delete fails (or a crash comes
// between), the journal keeps the old key (RenamedFrom, at
// RenamedFromETag; those of earlier renames in LeftKeys) for the file's
// next publication to delete. Until then
// the object at the old key is no file of that name: a lookup must not
// adopt it (a writer reopening a rotated log's name would append to the
// rotated lines), and a new file's first publication there replaces it.
// Once deleted, the object is remembered a while (leftKept): an answer
// S3 gave before the delete may still name it.

// Leaving returns the ETags of the objects at key that renames moved
// away and have not deleted yet.
func (s *Spool) Leaving(key string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var etags []string
	for r := range s.leaving[key] {
		if !slices.Contains(etags, r.etag) {
			etags = append(etags, r.etag)
		}
	}
	return etags
}

// Claimed reports whether a file's journal claims key's object at etag
// as its base: a new file that took over an object a rename left there
// (publish's takeOverLeaving), which its publication replaces.
func (s *Spool) Claimed(key, etag string) bool {
	s.mu.Lock()
	files := make([]*File, 0, len(s.files))
	for _, f := range s.files {
		files = append(files, f)
	}
	s.mu.Unlock()
	for _, f := range files { // File.mu is taken without Spool.mu held
		if j := f.Journal(); j.Key == key && j.Exists && j.BaseETag == etag && !j.Unlinked {
			return true
		}
	}
	return false
}

// LeavingAt reports whether key's object at etag, as S3 described it
// when asked at the time given, is one a rename moved away: its delete
// still to come, or done after that answer was asked (the same object
// at key later, renamed back, is a file there again).
func (s *Spool) LeavingAt(key, etag string, asked time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for r := range s.leaving[key] {
		if r.etag == etag {
			return true
		}
	}
	at, ok := s.left[leftObject{key, etag}]
	return ok && asked.Before(at)
}

// leftKept is how long a finished entry is kept: longer than any lookup
// or listing can be in flight.
const leftKept = 5 * time.Minute

// leftObject is an object a rename moved away whose delete is done.
type leftObject struct{ key, etag string }

// leavingRef is one file's old key still to delete, in Spool.leaving.
type leavingRef struct{ id, etag string }

// track moves file id's entries in the index from its journal old to j
// (an empty Journal: none).
func (s *Spool) track(id string, old, j Journal) {
	was, now := old.OldKeys(), j.OldKeys()
	if slices.Equal(was, now) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range was {
		if slices.Contains(now, k) {
			continue
		}
		if byRef := s.leaving[k.Key]; byRef != nil {
			delete(byRef, leavingRef{id, k.ETag})
			if len(byRef) == 0 {
				delete(s.leaving, k.Key)
			}
		}
		if j.Key != "" && j.Key != k.Key {
			// Finished (not a move undone, back at the old key; not a
			// file removed).
			s.rememberLeftLocked(leftObject{k.Key, k.ETag}, time.Now())
		}
	}
	for _, k := range now {
		if s.leaving == nil {
			s.leaving = map[string]map[leavingRef]struct{}{}
		}
		if s.leaving[k.Key] == nil {
			s.leaving[k.Key] = map[leavingRef]struct{}{}
		}
		s.leaving[k.Key][leavingRef{id, k.ETag}] = struct{}{}
	}
}

// rememberLeftLocked records that o's delete is done (or no longer this
// host's to do). Entries older than leftKept are swept once the table has
// doubled since the last sweep.
func (s *Spool) rememberLeftLocked(o leftObject, now time.Time) {
	if s.left == nil {
		s.left = map[leftObject]time.Time{}
	}
	s.left[o] = now
	if len(s.left) < max(2*s.leftSwept, 64) {
		return
	}
	for k, at := range s.left {
		if now.Sub(at) >= leftKept {
			delete(s.left, k)
		}
	}
	s.leftSwept = len(s.left)
}
