package vfs

import (
	"context"
	"errors"
	"time"

	"github.com/s3mount/s3mount/internal/publish"
)

// interval is the publication interval for a log of this size: copying a
// multi-GiB object on every interval would cost more than it is worth, so
// past 1 GiB the interval grows with the object (1 GiB: 1x, 8 GiB: 8x).
func (fs *FS) interval(size int64) time.Duration {
	iv := fs.opt.UploadInterval
	if f := size >> 30; f > 1 {
		iv *= time.Duration(f)
	}
	return iv
}

// schedule asks for a publication of n at t (or earlier if already asked).
func (fs *FS) schedule(n *Node, t time.Time) {
	fs.sched.At(n.ino, t, func() { fs.scheduled(n) })
}

// scheduleLog sets a log file's next publication: at most one per interval
// while it has unpublished data (first unpublished write + interval), and
// close-delay after the last close, postponed by every later close, so
// that a loop of open-append-close costs one publication, not one per
// iteration.
func (fs *FS) scheduleLog(n *Node) {
	n.mu.Lock()
	since, closed, lastClose := n.dirtySince, n.writers == 0, n.lastClose
	size := n.sizeLocked()
	n.mu.Unlock()
	if since.IsZero() {
		since = time.Now()
	}
	at := since.Add(fs.interval(size))
	if closed {
		at = minTime(at, lastClose.Add(fs.opt.CloseDelay))
	}
	fs.sched.Reschedule(n.ino, at, func() { fs.scheduled(n) })
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// kick asks for an immediate publication of every dirty file: the buffer
// or the spool disk is full.
func (fs *FS) kick() {
	fs.mu.Lock()
	var dirty []*Node
	for _, n := range fs.nodes {
		n.mu.Lock()
		if n.dirtyLocked() {
			dirty = append(dirty, n)
		}
		n.mu.Unlock()
	}
	fs.mu.Unlock()
	now := time.Now()
	for _, n := range dirty {
		fs.schedule(n, now)
	}
}

// scheduled is a log file's publication from the scheduler.
func (fs *FS) scheduled(n *Node) {
	n.mu.Lock()
	final := n.writers == 0
	n.mu.Unlock()
	ctx := context.Background()
	if err := n.publish(ctx, final); err != nil {
		// The data stays in the spool; try again after an interval.
		n.mu.Lock()
		log := n.logMode
		n.mu.Unlock()
		if log && !errors.Is(err, publish.ErrGaveUp) {
			fs.schedule(n, time.Now().Add(min(fs.opt.UploadInterval, 5*time.Second)))
		}
		return
	}
	n.mu.Lock()
	// Drops not yet marked keep the file scheduled: the marker is written
	// once a publication has freed room for it.
	dirty := n.dirtyLocked() || (n.drops.writes > 0 && n.file != nil && n.state != stateUnlinked)
	idle := n.handles == 0
	n.mu.Unlock()
	if dirty {
		// Only whole lines were published; the rest waits for its newline
		// or the last close.
		fs.schedule(n, time.Now().Add(fs.opt.UploadInterval))
	} else if idle {
		n.dropClean()
	}
}
