package vfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/s3mount/s3mount/internal/publish"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/spool"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

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
	if n.stream == nil {
		n.stream = &streamState{}
	}
	ss := n.stream
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
	part := fs.pcfg.PartSize
	if part < s3store.MinPartSize {
		part = 8 << 20
	}
	if ss.s == nil && ss.seqEnd >= 2*part {
		st, err := publish.StartStream(ctx, fs.st, j.Key, fs.pcfg)
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
	ss := n.stream
	n.stream = nil
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
	ss := n.stream
	n.stream = nil
	n.mu.Unlock()
	if ss != nil && ss.s != nil {
		ss.s.Abort()
	}
}

// dropState counts writes a non-blocking mount dropped while the buffer
// was full.
type dropState struct {
	bytes, writes int64
	first, last   time.Time
}

func (n *Node) recordDrop(size int) {
	now := time.Now()
	n.mu.Lock()
	startBurst := n.drops.writes == 0
	if startBurst {
		n.drops.first = now
	}
	n.drops.bytes += int64(size)
	n.drops.writes++
	n.drops.last = now
	p := n.path
	n.mu.Unlock()
	n.fs.count(func(s *Stats) { s.DroppedBytes += int64(size); s.DroppedWrites++ })
	if startBurst {
		n.fs.log.Warn("buffer full (non-blocking mode): dropping writes until S3 frees space", "path", p, "max_buffer_size", n.fs.sp.Max())
	}
}

// writeDropMarker writes the line that marks a gap left by dropped writes,
// once there is room again (n.wmu held).
func (n *Node) writeDropMarker(ctx context.Context, f *spool.File) error {
	return n.dropMarker(ctx, f, false)
}

// dropMarker writes the marker; force charges it over the buffer bound
// (the last close: no later write would carry it).
func (n *Node) dropMarker(ctx context.Context, f *spool.File, force bool) error {
	n.mu.Lock()
	d := n.drops
	p := n.path
	n.mu.Unlock()
	if d.writes == 0 {
		return nil
	}
	const layout = "2006-01-02T15:04:05.000Z07:00"
	torn := ""
	if n.midLine() {
		torn = "\n" // a disk-full drop cut a line: the marker starts its own
	}
	line := torn + fmt.Sprintf("s3mount: dropped %d bytes in %d writes between %s and %s: buffer full\n",
		d.bytes, d.writes, d.first.UTC().Format(layout), d.last.UTC().Format(layout))
	if n.fs.opt.DropMarker {
		off := f.Journal().Size
		growth := f.Growth(off, int64(len(line)))
		if force {
			n.fs.sp.Force(growth)
		} else if err := n.fs.sp.Reserve(ctx, growth); err != nil {
			if errors.Is(err, spool.ErrFull) {
				return nil // still full: keep counting
			}
			return ErrInterrupted
		}
		if _, err := f.WriteAt([]byte(line), off); err != nil {
			n.fs.sp.Release(growth)
			return nil
		}
		n.mu.Lock()
		n.openLine = false
		n.mu.Unlock()
	}
	n.mu.Lock()
	n.drops = dropState{}
	n.mu.Unlock()
	n.fs.log.Warn(strings.TrimSpace(line), "path", p)
	return nil
}

// Unlink removes a file. A file S3 has needs --allow-delete; a file only
// this host has (never published) can always go. Open handles keep
// working; nothing is published for the file afterwards.
func (fs *FS) Unlink(ctx context.Context, dir *Node, name string) error {
	if fs.opt.ReadOnly {
		return ErrReadOnly
	}
	n, err := fs.Lookup(ctx, dir, name)
	if err != nil {
		return err
	}
	if n.dir {
		return ErrIsDir
	}
	n.pubMu.Lock()
	defer n.pubMu.Unlock()
	n.mu.Lock()
	published := n.exists || (n.file != nil && n.file.Journal().Exists)
	p := n.path
	n.mu.Unlock()
	if published {
		if !fs.opt.AllowDelete {
			fs.log.Warn("refused to delete an object (mount with --allow-delete)", "key", fs.key(p), "errno", "EPERM")
			return ErrPerm
		}
		n.keepReadable(ctx)
		if err := fs.st.Delete(ctx, fs.key(p)); err != nil && !isNotFound(err) {
			return err
		}
		fs.keepParents(p)
	}
	fs.detach(n)
	return nil
}

