package vfs

import (
	"hash/crc32"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/s3mount/s3mount/internal/spool"
)

// IOMode says how the kernel serves an open file: through this package
// (with or without its page cache) or straight from the spool's data file
// (FUSE passthrough: the adapter maps the modes onto open flags).
//
// The kernel allows no page-cached open of a file while another reads its
// backing file directly, and once one does, every later open of the file
// must name the same backing file, or it fails with EIO. So the mode of an
// open depends on the other opens of the node (n.ioCached, n.ioLocal),
// and a backing file stays what its readers expect — offset N of the file
// at offset N of the data file, every byte present — while any open that
// names it lasts (spool.File.Pin).
type IOMode uint8

const (
	// IOCached: reads and writes reach this package, through the kernel's
	// page cache (mmap works as on any FUSE file). As before passthrough.
	IOCached IOMode = iota
	// IODirect: reads and writes reach this package, bypassing the page
	// cache. Write-only opens get it when local reads are on: a page-cached
	// writer would keep the kernel from letting a later reader read the
	// local file directly for as long as it stays open (logs stay open for
	// months), and a write-only handle gains nothing from the cache: it
	// cannot read or mmap, and its writes reach the spool either way.
	IODirect
	// IOLocal: a read-only open served by the kernel from the spool's data
	// file, or the data cache's file of the object (LocalFd), past the
	// daemon; the kernel refuses it writes.
	IOLocal
	// IOLocalWriter: a writable open of a file that is read locally by
	// another open: it must name the backing file too (or the kernel fails
	// the open), but its reads and writes still reach this package (direct
	// I/O), so that every byte written goes through the spool's journal.
	// Also a read-only open beside readers of a data cache file that no
	// longer holds the object's current version (cachedreads.go).
	IOLocalWriter
)

// localReads: whether opens may read spool data files directly (the
// adapter found the kernel and privileges allow it, and --no-passthrough
// was not given).
type localReads struct {
	on      atomic.Bool
	granted atomic.Int64 // IOLocal opens, for metrics and tests
}

// SetLocalReads turns reading local files directly on or off (the adapter
// says what the kernel allows) and says which, once per call: the mount
// calls it once.
func (fs *FS) SetLocalReads(on bool, why string) {
	fs.local.on.Store(on)
	if on {
		fs.log.Info("reads of files in the spool: FUSE passthrough (the kernel reads the spool's data file)")
		return
	}
	fs.log.Info("reads of files in the spool: through the daemon (FUSE passthrough off)", "reason", why)
}

// ScratchFile is an unlinked file beside the spool files, for the adapter
// to ask the kernel whether it would read such files directly.
func (fs *FS) ScratchFile() (*os.File, error) { return fs.sp.ScratchFile() }

// LocalReads reports whether opens may read spool data files directly.
func (fs *FS) LocalReads() bool { return fs.local.on.Load() }

// LocalOpens counts the opens served from a spool data file directly.
func (fs *FS) LocalOpens() int64 { return fs.local.granted.Load() }

// IOMode is how the kernel is to serve the handle.
func (h *Handle) IOMode() IOMode { return h.io }

// LocalFd is the spool data file (or data cache file) an IOLocal or
// IOLocalWriter handle names as its backing file (valid until Release).
func (h *Handle) LocalFd() (int, bool) {
	if h.pinned == nil && !h.cacheFile {
		return 0, false
	}
	return h.pinnedFd, true
}

// LocalFailed: the kernel would not take the data file (the adapter could
// not register it). The handle is served as before, and the mount stops
// trying. Only the first local open of a node can fail so (later ones
// reuse its registration).
func (h *Handle) LocalFailed(why string) {
	n := h.node
	if f := h.mapFile; f != nil {
		// Served through the daemon: it never names the data file.
		h.mapFile = nil
		n.ws().wmu.Lock()
		h.endMapOpen(f, nil)
		n.ws().wmu.Unlock()
	}
	n.mu.Lock()
	fromCache := h.cacheFile
	if h.pinned != nil {
		h.pinned.Unpin()
		h.pinned = nil
	}
	n.ws().ioLocal--
	unpin := n.unnameCacheLocked(h)
	if h.io == IOLocal {
		n.fs.local.granted.Add(-1)
		if fromCache {
			n.fs.cache.granted.Add(-1)
		}
	}
	h.io = IOCached
	n.ws().ioCached++
	n.mu.Unlock()
	if unpin != nil {
		unpin()
	}
	if fromCache {
		if n.fs.cache.on.CompareAndSwap(true, false) {
			n.fs.log.Warn("FUSE passthrough failed: reads of cached objects go through the daemon from now on", "reason", why)
		}
		return
	}
	if n.fs.local.on.CompareAndSwap(true, false) {
		n.fs.log.Warn("FUSE passthrough failed: reads of files in the spool go through the daemon from now on", "reason", why)
	}
}

