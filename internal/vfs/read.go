package vfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/s3mount/s3mount/internal/readahead"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/spool"
)

// Read reads from the spool where the bytes are local, else from S3
// through the read-ahead pinned to the object's ETag.
func (h *Handle) Read(ctx context.Context, p []byte, off int64) (int, error) {
	for tries := 0; ; tries++ {
		h.node.mu.Lock()
		etag := h.node.etag
		h.node.mu.Unlock()
		m, err := h.readOnce(ctx, p, off)
		if m > 0 {
			h.mu.Lock()
			h.served = true
			h.mu.Unlock()
		}
		if errors.Is(err, s3store.ErrNotFound) && tries < 10 && h.node.spoolFile() != nil {
			// Unlinked or renamed over while we read: its bytes were
			// copied into the spool first.
			continue
		}
		if errors.Is(err, spool.ErrNotLocal) && tries < 100 {
			// Published and freed (or the spool file was replaced) while
			// we read: look again at where the bytes are.
			continue
		}
		if err == nil || tries >= 10 || !errors.Is(err, readahead.ErrStale) {
			return m, err
		}
		// S3 may have the new object before the publication in flight
		// records its ETag: let it finish.
		// If its answer was lost, ask S3 whether it landed.
		release := h.node.ws().job.Hold()
		if f := h.node.spoolFile(); f != nil {
			_, _ = h.node.fs.pub.Settle(ctx, f, pubFile{n: h.node}, false)
		}
		// A chmod's copy onto itself whose answer was lost left the
		// node, or the version this handle's reader is pinned to, at
		// the old ETag: S3 refuses it, and holds the same bytes.
		pinned, pinnedSize := h.readerVersion(etag)
		followed := h.node.followAttrsCopy(ctx, pinned, pinnedSize)
		release()
		h.node.mu.Lock()
		// moved: our publication changed the object; local: an unlink or
		// a rename over the file copied its bytes into the spool.
		moved := h.node.etag != etag || h.node.file != nil
		h.node.mu.Unlock()
		if !moved && !followed && !h.freshStale(ctx) {
			return m, err
		}
		// Our own publication of a growing log replaced the object
		// during the read (copytruncate reading a busy log): read again;
		// remote follows our own ETags and stays pinned to others'.
	}
}

// readerVersion is the version h's S3 reader is pinned to, and its size
// (etag, the node's, when h has no reader yet).
func (h *Handle) readerVersion(etag string) (string, int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reader != nil {
		return h.rETag, h.reader.Size()
	}
	h.node.mu.Lock()
	defer h.node.mu.Unlock()
	return etag, h.node.size
}

func (h *Handle) readOnce(ctx context.Context, p []byte, off int64) (int, error) {
	n := h.node
	n.mu.Lock()
	f := n.file
	size := n.sizeLocked()
	var localStart int64
	if f != nil {
		localStart = f.Journal().LocalStart
	}
	etag, remoteSize := n.etag, n.size
	n.mu.Unlock()
	if off >= size {
		return 0, nil
	}
	if int64(len(p)) > size-off {
		p = p[:size-off]
	}
	done := 0
	if f == nil || off < localStart {
		want := p
		if f != nil && int64(len(want)) > localStart-off {
			want = want[:localStart-off]
		}
		r, err := h.remote(etag, remoteSize, f != nil)
		if err != nil {
			return 0, err
		}
		m, err := r.ReadAt(ctx, want, off)
		done += m
		if err != nil && !errors.Is(err, io.EOF) {
			return done, err
		}
		if f == nil || m < len(want) || done == len(p) {
			return done, nil
		}
	}
	m, err := f.ReadAt(p[done:], off+int64(done))
	done += m
	if err != nil && !errors.Is(err, io.EOF) {
		return done, err
	}
	return done, nil
}

// ReadSlices serves a read of a file S3 holds entirely without copying:
// it returns the read-ahead's buffers (p is scratch for bytes fetched
// directly), valid until release. ok is false when the file has local
// bytes or the read failed; the caller then uses Read, which also handles
// retries.
func (h *Handle) ReadSlices(ctx context.Context, p []byte, off int64) (bufs [][]byte, release func(), ok bool) {
	n := h.node
	n.mu.Lock()
	local := n.file != nil
	etag, size := n.etag, n.size
	n.mu.Unlock()
	if local || off >= size {
		return nil, nil, false
	}
	if int64(len(p)) > size-off {
		p = p[:size-off]
	}
	r, err := h.remote(etag, size, false)
	if err != nil {
		return nil, nil, false
	}
	bufs, m, release, err := r.ReadSlices(ctx, p, off)
	if err != nil {
		return nil, nil, false
	}
	if m > 0 {
		h.mu.Lock()
		h.served = true
		h.mu.Unlock()
	}
	return bufs, release, true
}

