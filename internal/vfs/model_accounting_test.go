package vfs

import (
	"time"
)

// checkAccounting: the buffer's used bytes are the unpublished bytes of
// the files the core holds. More would be room no publication ever gives
// back: writers waiting for it wait for good (a hang of the e2e
// full-buffer stress). Publications running in the background move both
// a moment apart, so a difference must last to count.
func (r *runner) checkAccounting() *failure {
	sp := r.c.fs.sp
	var used, sum int64
	deadline := time.Now().Add(2 * time.Second)
	for {
		sum = 0
		r.c.fs.mu.Lock()
		nodes := make([]*Node, 0, len(r.c.fs.nodes))
		for _, n := range r.c.fs.nodes {
			nodes = append(nodes, n)
		}
		r.c.fs.mu.Unlock()
		seen := map[any]bool{}
		for _, n := range nodes {
			n.mu.Lock()
			f := n.file
			n.mu.Unlock()
			if f == nil || seen[f] {
				continue
			}
			seen[f] = true
			if j := f.Journal(); !j.Unlinked {
				sum += j.Unpublished()
			}
		}
		used = sp.Used()
		if used <= sum || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if used > sum {
		return fail("accounting", "the buffer counts %d bytes used, the files hold %d unpublished: %d bytes no publication frees", used, sum, used-sum)
	}
	return nil
}
