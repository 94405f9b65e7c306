package vfs

import "time"

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
		n.ws().job.At(now)
	}
}
