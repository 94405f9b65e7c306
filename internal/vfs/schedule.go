package vfs

import (
	"context"
	"time"

	"github.com/s3mount/s3mount/internal/publish"
)

// The publication schedule: publish.Timing decides when; this file tells
// the scheduler about a node and runs what it fires.

// schedule asks for a publication of n at t (or earlier if already asked).
func (fs *FS) schedule(n *Node, t time.Time) {
	fs.sched.At(n.ino, t, func() { fs.scheduled(n) })
}

// scheduleLog sets a log file's next publication (publish.Timing.LogDue).
func (fs *FS) scheduleLog(n *Node) {
	n.mu.Lock()
	s := publishLogState(n)
	n.mu.Unlock()
	fs.sched.Reschedule(n.ino, fs.timing.LogDue(s, time.Now()), func() { fs.scheduled(n) })
}

// publishLogState is what a log's schedule depends on (n.mu held).
func publishLogState(n *Node) (s publish.LogState) {
	return publish.LogState{DirtySince: n.dirtySince, Size: n.sizeLocked(), Closed: n.writers == 0, LastClose: n.lastClose}
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

// scheduled is a publication the scheduler fired: a log's (up to its last
// whole line while open), a full buffer's (an open file written whole is
// published as far as it is, to free room), or a retry. A failed
// publication was scheduled again by publishLocked.
func (fs *FS) scheduled(n *Node) {
	n.mu.Lock()
	final := n.writers == 0
	n.mu.Unlock()
	if err := n.publish(context.Background(), final); err != nil {
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
		fs.schedule(n, time.Now().Add(fs.timing.Interval))
	} else if idle {
		n.dropClean()
	}
}