// freshStale handles a handle that meets a changed object before it has
// returned a byte: the open raced with a remote replace inside the metadata
// TTL. Nothing old was read, so it may switch to the new object.
func (h *Handle) freshStale(ctx context.Context) bool {
	h.mu.Lock()
	served := h.served
	h.mu.Unlock()
	n := h.node
	n.mu.Lock()
	local := n.file != nil
	p := n.path
	n.mu.Unlock()
	if served || local {
		return false
	}
	asked := time.Now()
	info, err := n.fs.st.Head(ctx, n.fs.key(p))
	if err != nil {
		return false
	}
	n.mu.Lock()
	changed := n.file == nil && info.ETag != n.etag && !asked.Before(n.changedAtLocked())
	if changed {
		n.setRemoteLocked(info, asked, true)
	}
	n.mu.Unlock()
	if changed {
		h.mu.Lock()
		if h.reader != nil {
			h.reader.Close()
			h.reader = nil
		}
		h.mu.Unlock()
	}
	return changed
}

// remote returns the handle's S3 reader, following the file's ETag when it
// moved because of our own publication (same bytes, extended), but never
// when someone else replaced the object: then reads fail with ESTALE.
// local: the file's local bytes follow the part read from S3.
func (h *Handle) remote(etag string, size int64, local bool) (*readahead.Reader, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := h.node.fs.key(h.node.Path())
	if h.reader != nil && (h.rETag != etag || h.rKey != key) {
		// Moved by this host (a publication, a rename, an edit through
		// another handle: the file is the same inode, and a local file
		// system's reader sees its new bytes too): follow it. Moved by
		// another host: stay pinned (ESTALE), never mix two objects.
		n := h.node
		n.mu.Lock()
		// A new key is always ours: a rename here copied the object.
		own := h.rETag == etag || h.rKey != key || n.ws().ownETags.has(etag)
		n.mu.Unlock()
		if !own && (local || h.reader.Size() != size) {
			// The old object is not the file's remote part: read
			// to the node's size, or up to where the local bytes
			// start, it would come back short or mixed with ours.
			// Its parts and decompressed members are served from
			// caches without S3's 412, so say so here (after a
			// rebase whose publication failed, a read stopped at
			// the old end, short of our lines).
			return nil, fmt.Errorf("%s: %w", key, readahead.ErrStale)
		}
		if !own {
			return h.reader, nil // pinned: S3 answers 412 -> ESTALE
		}
		h.reader.Close()
		h.reader = nil
	}
	if h.reader == nil {
		h.reader = h.node.fs.ra.Open(key, etag, size)
		h.rETag, h.rKey = etag, key
	}
	return h.reader, nil
}

// followAttrsCopy: a GET pinned to etag, a version of size bytes, was
// refused. If S3 holds an attributes copy of that version (a chmod's copy
// onto itself whose answer was lost), it reports true and the node follows
// it, as the copy's answer would have moved it: a read or an edit goes on
// with the same bytes instead of failing with ESTALE for the mount's own
// attribute change (seeds 9356054, 163985704). etag is the node's object
// (the node and its spool file's base move to the copy), or a reader's
// pinned version when the node already has the copy's ETag from a
// listing, which carries no tag to tell a copy by (seed 97371735): the
// copy's ETag is then counted the node's own, so readers follow it.
// A caller with a spool file holds the job's token.
func (n *Node) followAttrsCopy(ctx context.Context, etag string, size int64) bool {
	n.mu.Lock()
	f, p, at, same := n.file, n.path, n.etag, n.size == size && n.state == stateInS3
	n.mu.Unlock()
	if !same {
		return false
	}
	to, ok := n.fs.pub.AttrsCopy(ctx, f, n.fs.key(p), etag, size)
	if !ok || (at != etag && at != to) {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch n.etag {
	case etag:
		n.recopiedLocked(etag, to)
		n.wroteLocked(size, etag, to)
	case to:
		n.recopiedLocked(etag, to)
	}
	return n.etag == to
}
