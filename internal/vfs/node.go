package vfs

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3mount/s3mount/internal/spool"
)

// Node is one file or directory. Its inode number is stable while the name
// exists and moves with the file on rename.
type Node struct {
	fs  *FS
	ino uint64

	mu      sync.Mutex
	path    string
	size    int64
	etag    string
	mtime   time.Time
	checked time.Time // when S3 last confirmed the metadata
	// When this host last changed the object is writeState.changedAt
	// (changedAtLocked).

	// POSIX attributes beyond the type (localattrs.go): nil until set
	// here or read from the object's metadata; a node made from a listing
	// shows the mount's defaults without them.
	la *localAttrs
	// received: the kernel was handed the node (it forgets it with
	// Forget); pruned: let go unreceived after a listing (received.go);
	// forgotten: the kernel forgot it while it still had local state, so
	// it leaves once that state ends (letGoIfForgotten).
	received, pruned, forgotten bool
	attrSet                     bool // chmod/chown/utimes happened: keep the node until unlink
	// attrDirty: attributes changed here that S3 does not have yet (la's
	// attrGen counts the changes). metaKnown: a HEAD told the object's attributes
	// (a listing cannot).
	attrDirty bool
	metaKnown bool
	// dir and state sit with the flags: a node is 160 bytes, not 168
	// (BenchmarkListing makes 100,000).
	dir   bool
	state nodeState
	// Special files (symlink.go): ftype is the S_IFMT type of a symlink,
	// FIFO, device node or socket (0 for a regular file or directory);
	// its device number and target are in la. marker: S3 holds the
	// directory's "dir/" marker object (dirattrs.go).
	ftype  uint32
	marker bool

	// Local state.
	file    *spool.File // non-nil while the file has local bytes
	handles int         // open handles
	// wst: the write state (writestate.go), nil until the node is first
	// opened, written, published, renamed, unlinked or truncated.
	wst atomic.Pointer[writeState]
}

// Ino is the inode number.
func (n *Node) Ino() uint64 { return n.ino }

// IsDir reports whether the node is a directory.
func (n *Node) IsDir() bool { return n.dir }

// nodeState is where a node's name stands with S3: one value, not a set of
// booleans. Whether it has local bytes is n.file; whether a publication
// runs is its job's token (writeState.job); a refused publication is the
// journal's Conflict.
type nodeState uint8

const (
	// stateNew: not in S3 (yet): a file created here and not published,
	// a directory made by mkdir (Mountpoint semantics) or kept after its
	// last key went (keepParents).
	stateNew nodeState = iota
	// stateInS3: S3 has the object (for a directory, keys under it).
	stateInS3
	// stateUnlinked: unlinked or replaced here; never published again.
	stateUnlinked
)

func (s nodeState) String() string {
	return [...]string{"new", "in-s3", "unlinked"}[s]
}

// wroteLocked records an object this host just wrote to S3 (published,
// extended or copied): size bytes at the last of etags. Readers may follow
// from each of etags to it, and S3's answers to questions asked before now
// are out of date (n.mu held).
func (n *Node) wroteLocked(size int64, etags ...string) {
	if len(etags) == 0 {
		return // nothing written (attributes dropped: the object changed or went)
	}
	for _, e := range etags {
		n.ws().ownETags.add(e)
	}
	n.state, n.size, n.etag, n.checked = stateInS3, size, etags[len(etags)-1], time.Now()
	n.ws().changedAt = n.checked
}

// spoolFile is the file's spool file, or nil.
func (n *Node) spoolFile() *spool.File {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.file
}

// isUnlinked reports whether the file was unlinked or replaced.
func (n *Node) isUnlinked() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state == stateUnlinked
}

// Path is the node's path below the mount root.
func (n *Node) Path() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.path
}

func (n *Node) sizeLocked() int64 {
	if n.file != nil {
		return n.file.Journal().Size
	}
	return n.size
}

// hasLocalState: the node must stay whatever S3 says (open, dirty, mkdir'd).
func (n *Node) hasLocalState() bool {
	return n.file != nil || (n.dir && n.state == stateNew) || n.handles > 0
}