// keepReadable brings an open file's published bytes into the spool before
// its object is deleted, so that open handles can still read it (POSIX
// unlink semantics), up to --max-edit-size.
func (n *Node) keepReadable(ctx context.Context) {
	n.wmu.Lock()
	defer n.wmu.Unlock()
	n.mu.Lock()
	open, local := n.handles > 0, n.file != nil
	size, etag := n.size, n.etag
	n.mu.Unlock()
	if !open {
		return
	}
	var err error
	if local {
		err = n.makeWhole(ctx)
	} else {
		err = n.fs.copyIn(ctx, n, size, etag)
	}
	if err != nil {
		n.fs.log.Warn("deleting an open file: its open handles cannot read it any more", "path", n.Path(), "err", err)
	}
}

// detach takes n off its name: it is unlinked or replaced.
func (fs *FS) detach(n *Node) {
	fs.sched.Cancel(n.ino)
	n.abortStream()
	fs.mu.Lock()
	fs.dropLocked(n)
	if fs.inoOf[n.path] == n.ino {
		delete(fs.inoOf, n.path) // a new file here is a new inode
	}
	if fs.opt.NegativeTTL > 0 {
		fs.negative[n.path] = time.Now().Add(fs.opt.NegativeTTL)
	}
	fs.mu.Unlock()
	n.mu.Lock()
	n.unlinked = true
	n.exists = false
	f := n.file
	idle := n.handles == 0
	if idle {
		n.file = nil
	}
	n.mu.Unlock()
	if f != nil && idle {
		f.Remove()
	}
}

// SetAttr is chmod/chown/utimes/truncate. Attributes live for the mount's
// life (S3 objects carry no POSIX attributes).
type SetAttr struct {
	Size         *int64
	Mode         *os.FileMode
	UID, GID     *uint32
	Atime, Mtime *time.Time
}