// unnameCacheLocked: h no longer names the node's backing file; when it
// was the last local open and that file is a cache file, it returns the
// release of its pins, to call once n.mu is released (n.mu held, h's
// ioLocal already uncounted). (Once the spool took the cache file, later
// opens name it through the spool file: any of them may be the last.)
func (n *Node) unnameCacheLocked(h *Handle) func() {
	h.cacheFile = false
	b := n.ws().cached
	if b == nil || n.ws().ioLocal > 0 {
		return nil
	}
	n.ws().cached = nil
	return b.release
}

// chooseIOLocked picks the new handle's mode and counts it (n.mu held).
// canPin: the caller holds n.wmu, so n.file cannot be replaced under a new
// pin (edit.go replaces it only with n.wmu held and no pin). cp: the
// object's cache file, pinned by pinCached; chooseIOLocked reports whether
// it kept the pin (the caller unpins it otherwise, after n.mu).
func (n *Node) chooseIOLocked(h *Handle, canPin bool, cp *cacheBacking) (kept bool) {
	readOnly := !h.write
	writeOnly := h.flags&syscall.O_ACCMODE == os.O_WRONLY
	switch {
	case n.ws().ioLocal > 0 && n.ws().cached != nil && n.ws().cached.spool == nil:
		// The kernel reads the cache file for another open: this one
		// names it too. It reads it only while it is still the file's
		// bytes; otherwise (the object changed in S3 since) its reads
		// reach this package (direct I/O).
		b := n.ws().cached
		h.cacheFile, h.pinnedFd = true, b.fd
		if readOnly && n.file == nil && n.state == stateInS3 && n.etag == b.etag {
			h.io = IOLocal
			n.fs.local.granted.Add(1)
			n.fs.cache.granted.Add(1)
		} else {
			h.io = IOLocalWriter
		}
		n.ws().ioLocal++
		return false
	case n.ws().ioLocal > 0:
		// The kernel reads the file locally for another open: this one
		// must name the same data file, which stays pinned. (Also the
		// cache file the spool took: n.file's data file.)
		if n.file != nil {
			if fd, ok := n.file.Pin(); ok {
				h.pinned, h.pinnedFd = n.file, fd
			}
		}
		if readOnly {
			h.io = IOLocal
			n.fs.local.granted.Add(1)
		} else {
			h.io = IOLocalWriter
		}
		n.ws().ioLocal++
		return false
	case n.ws().ioCached > 0:
		h.io = IOCached // the kernel allows no local read beside it
	case readOnly && n.ws().ioUnsettled > 0:
		// A direct open's reply may still be on its way into the kernel:
		// once a local read began, the kernel would fail that open.
		h.io = IOCached
	case readOnly && cp != nil && n.file == nil && n.state == stateInS3 && n.etag == cp.etag:
		// Every byte of the object as it is now is in the data cache.
		n.ws().cached = cp
		h.cacheFile, h.pinnedFd = true, cp.fd
		h.io = IOLocal
		n.ws().ioLocal++
		n.fs.local.granted.Add(1)
		n.fs.cache.granted.Add(1)
		return true
	case !n.fs.local.on.Load():
		h.io = IOCached
	case readOnly && canPin && n.file != nil && n.state != stateUnlinked:
		if fd, ok := n.file.Pin(); ok {
			h.pinned, h.pinnedFd = n.file, fd
			h.io = IOLocal
			n.ws().ioLocal++
			n.fs.local.granted.Add(1)
			return false
		}
		h.io = IOCached
	case writeOnly:
		h.io = IODirect
		h.unsettled.Store(true)
		n.ws().ioUnsettled++
	default:
		h.io = IOCached
	}
	if h.io == IOCached {
		n.ws().ioCached++
	}
	return false
}

