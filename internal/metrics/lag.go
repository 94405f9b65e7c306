package metrics

import (
	"sync"
	"time"

	"github.com/s3mount/s3mount/internal/vfs"
)

// lagTracker derives the publication lag (age of the oldest unpublished
// write) from what each scrape sees of the files: a file is unpublished
// since the first scrape that saw it so, or since its last publication if
// one finished after that (what was still unpublished then was written
// after that publication began). The error is at most one scrape interval
// for a file first written between scrapes.
type lagTracker struct {
	mu    sync.Mutex
	dirty map[string]dirtyFile // by key
}

type dirtyFile struct {
	since   time.Time
	lastPub time.Time
}

// observe records the files seen at now and returns the lag: 0 when every
// byte is published.
func (l *lagTracker) observe(now time.Time, files []vfs.FileStatus) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := make(map[string]dirtyFile, len(files))
	var oldest time.Time
	for _, f := range files {
		if f.Unpublished <= 0 {
			continue
		}
		d, ok := l.dirty[f.Key]
		switch {
		case !ok:
			d = dirtyFile{since: now, lastPub: f.LastPublished}
		case !f.LastPublished.Equal(d.lastPub):
			d = dirtyFile{since: f.LastPublished, lastPub: f.LastPublished}
		}
		seen[f.Key] = d
		if oldest.IsZero() || d.since.Before(oldest) {
			oldest = d.since
		}
	}
	l.dirty = seen
	if oldest.IsZero() || now.Before(oldest) {
		return 0
	}
	return now.Sub(oldest)
}
