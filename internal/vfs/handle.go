package vfs

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/s3mount/s3mount/internal/readahead"
	"github.com/s3mount/s3mount/internal/spool"
)

// Handle is one open file.
type Handle struct {
	node   *Node
	flags  int
	write  bool
	append bool

	mu     sync.Mutex
	wrote  bool // wrote since the last flush
	reader *readahead.Reader
	rETag  string
	served bool // a read returned bytes: the handle is pinned to what it saw
}

// Node is the file the handle is open on.
func (h *Handle) Node() *Node { return h.node }

// Create makes and opens a new file. With O_EXCL an existing name is
// EEXIST; otherwise an existing file is opened as Open would.
func (fs *FS) Create(ctx context.Context, dir *Node, name string, flags int, mode os.FileMode) (*Node, *Handle, error) {
	if fs.opt.ReadOnly {
		return nil, nil, ErrReadOnly
	}
	if len(name) > 255 {
		return nil, nil, ErrNameTooLong
	}
	if !validName(name) {
		return nil, nil, syscall.EINVAL
	}
	n, err := fs.Lookup(ctx, dir, name)
	if err == nil {
		if flags&os.O_EXCL != 0 {
			return nil, nil, ErrExists
		}
		if n.dir {
			return nil, nil, ErrIsDir
		}
		h, err := fs.Open(ctx, n, flags)
		return n, h, err
	}
	if err != ErrNotFound {
		return nil, nil, err
	}
	p := join(dir.Path(), name)
	kind := spool.KindWhole
	if flags&os.O_APPEND != 0 {
		kind = spool.KindAppend
	}
	f, err := fs.sp.Create(spool.Journal{Key: fs.key(p), Kind: kind, Dirty: kind == spool.KindWhole})
	if err != nil {
		return nil, nil, fs.spoolErr(err, p)
	}
	fs.mu.Lock()
	if old := fs.byPath[p]; old != nil {
		// Raced with another create of the same name: use theirs.
		fs.mu.Unlock()
		f.Remove()
		h, err := fs.Open(ctx, old, flags&^os.O_TRUNC)
		return old, h, err
	}
	n = fs.newNodeLocked(p, false)
	n.mu.Lock()
	n.file = f
	n.mtime = time.Now()
	if mode != 0 {
		n.mode = mode.Perm()
	}
	n.mu.Unlock()
	fs.mu.Unlock()
	h := n.newHandle(flags)
	// A new file is published at close even if nothing is written (touch).
	h.wrote = !h.append
	return n, h, nil
}

// Open opens a file. Writing needs the file in the spool:
//   - O_APPEND on a published object: a spool file that extends it;
//   - O_TRUNC on a published object: --allow-overwrite, an empty spool file;
//   - writing without either (editing): --allow-overwrite, the object is
//     copied in (up to --max-edit-size).
func (fs *FS) Open(ctx context.Context, n *Node, flags int) (*Handle, error) {
	if n.dir {
		return nil, ErrIsDir
	}
	acc := flags & syscall.O_ACCMODE
	write := acc == os.O_WRONLY || acc == os.O_RDWR
	if !write {
		if flags&os.O_TRUNC != 0 && !fs.opt.ReadOnly {
			write = true // O_RDONLY|O_TRUNC truncates on Linux
		} else {
			if err := fs.refresh(ctx, n); err != nil {
				return nil, err
			}
			return n.newHandle(flags), nil
		}
	}
	if fs.opt.ReadOnly {
		return nil, ErrReadOnly
	}
	n.wmu.Lock()
	defer n.wmu.Unlock()
	n.mu.Lock()
	local := n.file != nil
	exists, size, etag := n.exists, n.size, n.etag
	n.mu.Unlock()
	switch {
	case local:
		if flags&os.O_TRUNC != 0 {
			if n.cutsPublished(0) {
				fs.log.Warn("refused to truncate bytes S3 already has (mount with --allow-overwrite)", "key", fs.key(n.Path()), "errno", "EPERM")
				return nil, ErrPerm
			}
			if err := n.truncateLocal(ctx, 0); err != nil {
				return nil, err
			}
		}
	case !exists:
		// Known here but not in S3 (unlinked elsewhere): start anew.
		if err := fs.attachFile(n, spool.Journal{Key: fs.key(n.Path()), Kind: spool.KindWhole, Dirty: true}); err != nil {
			return nil, err
		}
	case flags&os.O_TRUNC != 0:
		if !fs.opt.AllowOverwrite {
			fs.log.Warn("refused to overwrite an existing object (mount with --allow-overwrite)", "key", fs.key(n.Path()), "errno", "EPERM")
			return nil, ErrPerm
		}
		if err := fs.attachFile(n, spool.Journal{Key: fs.key(n.Path()), Kind: spool.KindWhole, Dirty: true, Exists: true, BaseETag: etag}); err != nil {
			return nil, err
		}
	case flags&os.O_APPEND != 0:
		// Appends never destroy a byte: allowed by default.
		if err := fs.attachFile(n, spool.Journal{Key: fs.key(n.Path()), Kind: spool.KindAppend, Exists: true,
			BaseSize: size, BaseETag: etag, Shift: size, LocalStart: size, Size: size}); err != nil {
			return nil, err
		}
	default:
		if !fs.opt.AllowOverwrite {
			fs.log.Warn("refused to edit an existing object in place (mount with --allow-overwrite)", "key", fs.key(n.Path()), "errno", "EPERM")
			return nil, ErrPerm
		}
		if err := fs.copyIn(ctx, n, size, etag); err != nil {
			return nil, err
		}
	}
	return n.newHandle(flags), nil
}

