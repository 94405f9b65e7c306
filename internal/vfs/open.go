package vfs

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/s3mount/s3mount/internal/publish"
	"github.com/s3mount/s3mount/internal/readahead"
	"github.com/s3mount/s3mount/internal/s3store"
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
	rKey   string // the key the reader reads (a rename moves the file)
	served bool   // a read returned bytes: the handle is pinned to what it saw
	// dropLine: a non-blocking drop took the head of this handle's current
	// line; its tail is dropped too (no part of a line is ever published).
	dropLine bool

	// How the kernel serves it (localreads.go); set at open, under n.mu.
	io        IOMode
	pinned    *spool.File // the data file it names as backing, pinned
	cacheFile bool        // it names the node's cache file (writeState.cached) instead
	pinnedFd  int
	unsettled atomic.Bool // IODirect, no request seen on it yet (settled)
	// mapSize, mapBase, mapPublished: the size of the data file a
	// read-write IOLocalWriter open names, the checksum of those bytes
	// and how many of them S3 had, taken at the open (noteMapped). Set
	// before the kernel has the handle.
	mapSize      int64
	mapBase      uint32
	mapBaseOK    bool
	mapPublished int64
	// mapFile: the spool file h is counted as mapping (writeState.mapOpens)
	// until its release; nil: not counted.
	mapFile *spool.File
}

// Node is the file the handle is open on.
func (h *Handle) Node() *Node { return h.node }

// Create makes and opens a new file. With O_EXCL an existing name is
// EEXIST; otherwise an existing file is opened as Open would.
func (fs *FS) Create(ctx context.Context, dir *Node, name string, flags int, mode os.FileMode) (_ *Node, _ *Handle, err error) {
	defer fs.touchDirs(&err, dir)
	if fs.opt.ReadOnly {
		return nil, nil, ErrReadOnly
	}
	if err := fs.checkNewName(dir, name, false); err != nil {
		return nil, nil, err
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
	if fs.pub.Compressed(fs.key(p)) {
		// A compressed log over another file's object is refused; a
		// plain NAME.gz beside the compressed NAME (logrotate's compress)
		// is made, and its publication waits for NAME to go
		// (publish.ErrHeld).
		if err := fs.checkObjectFree(ctx, p, true); err != nil {
			return nil, nil, err
		}
	}
	kind := spool.KindWhole
	if flags&os.O_APPEND != 0 {
		kind = spool.KindAppend
	}
	unlock := fs.lockPaths(p)
	defer unlock()
	fs.mu.Lock()
	old := fs.byPath.get(p)
	fs.mu.Unlock()
	if old != nil {
		// Raced with another create (or a rename) of the same name: use theirs.
		unlock()
		h, err := fs.Open(ctx, old, flags&^os.O_TRUNC)
		return old, h, err
	}
	uid, gid := fs.ownerFor(ctx, dir)
	j := spool.Journal{Key: fs.key(p), Kind: kind, Dirty: kind == spool.KindWhole, Mode: statPerm(mode) | syscall.S_IFREG, UID: uid, GID: gid}
	fs.pub.ClaimLeft(&j) // an object a rename left here: replaced, not appended to
	f, err := fs.newSpoolFile(j)
	if err != nil {
		return nil, nil, fs.spoolErr(err, p)
	}
	fs.mu.Lock()
	n = fs.newNodeLocked(p, false)
	n.mu.Lock()
	n.file = f
	n.mtime = time.Now()
	la := n.attrsLocked()
	la.mode, la.modeSet = permOf(mode), true
	la.uid, la.gid = uid, gid
	n.metaKnown = true
	n.mu.Unlock()
	fs.mu.Unlock()
	h := n.newHandle(flags, false)
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
	if n.isSpecial() {
		return nil, syscall.ENXIO // never opened through S3 (symlink.go)
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
			// An unlink in progress finishes first (it copies the bytes
			// of open files into the spool before the object goes).
			n.ws().wmu.Lock()
			defer n.ws().wmu.Unlock()
			if n.isUnlinked() {
				return nil, ErrNotFound
			}
			return n.newHandle(flags, true), nil
		}
	}
	if fs.opt.ReadOnly {
		return nil, ErrReadOnly
	}
	if err := fs.learnAttrs(ctx, n); err != nil {
		return nil, err
	}
	if flags&os.O_TRUNC != 0 {
		// Truncating bytes a publication is reading: it ends first.
		defer n.ws().job.Hold()()
		if err := n.settle(ctx, false); err != nil {
			return nil, err
		}
	}
	n.ws().wmu.Lock()
	defer n.ws().wmu.Unlock()
	n.mu.Lock()
	local := n.file != nil
	exists, size, etag := n.state == stateInS3, n.size, n.etag
	unlinked := n.state == stateUnlinked
	n.mu.Unlock()
	if unlinked {
		return nil, ErrNotFound // unlinked or replaced since the lookup
	}
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
		if fs.takeCached(ctx, n, size, etag, false) {
			// Cut in place: the readers of the cache file see the cut.
			if err := n.truncateLocal(ctx, 0); err != nil {
				return nil, err
			}
		} else if err := fs.attachFile(n, spool.Journal{Key: fs.key(n.Path()), Kind: spool.KindWhole, Dirty: true, Exists: true, BaseETag: etag}); err != nil {
			return nil, err
		}
	case flags&os.O_APPEND != 0:
		// Appends never destroy a byte: allowed by default.
		if fs.takeCached(ctx, n, size, etag, false) {
			break
		}
		if err := fs.attachFile(n, appendJournal(fs.key(n.Path()), etag, size)); err != nil {
			return nil, err
		}
	default:
		if !fs.opt.AllowOverwrite {
			fs.log.Warn("refused to edit an existing object in place (mount with --allow-overwrite)", "key", fs.key(n.Path()), "errno", "EPERM")
			return nil, ErrPerm
		}
		if err := fs.copyInFresh(ctx, n, size, etag); err != nil {
			return nil, err
		}
	}
	if !local && !fs.named(n) {
		// Dropped from the name table since its lookup (its object
		// gone, or one a rename moved away): a spool file here would be
		// a second file of that name. Checked once the file is attached,
		// which keeps the node from being dropped; the kernel looks the
		// name up again.
		n.mu.Lock()
		f := n.file
		n.file = nil
		n.mu.Unlock()
		if f != nil {
			f.Remove()
		}
		return nil, ErrStale
	}
	h := n.newHandle(flags, true)
	h.noteMapBase()
	if flags&os.O_TRUNC != 0 {
		h.markWrote() // truncated: close publishes even without a write
	}
	return h, nil
}