// Setattr applies a.
func (fs *FS) Setattr(ctx context.Context, n *Node, h *Handle, a SetAttr) error {
	if fs.opt.ReadOnly && a.Size != nil {
		return ErrReadOnly
	}
	if a.Size != nil && !n.dir {
		if err := fs.truncate(ctx, n, *a.Size); err != nil {
			return err
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if a.Mode != nil || a.UID != nil || a.GID != nil || a.Atime != nil || a.Mtime != nil {
		// Attributes live only here: the node must outlive the kernel's
		// forgetting it, or stat would lose them (rsync -a, logrotate).
		n.attrSet = true
	}
	if a.Mode != nil {
		n.mode = a.Mode.Perm()
	}
	if a.UID != nil {
		u := *a.UID
		n.uid = &u
	}
	if a.GID != nil {
		g := *a.GID
		n.gid = &g
	}
	if a.Atime != nil {
		n.atime = *a.Atime
	}
	if a.Mtime != nil {
		n.localMtime = *a.Mtime
	}
	return nil
}

func (fs *FS) truncate(ctx context.Context, n *Node, size int64) error {
	// An append publication in flight rewrites the journal when it ends and
	// does not hold wmu: let it finish first (copytruncate of a busy log).
	n.pubMu.Lock()
	unlockPub := sync.OnceFunc(n.pubMu.Unlock)
	defer unlockPub()
	n.wmu.Lock()
	n.mu.Lock()
	local := n.file != nil
	exists, cur, etag, handles := n.exists, n.sizeLocked(), n.etag, n.writers
	n.mu.Unlock()
	if !local {
		if size == cur && exists {
			n.wmu.Unlock()
			return nil
		}
		if exists && !fs.opt.AllowOverwrite {
			n.wmu.Unlock()
			fs.log.Warn("refused to truncate an existing object (mount with --allow-overwrite)", "key", fs.key(n.Path()), "errno", "EPERM")
			return ErrPerm
		}
		var err error
		if size == 0 || !exists {
			err = fs.attachFile(n, spool.Journal{Key: fs.key(n.Path()), Kind: spool.KindWhole, Dirty: true, Exists: exists, BaseETag: etag})
		} else {
			err = fs.copyIn(ctx, n, cur, etag)
		}
		if err != nil {
			n.wmu.Unlock()
			return err
		}
	}
	if local && n.cutsPublished(size) {
		n.wmu.Unlock()
		fs.log.Warn("refused to truncate bytes S3 already has (mount with --allow-overwrite)", "key", fs.key(n.Path()), "errno", "EPERM")
		return ErrPerm
	}
	err := n.truncateLocal(ctx, size)
	n.wmu.Unlock()
	unlockPub()
	if err != nil {
		return err
	}
	if handles == 0 {
		// truncate(2) by path: nobody will close the file, publish now.
		if err := n.publish(ctx, true); err != nil {
			return ErrIO
		}
		n.dropClean()
	}
	return nil
}

// cutsPublished: truncating the spooled file to size would cut bytes S3
// already has, which needs --allow-overwrite as for an idle object.
func (n *Node) cutsPublished(size int64) bool {
	n.mu.Lock()
	f := n.file
	n.mu.Unlock()
	if f == nil || n.fs.opt.AllowOverwrite {
		return false
	}
	j := f.Journal()
	return j.Exists && size < j.BaseSize
}

// RenameNoReplace is RENAME_NOREPLACE.
const RenameNoReplace = 1

// maxDirRenameKeys bounds a directory rename; above it rename answers
// EXDEV and mv falls back to copying.
const maxDirRenameKeys = 100

// Rename moves a file: server-side CopyObject + DeleteObject (needs
// --allow-delete, since the old key is deleted). Open handles and
// unpublished bytes follow the file to its new name.
func (fs *FS) Rename(ctx context.Context, odir *Node, oname string, ndir *Node, nname string, flags uint32) error {
	if fs.opt.ReadOnly {
		return ErrReadOnly
	}
	if flags&^RenameNoReplace != 0 {
		return syscall.EINVAL
	}
	if len(nname) > 255 {
		return ErrNameTooLong
	}
	src, err := fs.Lookup(ctx, odir, oname)
	if err != nil {
		return err
	}
	dst, err := fs.Lookup(ctx, ndir, nname)
	if err != nil && err != ErrNotFound {
		return err
	}
	if dst == src {
		return nil
	}
	if dst != nil && flags&RenameNoReplace != 0 {
		return ErrExists
	}
	newPath := join(ndir.Path(), nname)
	if src.dir {
		return fs.renameDir(ctx, src, dst, newPath)
	}
	if dst != nil && dst.dir {
		return ErrIsDir
	}

	src.pubMu.Lock()
	defer src.pubMu.Unlock()
	src.wmu.Lock()
	defer src.wmu.Unlock()
	src.mu.Lock()
	f := src.file
	oldPath := src.path
	srcExists, srcETag, srcSize := src.exists, src.etag, src.size
	src.mu.Unlock()
	var dstExists bool
	var dstETag string
	if dst != nil {
		dst.mu.Lock()
		dstExists, dstETag = dst.exists, dst.etag
		dst.mu.Unlock()
	}
	if (srcExists || dstExists) && !fs.opt.AllowDelete {
		fs.log.Warn("refused to rename: it deletes the old key (mount with --allow-delete)", "key", fs.key(oldPath), "errno", "EPERM")
		return ErrPerm
	}
	newKey := fs.key(newPath)
	if srcExists {
		// Copy what S3 has; local bytes past it move with the journal.
		var info s3store.ObjectInfo
		var cerr error
		if ex := fs.opt.Express; ex != nil {
			// Directory buckets rename atomically, server side.
			if err := ex.Rename(ctx, fs.key(oldPath), newKey); err != nil {
				return err
			}
			if info, err = fs.st.Head(ctx, newKey); err != nil {
				return err
			}
		} else if srcSize <= s3store.MaxCopySize {
			info, cerr = fs.st.Copy(ctx, fs.key(oldPath), srcETag, newKey, s3store.Cond{})
		} else {
			info, cerr = fs.copyLarge(ctx, fs.key(oldPath), srcETag, srcSize, newKey)
		}
		if cerr != nil {
			return cerr
		}
		if fs.opt.Express == nil {
			if err := fs.st.Delete(ctx, fs.key(oldPath)); err != nil && !isNotFound(err) {
				return err
			}
		}
		srcETag = info.ETag
	}
	if dst != nil {
		fs.detach(dst)
	}
	if f != nil {
		err := f.Update(func(j *spool.Journal) {
			j.Key = newKey
			if srcExists {
				j.BaseETag = srcETag
				j.Exists = true
			} else if dstExists {
				// Replacing an object: the first publication is a
				// whole-object overwrite of what was there.
				j.Exists, j.BaseETag = true, dstETag
				j.Kind, j.Dirty = spool.KindWhole, true
			}
		})
		if err != nil {
			return err
		}
	}
	fs.mu.Lock()
	fs.dropLocked(src)
	if fs.opt.NegativeTTL > 0 {
		fs.negative[oldPath] = time.Now().Add(fs.opt.NegativeTTL)
	}
	src.mu.Lock()
	src.path = newPath
	if srcExists {
		src.etag = srcETag
		src.ownETags[srcETag] = true
	}
	src.checked = time.Now()
	src.mu.Unlock()
	fs.byPath[newPath] = src
	delete(fs.inoOf, oldPath)
	fs.inoOf[newPath] = src.ino
	delete(fs.negative, newPath)
	fs.mu.Unlock()
	if srcExists {
		fs.markParentsPublished(newPath)
	}
	if f != nil {
		src.mu.Lock()
		dirty := src.dirtyLocked()
		log := src.logMode
		open := src.writers > 0
		src.mu.Unlock()
		if dirty && (log || !open) {
			fs.schedule(src, time.Now().Add(fs.opt.CloseDelay))
		}
	}
	return nil
}

// copyLarge copies an object over 5 GiB with UploadPartCopy.
func (fs *FS) copyLarge(ctx context.Context, src, etag string, size int64, dst string) (s3store.ObjectInfo, error) {
	id, err := fs.st.CreateMultipart(ctx, dst)
	if err != nil {
		return s3store.ObjectInfo{}, err
	}
	var parts []s3store.Part
	const chunk = 1 << 30
	num := int32(1)
	for off := int64(0); off < size; off += chunk {
		p, err := fs.st.UploadPartCopy(ctx, dst, id, num, src, etag, off, min(chunk, size-off))
		if err != nil {
			fs.st.AbortMultipart(context.WithoutCancel(ctx), dst, id)
			return s3store.ObjectInfo{}, err
		}
		parts = append(parts, p)
		num++
	}
	info, err := fs.st.CompleteMultipart(ctx, dst, id, parts, s3store.Cond{})
	if err != nil {
		fs.st.AbortMultipart(context.WithoutCancel(ctx), dst, id)
	}
	return info, err
}

// renameDir moves a directory: a local (mkdir'd, empty) one by name only; a
// small one key by key; a large one is EXDEV so that mv copies instead.
func (fs *FS) renameDir(ctx context.Context, src, dst *Node, newPath string) error {
	if dst != nil {
		if !dst.dir {
			return ErrNotDir
		}
		empty := true
		if err := fs.ReadDir(ctx, dst, func(DirEntry) bool { empty = false; return false }); err != nil {
			return err
		}
		if !empty {
			return ErrNotEmpty
		}
	}
	oldPath := src.Path()
	prefix := fs.dirKey(oldPath)
	var keys []s3store.ObjectInfo
	token := ""
	for {
		page, err := fs.st.List(ctx, prefix, "", token, 1000)
		if err != nil {
			return err
		}
		keys = append(keys, page.Objects...)
		if len(keys) > maxDirRenameKeys {
			return ErrCrossDev
		}
		if page.NextToken == "" {
			break
		}
		token = page.NextToken
	}
	// Files of this tree with local state would have to move too.
	fs.mu.Lock()
	for p, n := range fs.byPath {
		if strings.HasPrefix(p, oldPath+"/") && n != src {
			n.mu.Lock()
			busy := n.file != nil || n.handles > 0
			n.mu.Unlock()
			if busy {
				fs.mu.Unlock()
				return ErrCrossDev
			}
		}
	}
	fs.mu.Unlock()
	if len(keys) > 0 && !fs.opt.AllowDelete {
		return ErrPerm
	}
	newPrefix := fs.dirKey(newPath)
	for _, k := range keys {
		if _, err := fs.st.Copy(ctx, k.Key, k.ETag, newPrefix+strings.TrimPrefix(k.Key, prefix), s3store.Cond{}); err != nil {
			return err
		}
	}
	for _, k := range keys {
		if err := fs.st.Delete(ctx, k.Key); err != nil && !isNotFound(err) {
			return err
		}
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if dst != nil {
		fs.dropLocked(dst)
	}
	for p, n := range fs.byPath {
		if strings.HasPrefix(p, oldPath+"/") {
			delete(fs.byPath, p)
			delete(fs.inoOf, p)
			n.mu.Lock()
			n.path = newPath + strings.TrimPrefix(p, oldPath)
			n.mu.Unlock()
			fs.byPath[n.path] = n
			fs.inoOf[n.path] = n.ino
		}
	}
	fs.dropLocked(src)
	delete(fs.inoOf, oldPath)
	src.mu.Lock()
	src.path = newPath
	src.mu.Unlock()
	fs.byPath[newPath] = src
	fs.inoOf[newPath] = src.ino
	delete(fs.negative, newPath)
	return nil
}

// Allocate is fallocate(2), where it is cheap: FALLOC_FL_KEEP_SIZE reserves
// nothing (S3 has no space to reserve) and succeeds; mode 0 extends the
// file with zeros like ftruncate upwards. Punching holes and the other
// modes are EOPNOTSUPP.
func (h *Handle) Allocate(ctx context.Context, off, n int64, mode uint32) error {
	const keepSize = 0x01
	if !h.write {
		return syscall.EBADF
	}
	switch mode {
	case keepSize:
		return nil
	case 0:
	default:
		return syscall.EOPNOTSUPP
	}
	node := h.node
	node.mu.Lock()
	size := node.sizeLocked()
	node.mu.Unlock()
	if off+n <= size {
		return nil
	}
	end := off + n
	return node.fs.Setattr(ctx, node, h, SetAttr{Size: &end})
}