// settled: the kernel sent a request on the handle, so its open is
// complete there (a descriptor is usable only then; a failed open is
// released). Until then a direct open keeps readers from reading locally:
// the kernel fails an open without passthrough that completes after a
// passthrough open of the file, and the daemon cannot see when an open it
// answered completes. A writer that writes or closes settles at once; one
// that waits before its first write only costs a reader its local reads.
func (h *Handle) settled() {
	if h.unsettled.CompareAndSwap(true, false) {
		n := h.node
		n.mu.Lock()
		n.ws().ioUnsettled--
		n.mu.Unlock()
	}
}

// releaseIOLocked uncounts the handle's mode (n.mu held). It returns the
// cache file's unpin when h was the last open naming it, to call once
// n.mu is released.
func (n *Node) releaseIOLocked(h *Handle) (unpin func()) {
	if h.unsettled.CompareAndSwap(true, false) {
		n.ws().ioUnsettled--
	}
	switch h.io {
	case IOCached:
		n.ws().ioCached--
	case IOLocal, IOLocalWriter:
		n.ws().ioLocal--
	}
	if h.pinned != nil {
		h.pinned.Unpin()
		h.pinned = nil
	}
	return n.unnameCacheLocked(h)
}

// readLocally: the kernel may be reading the spool file directly, so it
// must not be replaced (n.mu held).
func (n *Node) readLocallyLocked() bool { return n.ws().ioLocal > 0 }

// noteMapped: a read-write open that named the spool's data file
// (IOLocalWriter) may have mapped it shared and writable, and such writes
// reach the data file without this package seeing them (its read() and
// write() do reach it: direct I/O). Bytes past what S3 has are published
// from the data file as usual, mapped writes and all; bytes S3 has that
// may have changed are recorded in the journal (spool.MapCheck), and the
// file's job reads them back from S3 before its next publication: the
// file is published whole only if they differ (publish.checkMapped). So
// S3 never keeps other bytes than the mount showed, a failed read is
// retried as any failed publication, and a crash before the look leaves
// it due. No S3 request here: the last close never waits for S3.
//
// While such opens last, the journal says that every byte S3 has is to
// be compared (noteMapBase: a crash then leaves that due) and the job
// leaves the look for later; the last one's release records what they
// found instead (with the look that was due before the first).
//
// Without --allow-overwrite published bytes are never replaced (an edit in
// place is refused with EPERM), and a mapping cannot be refused: such
// writes to published bytes stay local (docs/DIFFERENCES.md).
func (h *Handle) noteMapped() {
	f := h.mapFile
	if f == nil {
		return
	}
	h.mapFile = nil
	n := h.node
	n.ws().wmu.Lock()
	defer n.ws().wmu.Unlock()
	h.endMapOpen(f, h.mappedRange(f))
}

// mappedRange is the range of bytes S3 has, or a publication in flight
// may have read, that h may have changed through a mapping (nil: none).
// Before h's data file is unpinned.
func (h *Handle) mappedRange(f *spool.File) *spool.MapCheck {
	j := f.Journal()
	// The bytes the file had at the open need no look when their checksum
	// is unchanged (no write at all touched them) and S3 had them then.
	from := int64(0)
	if h.mapBaseOK {
		if sum, err := checksumFd(h.pinnedFd, h.mapSize); err == nil && sum == h.mapBase {
			from = min(h.mapSize, h.mapPublished)
		}
	}
	// Up to the file's size: a publication in flight (PendingTag) may
	// have read bytes a mapping changed after.
	to := j.Size
	if from >= to || from >= j.BaseSize && j.PendingTag == "" {
		return nil // S3 has none of the bytes that may have changed
	}
	return &spool.MapCheck{From: from, To: to}
}

