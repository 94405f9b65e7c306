package vfs

import (
	"context"

	"github.com/s3mount/s3mount/internal/publish"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/spool"
)

// streamState tracks whether a whole file is being written sequentially
// from offset 0; once it is larger than two parts, a streaming multipart
// upload sends its parts while the writer goes on.
type streamState struct {
	s      *publish.Stream
	seqEnd int64
	broken bool
}

// streamAdvance is called after a non-append write (n.wmu held).
func (n *Node) streamAdvance(ctx context.Context, off int64, m int) {
	fs := n.fs
	n.mu.Lock()
	f := n.file
	if n.ws().stream == nil {
		n.ws().stream = &streamState{}
	}
	ss := n.ws().stream
	n.mu.Unlock()
	if ss.broken {
		return
	}
	j := f.Journal()
	if j.Kind != spool.KindWhole || off != ss.seqEnd {
		n.abortStream()
		ss.broken = true
		return
	}
	ss.seqEnd += int64(m)
	part := fs.pub.Config().PartSize
	if part < s3store.MinPartSize {
		part = 8 << 20
	}
	if ss.s == nil && ss.seqEnd >= 2*part && !fs.pub.Compressed(j.Key) {
		n.mu.Lock()
		attrs := n.s3AttrsLocked()
		n.mu.Unlock()
		st, err := fs.pub.StartStream(ctx, f, attrs)
		if err != nil {
			fs.log.Warn("cannot start a streaming upload; the file is uploaded at close", "key", j.Key, "err", err)
			ss.broken = true
			return
		}
		ss.s = st
	}
	if ss.s != nil {
		ss.s.Advance(f, ss.seqEnd)
	}
}

// takeStream hands the stream to a publication of [0, to), or aborts it.
func (n *Node) takeStream(to int64) *publish.Stream {
	n.mu.Lock()
	ss := n.ws().stream
	n.ws().stream = nil
	n.mu.Unlock()
	if ss == nil || ss.s == nil {
		return nil
	}
	if ss.broken || to < ss.s.Uploaded() || to != ss.seqEnd {
		ss.s.Abort()
		return nil
	}
	return ss.s
}

func (n *Node) abortStream() {
	n.mu.Lock()
	ss := n.ws().stream
	n.ws().stream = nil
	n.mu.Unlock()
	if ss != nil && ss.s != nil {
		ss.s.Abort()
	}
}