// named reports whether n is the node of its path in the name table.
func (fs *FS) named(n *Node) bool {
	p := n.Path()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.byPath.get(p) == n
}

// learnAttrs asks S3 for the attributes of an object about to be written,
// renamed or changed through a node made from a listing: what is written
// then carries the object's own attributes, not the mount's defaults.
func (fs *FS) learnAttrs(ctx context.Context, n *Node) error {
	n.mu.Lock()
	need := fs.opt.PosixMetadata && !n.dir && !n.metaKnown && n.state == stateInS3 && n.file == nil && !n.attrDirty
	p := n.path
	n.mu.Unlock()
	if !need {
		return nil
	}
	asked := time.Now()
	info, err := fs.st.Head(ctx, fs.key(p))
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	n.mu.Lock()
	if n.file == nil {
		n.setRemoteLocked(info, asked, true)
	}
	n.mu.Unlock()
	return nil
}

// refresh re-reads a published file's metadata when the cache is stale, so
// that a new open sees the current object.
func (fs *FS) refresh(ctx context.Context, n *Node) error {
	n.mu.Lock()
	skip := n.file != nil || n.state != stateInS3 || (time.Since(n.checked) < fs.opt.MetadataTTL && n.metaKnownLocked())
	p := n.path
	n.mu.Unlock()
	if skip {
		return nil
	}
	asked := time.Now()
	info, err := fs.st.Head(ctx, fs.key(p))
	if err != nil {
		if isNotFound(err) {
			return ErrNotFound
		}
		return err
	}
	n.mu.Lock()
	if n.file == nil {
		n.setRemoteLocked(info, asked, true)
	}
	n.mu.Unlock()
	return nil
}