// refresh re-reads a published file's metadata when the cache is stale, so
// that a new open sees the current object.
func (fs *FS) refresh(ctx context.Context, n *Node) error {
	n.mu.Lock()
	skip := n.file != nil || !n.exists || time.Since(n.checked) < fs.opt.MetadataTTL
	p := n.path
	n.mu.Unlock()
	if skip {
		return nil
	}
	info, err := fs.st.Head(ctx, fs.key(p))
	if err != nil {
		if isNotFound(err) {
			return ErrNotFound
		}
		return err
	}
	n.mu.Lock()
	if n.file == nil {
		n.setRemoteLocked(info, time.Now())
	}
	n.mu.Unlock()
	return nil
}

func (fs *FS) attachFile(n *Node, j spool.Journal) error {
	f, err := fs.sp.Create(j)
	if err != nil {
		return fs.spoolErr(err, n.Path())
	}
	n.mu.Lock()
	n.file = f
	n.mu.Unlock()
	return nil
}

// copyIn brings a published object into the spool for editing.
func (fs *FS) copyIn(ctx context.Context, n *Node, size int64, etag string) error {
	if size > fs.opt.MaxEditSize {
		fs.log.Warn("file too large to edit in place (see --max-edit-size)", "key", fs.key(n.Path()), "size", size, "errno", "EFBIG")
		return ErrTooBig
	}
	j := spool.Journal{Key: fs.key(n.Path()), Kind: spool.KindAppend, Exists: true, BaseSize: size, BaseETag: etag}
	f, err := fs.sp.Create(j)
	if err != nil {
		return fs.spoolErr(err, n.Path())
	}
	if err := fs.fill(ctx, f, n.Path(), 0, size, etag); err != nil {
		f.Remove()
		return err
	}
	if err := f.Update(func(j *spool.Journal) { j.Size = size }); err != nil {
		f.Remove()
		return err
	}
	n.mu.Lock()
	n.file = f
	n.mu.Unlock()
	return nil
}

// fill copies object bytes [off, off+size) into f at the same offsets.
func (fs *FS) fill(ctx context.Context, f *spool.File, p string, off, size int64, etag string) error {
	if size == 0 {
		return nil
	}
	rc, err := fs.st.Get(ctx, fs.key(p), off, size, etag)
	if err != nil {
		return err
	}
	defer rc.Close()
	buf := make([]byte, 1<<20)
	for pos := off; pos < off+size; {
		m, err := io.ReadFull(rc, buf[:min(int64(len(buf)), off+size-pos)])
		if m > 0 {
			if _, werr := f.WriteAt(buf[:m], pos); werr != nil {
				return fs.spoolErr(werr, p)
			}
			pos += int64(m)
		}
		if err != nil {
			if pos == off+size {
				break
			}
			return err
		}
	}
	return nil
}

