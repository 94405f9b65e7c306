package vfs

// Nodes the kernel never received. A listing makes a node per name; the
// kernel receives only those a LOOKUP or a READDIRPLUS entry hands it,
// and forgets only those (Forget). The rest (a plain READDIR's names,
// entries a READDIRPLUS buffer did not take) stayed in the table for the
// mount's life: a log directory listed daily grew without bound.

// Received records that n is handed to the kernel and returns the node to
// hand: n, or, if n was let go as never received meanwhile, the node that
// has its name now (n again, put back, if none does).
func (fs *FS) Received(n *Node) *Node {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n.mu.Lock()
	pruned, p := n.pruned, n.path
	n.mu.Unlock()
	if pruned && fs.nodes[n.ino] != n {
		if cur := fs.byPath.get(p); cur != nil {
			n = cur
		} else {
			fs.nodes[n.ino] = n
			fs.byPath.set(p, n)
			fs.inoOf[p] = n.ino
		}
	}
	n.mu.Lock()
	n.received, n.pruned, n.forgotten = true, false, false
	n.mu.Unlock()
	return n
}

// Unreceived lets go of the nodes of entries that the kernel was never
// handed and that hold nothing of their own (what Forget keeps, Unreceived
// keeps). A later lookup makes them again, with the same inode number.
func (fs *FS) Unreceived(entries []DirEntry) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, e := range entries {
		if e.Node != nil {
			fs.letGoUnheldLocked(e.Node)
		}
	}
}