// newSpoolFile starts a spool file (logged at debug level: which journal a
// file's publications start from is what a conflict's story needs).
func (fs *FS) newSpoolFile(j spool.Journal) (*spool.File, error) {
	f, err := fs.sp.Create(j)
	if err == nil {
		fs.log.Debug("spool file", "key", j.Key, "kind", j.Kind, "exists", j.Exists, "base_size", j.BaseSize, "base_etag", j.BaseETag, "spool_file", f.ID())
	}
	return f, err
}

func (fs *FS) attachFile(n *Node, j spool.Journal) error {
	n.mu.Lock()
	j.Mode, j.UID, j.GID = n.unpublishedAttrsLocked()
	n.mu.Unlock()
	f, err := fs.newSpoolFile(j)
	if err != nil {
		return fs.spoolErr(err, n.Path())
	}
	n.mu.Lock()
	n.file = f
	n.mu.Unlock()
	return nil
}

// copyInFresh is copyIn for an open: when the object changed since this
// host last looked, the open takes it as it is now (it has served nothing
// yet), instead of failing with ESTALE.
func (fs *FS) copyInFresh(ctx context.Context, n *Node, size int64, etag string) error {
	err := fs.copyIn(ctx, n, size, etag)
	if !errors.Is(err, s3store.ErrPrecondition) {
		return err
	}
	info, herr := fs.st.Head(ctx, fs.key(n.Path()))
	if herr != nil {
		return err
	}
	if err := fs.copyIn(ctx, n, info.Size, info.ETag); err != nil {
		return err
	}
	n.mu.Lock()
	n.state, n.size, n.etag, n.checked = stateInS3, info.Size, info.ETag, time.Now()
	n.mu.Unlock()
	return nil
}