func (n *Node) newHandle(flags int) *Handle {
	acc := flags & syscall.O_ACCMODE
	h := &Handle{node: n, flags: flags, write: acc != os.O_RDONLY || flags&os.O_TRUNC != 0, append: flags&os.O_APPEND != 0}
	n.mu.Lock()
	n.handles++
	if h.write {
		n.writers++
		if h.append {
			n.appenders++
			n.logMode = true
		}
	}
	n.mu.Unlock()
	return h
}

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
		if err == nil || tries >= 3 || !errors.Is(err, readahead.ErrStale) {
			return m, err
		}
		// S3 may have the new object before the publication in flight
		// records its ETag: let it finish.
		h.node.pubMu.Lock()
		h.node.pubMu.Unlock()
		h.node.mu.Lock()
		moved := h.node.etag != etag
		h.node.mu.Unlock()
		if !moved && !h.freshStale(ctx) {
			return m, err
		}
		// Our own publication of a growing log replaced the object
		// during the read (copytruncate reading a busy log): read again;
		// remote follows our own ETags and stays pinned to others'.
	}
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
		r, err := h.remote(etag, remoteSize)
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
	r, err := h.remote(etag, size)
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
	info, err := n.fs.st.Head(ctx, n.fs.key(p))
	if err != nil {
		return false
	}
	n.mu.Lock()
	changed := n.file == nil && info.ETag != n.etag
	if changed {
		n.setRemoteLocked(info, time.Now())
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
func (h *Handle) remote(etag string, size int64) (*readahead.Reader, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reader != nil && h.rETag != etag {
		n := h.node
		n.mu.Lock()
		own := n.ownETags[h.rETag] && n.ownETags[etag]
		n.mu.Unlock()
		if !own {
			return h.reader, nil // pinned: S3 answers 412 -> ESTALE
		}
		h.reader.Close()
		h.reader = nil
	}
	if h.reader == nil {
		h.reader = h.node.fs.ra.Open(h.node.fs.key(h.node.Path()), etag, size)
		h.rETag = etag
	}
	return h.reader, nil
}

// Write stores data in the spool. O_APPEND writes go to the end, whatever
// offset the kernel sent, so that writers sharing a file never overwrite
// each other and one write() is never split by another.
func (h *Handle) Write(ctx context.Context, data []byte, off int64) (int, error) {
	n := h.node
	fs := n.fs
	if !h.write {
		return 0, syscall.EBADF
	}
	n.wmu.Lock()
	defer n.wmu.Unlock()
	n.mu.Lock()
	f := n.file
	unlinked := n.unlinked
	n.mu.Unlock()
	if f == nil {
		return 0, syscall.EBADF
	}
	j := f.Journal()
	if h.append {
		off = j.Size
	}
	if off < j.BaseSize && j.Kind == spool.KindAppend {
		// Rewriting published bytes turns the file into a whole edit.
		if !fs.opt.AllowOverwrite && j.Exists {
			return 0, ErrPerm
		}
		if err := n.makeWhole(ctx); err != nil {
			return 0, err
		}
	}
	if h.append && !unlinked {
		if err := n.writeDropMarker(ctx, f); err != nil {
			return 0, err
		}
		off = f.Journal().Size
	}
	for {
		growth := f.Growth(off, int64(len(data)))
		if !fs.sp.Fits(growth) {
			// Full: publish now rather than at the interval.
			fs.kick()
		}
		err := fs.sp.Reserve(ctx, growth)
		if errors.Is(err, spool.ErrFull) && h.append && n.midLine() {
			// The kernel splits a write() that crosses a page boundary into
			// two requests; dropping the second half would tear a line that
			// was half accepted. Finish the line, over budget by one request.
			fs.sp.Force(growth)
			err = nil
		}
		if errors.Is(err, spool.ErrFull) {
			n.recordDrop(len(data))
			return len(data), nil // non-blocking: counted, marked, never waits
		}
		if err != nil {
			return 0, ErrInterrupted
		}
		m, err := f.WriteAt(data, off)
		if err != nil {
			fs.sp.Release(growth)
			if isNoSpace(err) {
				fs.warnEvery("spool-full", 10*time.Second, "spool disk is full: treating it as a full buffer", "dir", fs.sp.Dir(), "mode", modeName(fs.sp.Mode()))
				fs.kick()
				if fs.reclaim() {
					continue
				}
				if fs.sp.Mode() == spool.NonBlocking {
					n.recordDrop(len(data))
					return len(data), nil
				}
				if err := fs.waitForSpace(ctx); err != nil {
					return 0, err
				}
				continue
			}
			return 0, ErrIO
		}
		h.mu.Lock()
		h.wrote = true
		h.mu.Unlock()
		now := time.Now()
		n.mu.Lock()
		if h.append && m > 0 {
			n.openLine = data[m-1] != '\n'
		}
		n.localMtime = now
		first := n.dirtySince.IsZero()
		if first {
			n.dirtySince = now
		}
		log := n.logMode
		n.mu.Unlock()
		if log && !unlinked && first {
			fs.scheduleLog(n)
		}
		if !h.append && !unlinked {
			n.streamAdvance(ctx, off, m)
		}
		return m, nil
	}
}

// midLine: the last append ended inside a line.
func (n *Node) midLine() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.openLine
}

