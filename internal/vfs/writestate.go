package vfs

import (
	"sync"
	"time"

	"github.com/s3mount/s3mount/internal/publish"
	"github.com/s3mount/s3mount/internal/spool"
)

// writeState is what a node needs once it is opened, written, published,
// renamed, unlinked, truncated or has its attributes changed: its
// publication job, the writers' locks, the open handles' counts, the
// drops and the stream. A node that was only listed or looked up — most
// nodes of a large directory — has none, and a listing of 100,000 names
// does not carry 100,000 of them (BenchmarkListing).
type writeState struct {
	job *publish.Job // its token: one publication / rename / unlink / truncate at a time
	wmu sync.Mutex   // serializes writers (appends stay whole and ordered)
	// pendMu orders a publication's choice of its end (journal Pending)
	// with a non-blocking drop cutting a half-accepted line off the spool
	// file: a line is never cut under a publication that took it.
	pendMu sync.Mutex

	// Under Node.mu.
	// changedAt: when this host last changed the object (publication,
	// rename, unlink, a directory's marker). S3's answers to questions
	// asked before then are out of date and are not taken.
	changedAt  time.Time
	writers    int       // open handles that may write
	appenders  int       // open O_APPEND handles
	logMode    bool      // written through O_APPEND: log semantics
	dirtySince time.Time // first unpublished write (interval deadline)
	lastClose  time.Time
	stream     *streamState
	drops      dropState
	ownETags   ownETags // ETags our own publications produced (reads may follow them)
	openLine   bool     // the last append did not end with a newline
	selfCopies int      // copies onto itself running (publish.Subject.SelfCopy)

	// Open handles by how the kernel serves them (localreads.go):
	// page-cached, naming the spool file as backing (pinned), and direct
	// ones the kernel may not have completed the open of.
	ioCached, ioLocal, ioUnsettled int
	// cached: the data cache's file the local opens name, when not the
	// spool's (cachedreads.go); pinned while ioLocal > 0.
	cached *cacheBacking
	// mapOpens: open handles that may write the data file through a
	// shared mapping (Handle.mayMap). While any lasts, the journal's
	// MapCheck runs to the end of the file and the job leaves it
	// (localreads.go). mapPrior: the journal's MapCheck before the first
	// of them; mapSeen: the ranges those released since found to compare.
	// Changed with wmu held too.
	mapOpens          int
	mapPrior, mapSeen *spool.MapCheck
}

// ws is n's write state, made on first use. It takes no lock (callable
// under any), and once made it stays for the node's life: its locks are
// the same locks from then on.
func (n *Node) ws() *writeState {
	if w := n.wst.Load(); w != nil {
		return w
	}
	w := &writeState{job: n.fs.queue.NewJob(n.ino, pubFile{n: n})}
	if n.wst.CompareAndSwap(nil, w) {
		return w
	}
	return n.wst.Load()
}

// changedAtLocked is when this host last changed the object (zero: it
// never did, and a node that never had a write state never did). n.mu
// held.
func (n *Node) changedAtLocked() time.Time {
	if w := n.wst.Load(); w != nil {
		return w.changedAt
	}
	return time.Time{}
}

// hasWriteState reports whether n's write state was ever made: a node
// without one has no job, no handle and nothing to publish but what
// n.file and n.attrDirty say (n.mu held for those).
func (n *Node) hasWriteState() bool { return n.wst.Load() != nil }