// endMapOpen uncounts h, which was counted as mapping f, adding seen (the
// range it may have changed; nil: none) to what the opens found; the last
// one's release records it in the journal in place of the whole file
// (n.wmu held).
func (h *Handle) endMapOpen(f *spool.File, seen *spool.MapCheck) {
	n := h.node
	n.mu.Lock()
	w := n.ws()
	w.mapOpens--
	if seen != nil {
		w.mapSeen = w.mapSeen.Merged(seen.From, seen.To)
	}
	last := w.mapOpens == 0
	check := w.mapPrior
	if found := w.mapSeen; last && found != nil {
		check = check.Merged(found.From, found.To)
	}
	if last {
		w.mapPrior, w.mapSeen = nil, nil
	}
	same := n.file == f && n.state != stateUnlinked
	n.mu.Unlock()
	if !last || !same {
		return // unlinked or replaced: nothing of f is published any more
	}
	due := false
	err := f.Update(func(jj *spool.Journal) {
		due = check != nil
		if !due {
			jj.MapCheck = nil
			return
		}
		// A later record than any the job may be comparing.
		rec := check.Rec
		if jj.MapCheck != nil {
			rec = max(rec, jj.MapCheck.Rec)
		}
		jj.MapCheck = &spool.MapCheck{From: check.From, To: check.To, Rec: rec + 1}
	})
	if err != nil {
		// The journal keeps the look at every byte S3 has.
		n.fs.log.Warn("a read-write open read the spool file directly and may have written it through a shared mapping; cannot record which of S3's bytes are to be compared (all are)", "path", n.Path(), "err", err)
		due = true
	}
	if !due {
		return
	}
	n.mu.Lock()
	if n.ws().dirtySince.IsZero() {
		n.ws().dirtySince = time.Now()
	}
	n.mu.Unlock()
	n.ws().job.Now()
}

// mayMap: h may have written its data file through a shared mapping
// (noteMapped).
func (h *Handle) mayMap() bool {
	return h.io == IOLocalWriter && h.flags&syscall.O_ACCMODE == os.O_RDWR && h.pinned != nil && h.node.fs.opt.AllowOverwrite
}

// noteMapBase takes the size of the data file a new handle that may map
// it names, the checksum of those bytes and how many of them S3 has: if
// the bytes are the same at release, S3's need no look (noteMapped).
// Before the kernel has the handle, so before any mapping (n.wmu held: no
// write changes the file meanwhile). A pinned data file holds every byte
// of the file at its offset.
//
// It counts h as mapping the file until its release, and the first such
// open records in the journal that every byte S3 has, also those it gets
// while the open lasts, is to be compared: a crash while it is open
// leaves that due for the next mount.
func (h *Handle) noteMapBase() {
	if !h.mayMap() {
		return
	}
	n := h.node
	f := h.pinned
	n.mu.Lock()
	same := n.file == f && n.state != stateUnlinked
	j := f.Journal()
	n.mu.Unlock()
	if !same {
		return
	}
	if sum, err := checksumFd(h.pinnedFd, j.Size); err == nil {
		h.mapSize, h.mapBase, h.mapBaseOK = j.Size, sum, true
		h.mapPublished = j.BaseSize
		if j.PendingTag != "" && j.Kind == spool.KindWhole {
			// A whole publication in flight reads every byte after
			// the open. (An append's reads only those past BaseSize.)
			h.mapPublished = 0
		}
	}
	h.mapFile = f
	n.mu.Lock()
	w := n.ws()
	w.mapOpens++
	first := w.mapOpens == 1
	n.mu.Unlock()
	if !first {
		return
	}
	var prior *spool.MapCheck
	if err := f.Update(func(jj *spool.Journal) {
		prior = jj.MapCheck
		jj.MapCheck = jj.MapCheck.Merged(0, spool.MapToEnd)
	}); err != nil {
		n.fs.log.Warn("a read-write open reads the spool file directly and may write it through a shared mapping; cannot record that S3's bytes are to be compared should the mount crash while it is open", "path", n.Path(), "err", err)
	}
	n.mu.Lock()
	w.mapPrior, w.mapSeen = prior, nil
	n.mu.Unlock()
}

// checksumFd is the CRC-32C of the first size bytes of the file fd (of
// fewer, if it is shorter).
func checksumFd(fd int, size int64) (uint32, error) {
	var sum uint32
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; {
		n, err := syscall.Pread(fd, buf[:min(int64(len(buf)), size-off)], off)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return sum, nil
		}
		sum = crc32.Update(sum, castagnoli, buf[:n])
		off += int64(n)
	}
	return sum, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)