func modeName(m spool.Mode) string {
	if m == spool.NonBlocking {
		return "non-blocking"
	}
	return "blocking"
}

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// waitForSpace waits (blocking mode) until a publication frees spool space.
func (fs *FS) waitForSpace(ctx context.Context) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for fs.sp.DiskFull() {
		select {
		case <-ctx.Done():
			return ErrInterrupted
		case <-t.C:
		}
		if fs.reclaim() {
			break
		}
	}
	return nil
}

// reclaim frees the disk blocks of bytes S3 already has (kept locally only
// to save a GET on the next small re-put). It reports whether it freed any.
func (fs *FS) reclaim() bool {
	fs.mu.Lock()
	var files []*spool.File
	for _, n := range fs.nodes {
		n.mu.Lock()
		if n.file != nil {
			files = append(files, n.file)
		}
		n.mu.Unlock()
	}
	fs.mu.Unlock()
	freed := false
	for _, f := range files {
		j := f.Journal()
		if j.Kind == spool.KindAppend && j.Exists && j.LocalStart < j.BaseSize {
			if f.Punch(j.LocalStart, j.BaseSize-j.LocalStart) == nil {
				freed = true
			}
		}
	}
	if freed {
		fs.sp.ClearDiskFull()
	}
	return freed
}

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

// Flush is close(2). Writers without O_APPEND get Mountpoint's atomic
// semantics: the object is published before close returns, and an upload
// error is close's error. Log writers never wait here.
func (h *Handle) Flush(ctx context.Context) error {
	h.mu.Lock()
	wrote := h.wrote
	h.wrote = false
	h.mu.Unlock()
	if !h.write || h.append || !wrote {
		return nil
	}
	return h.node.publish(ctx, true)
}

// Fsync returns once S3 has every byte written so far.
func (h *Handle) Fsync(ctx context.Context) error {
	if !h.write {
		return nil
	}
	h.mu.Lock()
	h.wrote = false
	h.mu.Unlock()
	if f := h.node.file; f != nil {
		_ = f.Sync()
	}
	return h.node.publish(ctx, true)
}

// Release is the last close of the handle.
func (h *Handle) Release() {
	n := h.node
	fs := n.fs
	h.mu.Lock()
	if h.reader != nil {
		h.reader.Close()
		h.reader = nil
	}
	h.mu.Unlock()
	n.mu.Lock()
	n.handles--
	if h.write {
		n.writers--
		if h.append {
			n.appenders--
		}
	}
	n.lastClose = time.Now()
	lastWriter := h.write && n.writers == 0
	if lastWriter && n.drops.writes > 0 && n.file != nil && !n.unlinked {
		// Drops with no write after them: mark the gap at the end now.
		n.mu.Unlock()
		n.wmu.Lock()
		if f := n.file; f != nil {
			n.dropMarker(context.Background(), f, true)
		}
		n.wmu.Unlock()
		n.mu.Lock()
	}
	dirty := n.file != nil && n.dirtyLocked()
	log := n.logMode
	idle := n.handles == 0
	n.mu.Unlock()
	switch {
	case lastWriter && dirty && log:
		fs.scheduleLog(n)
	case idle && !dirty:
		n.dropClean()
	}
}

func (n *Node) dirtyLocked() bool {
	if n.file == nil || n.unlinked {
		return false
	}
	j := n.file.Journal()
	if j.Kind == spool.KindAppend {
		return j.Size > j.BaseSize || !j.Exists
	}
	return j.Dirty
}

// dropClean lets go of the spool file of a published, unused file.
func (n *Node) dropClean() {
	n.pubMu.Lock()
	defer n.pubMu.Unlock()
	n.wmu.Lock()
	defer n.wmu.Unlock()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.handles > 0 || n.file == nil || (n.dirtyLocked() && !n.unlinked) || n.stream != nil {
		return
	}
	f := n.file
	j := f.Journal()
	n.file = nil
	if !n.unlinked && j.Exists {
		n.size, n.etag, n.exists = j.BaseSize, j.BaseETag, true
		n.checked = time.Now()
	}
	n.logMode = false
	f.Remove()
}

