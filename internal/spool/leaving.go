package spool

import "time"

// Old keys of unfinished renames. A rename copies the object to its new
// key and deletes the old one; when that delete fails (or a crash comes
// between), the journal keeps the old key (RenamedFrom, at
// RenamedFromETag) for the file's next publication to delete. Until then
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
	for _, etag := range s.leaving[key] {
		etags = append(etags, etag)
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
	for _, e := range s.leaving[key] {
		if e == etag {
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

// track moves file id's entry in the index from its journal old to j
// (an empty Journal: none).
func (s *Spool) track(id string, old, j Journal) {
	if old.RenamedFrom == j.RenamedFrom && old.RenamedFromETag == j.RenamedFromETag {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if byID := s.leaving[old.RenamedFrom]; old.RenamedFrom != "" {
		delete(byID, id)
		if len(byID) == 0 {
			delete(s.leaving, old.RenamedFrom)
		}
		if j.RenamedFrom == "" && j.Key != "" && j.Key != old.RenamedFrom {
			// Finished (not a move undone, back at the old key; not a
			// file removed).
			s.rememberLeftLocked(leftObject{old.RenamedFrom, old.RenamedFromETag}, time.Now())
		}
	}
	if j.RenamedFrom == "" {
		return
	}
	if s.leaving == nil {
		s.leaving = map[string]map[string]string{}
	}
	if s.leaving[j.RenamedFrom] == nil {
		s.leaving[j.RenamedFrom] = map[string]string{}
	}
	s.leaving[j.RenamedFrom][id] = j.RenamedFromETag
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