// copyIn brings a published object into the spool for editing.
func (fs *FS) copyIn(ctx context.Context, n *Node, size int64, etag string) error {
	if size > fs.opt.MaxEditSize {
		fs.log.Warn("file too large to edit in place (see --max-edit-size)", "key", fs.key(n.Path()), "size", size, "errno", "EFBIG")
		return ErrTooBig
	}
	if fs.takeCached(ctx, n, size, etag, true) {
		return nil
	}
	j := spool.Journal{Key: fs.key(n.Path()), Kind: spool.KindAppend, Exists: true, BaseSize: size, BaseETag: etag}
	f, err := fs.newSpoolFile(j)
	if err != nil {
		return fs.spoolErr(err, n.Path())
	}
	if err := fs.fill(ctx, f, n.Path(), 0, size, etag); err != nil {
		f.Remove()
		if errors.Is(err, s3store.ErrPrecondition) && n.followAttrsCopy(ctx, etag, size) {
			// An attributes copy of the version now: the same bytes.
			n.mu.Lock()
			etag = n.etag
			n.mu.Unlock()
			return fs.copyIn(ctx, n, size, etag)
		}
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

// newHandle counts a new open; canPin: n.wmu is held (localreads.go).
func (n *Node) newHandle(flags int, canPin bool) *Handle {
	acc := flags & syscall.O_ACCMODE
	h := &Handle{node: n, flags: flags, write: acc != os.O_RDONLY || flags&os.O_TRUNC != 0, append: flags&os.O_APPEND != 0}
	cp := n.pinCached(h)
	n.mu.Lock()
	if !n.chooseIOLocked(h, canPin, cp) && cp != nil {
		defer cp.unpin() // after n.mu (deferred calls run last in, first out)
	}
	n.handles++
	if h.write {
		n.ws().writers++
		if h.append {
			n.ws().appenders++
			n.ws().logMode = true
		}
	}
	n.mu.Unlock()
	return h
}

// Flush is close(2). Writers without O_APPEND get Mountpoint's atomic
// semantics: the object is published before close returns, and an upload
// error is close's error. Log writers never wait here.
func (h *Handle) Flush(ctx context.Context) error {
	h.settled()
	h.mu.Lock()
	wrote := h.wrote
	h.wrote = false
	h.mu.Unlock()
	if !h.write || h.append || !wrote {
		return nil
	}
	err := h.node.publish(ctx, true)
	if errors.Is(err, publish.ErrHeld) {
		// Kept in the spool; its job publishes it once the other file
		// is gone (one log line said so).
		return nil
	}
	if err != nil {
		h.markWrote() // the next close or fsync tries again
	}
	return err
}

// markWrote records that the handle changed the file (a write, or a
// truncation by O_TRUNC or ftruncate): its close publishes.
func (h *Handle) markWrote() {
	h.mu.Lock()
	h.wrote = true
	h.mu.Unlock()
}

// Fsync returns once S3 has every byte written so far.
// Any descriptor will do: `sync FILE` opens the file read-only.
func (h *Handle) Fsync(ctx context.Context) error {
	h.settled()
	n := h.node
	h.mu.Lock()
	h.wrote = false
	h.mu.Unlock()
	n.mu.Lock()
	f := n.file
	n.mu.Unlock()
	if f == nil {
		return nil
	}
	_ = f.Sync()
	err := n.publish(ctx, true)
	if err != nil && h.write {
		h.markWrote() // a close after a failed fsync still publishes
	}
	return err
}

// Release is the last close of the handle.
func (h *Handle) Release() {
	n := h.node
	h.mu.Lock()
	if h.reader != nil {
		h.reader.Close()
		h.reader = nil
	}
	h.mu.Unlock()
	h.noteMapped()
	n.mu.Lock()
	if unpin := n.releaseIOLocked(h); unpin != nil {
		defer unpin() // after n.mu: it may close the cache file
	}
	n.handles--
	if h.write {
		n.ws().writers--
		if h.append {
			n.ws().appenders--
		}
	}
	n.ws().lastClose = time.Now()
	lastWriter := h.write && n.ws().writers == 0
	if lastWriter && n.ws().drops.writes > 0 {
		n.mu.Unlock()
		n.markGapAtEnd()
		n.mu.Lock()
	}
	dirty := n.file != nil && n.dirtyLocked()
	log := n.ws().logMode
	idle := n.handles == 0
	// The writes' mtime an earlier append did not carry (Express).
	mtimeDue := lastWriter && !dirty && n.expressMtimeDueLocked()
	n.mu.Unlock()
	switch {
	case lastWriter && dirty && log:
		n.ws().job.Closed()
	case idle && !dirty:
		n.dropClean()
	}
	if mtimeDue {
		n.ws().job.After(n.fs.timing.CloseDelay)
	}
}

func (n *Node) dirtyLocked() bool {
	if n.file == nil || n.state == stateUnlinked {
		return false
	}
	j := n.file.Journal()
	if j.MapCheck != nil && n.ws().mapOpens == 0 {
		return true // S3's bytes to compare first (noteMapped)
	}
	if j.Kind == spool.KindAppend {
		// (An object to replace is replaced even while the file is
		// empty: spool.BaseReplaced.)
		return j.Size > j.BaseSize || !j.Exists || j.Base == spool.BaseReplaced
	}
	return j.Dirty
}

// dropClean lets go of the spool file of a published, unused file, and
// of the node too if the kernel forgot it meanwhile.
func (n *Node) dropClean() {
	defer n.ws().job.Hold()()
	n.ws().wmu.Lock()
	defer n.ws().wmu.Unlock()
	if n.dropCleanFile() {
		n.fs.letGoIfForgotten(n)
	}
}

func (n *Node) dropCleanFile() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.handles > 0 || n.file == nil || (n.dirtyLocked() && n.state != stateUnlinked) || n.ws().stream != nil {
		return false
	}
	if n.state != stateUnlinked && journalDue(n.file.Journal()) {
		return false // its publication does that work first
	}
	if n.state != stateUnlinked && n.ws().drops.writes > 0 {
		// Drops the last close could not mark (no room even for the
		// marker): the count lives on the node, and the job writes the
		// marker into this file once there is room, or at unmount.
		return false
	}
	f := n.file
	j := f.Journal()
	n.file = nil
	if n.state != stateUnlinked && j.Exists {
		n.size, n.etag, n.state = j.BaseSize, j.BaseETag, stateInS3
		n.checked = time.Now()
	}
	n.ws().logMode = false
	f.Remove()
	return true
}