// truncateLocal sets a spooled file's size (n.wmu held).
func (n *Node) truncateLocal(ctx context.Context, size int64) error {
	n.mu.Lock()
	f := n.file
	n.mu.Unlock()
	if size == 0 {
		// ftruncate(0) (logrotate copytruncate) keeps no old byte: no need
		// to fetch the published part, however large the log is.
		if err := f.Update(func(j *spool.Journal) {
			j.Kind, j.Dirty, j.LocalStart, j.Shift = spool.KindWhole, true, 0, 0
		}); err != nil {
			return n.fs.spoolErr(err, n.Path())
		}
	} else if err := n.makeWhole(ctx); err != nil {
		return err
	}
	n.mu.Lock()
	f = n.file
	n.mu.Unlock()
	n.abortStream()
	if err := f.Truncate(size); err != nil {
		return n.fs.spoolErr(err, n.Path())
	}
	n.mu.Lock()
	n.localMtime = time.Now()
	if n.dirtySince.IsZero() {
		n.dirtySince = n.localMtime
	}
	log := n.logMode
	n.mu.Unlock()
	if log {
		n.fs.schedule(n, time.Now().Add(n.fs.opt.UploadInterval))
	}
	return nil
}

// makeWhole turns an append file into a whole-file edit: every byte must be
// local, so the published part not in the spool is fetched (n.wmu held).
func (n *Node) makeWhole(ctx context.Context) error {
	n.mu.Lock()
	f := n.file
	n.mu.Unlock()
	j := f.Journal()
	if j.Kind == spool.KindWhole {
		return nil
	}
	if j.LocalStart > 0 {
		if j.Shift != 0 {
			// Bytes sit at an offset; move them so data offset = logical.
			if err := n.fs.relocate(ctx, n, f); err != nil {
				return err
			}
			// relocate replaced the spool file: go on with the new one.
			n.mu.Lock()
			f = n.file
			n.mu.Unlock()
			j = f.Journal()
		}
		if j.LocalStart > 0 {
			if j.BaseSize > n.fs.opt.MaxEditSize {
				return ErrTooBig
			}
			if err := f.Update(func(jj *spool.Journal) { jj.LocalStart = 0 }); err != nil {
				return err
			}
			if err := n.fs.fill(ctx, f, n.Path(), 0, j.LocalStart, j.BaseETag); err != nil {
				return err
			}
		}
	}
	return f.Update(func(jj *spool.Journal) { jj.Kind = spool.KindWhole; jj.Dirty = true })
}

// relocate rewrites a shifted spool file so that data offsets equal logical
// offsets (needed before an edit of an appended file).
func (fs *FS) relocate(ctx context.Context, n *Node, f *spool.File) error {
	j := f.Journal()
	nf, err := fs.sp.Create(spool.Journal{Key: j.Key, Kind: j.Kind, Exists: j.Exists, BaseSize: j.BaseSize, BaseETag: j.BaseETag, LocalStart: j.LocalStart, Size: j.LocalStart})
	if err != nil {
		return fs.spoolErr(err, n.Path())
	}
	buf := make([]byte, 1<<20)
	for off := j.LocalStart; off < j.Size; {
		m, err := f.ReadAt(buf[:min(int64(len(buf)), j.Size-off)], off)
		if m > 0 {
			if _, err := nf.WriteAt(buf[:m], off); err != nil {
				nf.Remove()
				return fs.spoolErr(err, n.Path())
			}
			off += int64(m)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			nf.Remove()
			return err
		}
		if m == 0 {
			break
		}
	}
	if err := nf.Update(func(jj *spool.Journal) { jj.Size = j.Size }); err != nil {
		nf.Remove()
		return err
	}
	n.mu.Lock()
	n.file = nf
	n.mu.Unlock()
	return f.Remove()
}

// spoolErr logs a spool failure once and maps it.
func (fs *FS) spoolErr(err error, p string) error {
	if isNoSpace(err) {
		fs.log.Warn("spool disk is full", "dir", fs.sp.Dir(), "path", p, "errno", "ENOSPC")
		return ErrNoSpace
	}
	fs.log.Error("spool error", "dir", fs.sp.Dir(), "path", p, "err", err)
	return ErrIO
}
