package vfs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/s3mount/s3mount/internal/spool"
)

// Write stores data in the spool. O_APPEND writes go to the end, whatever
// offset the kernel sent, so that writers sharing a file never overwrite
// each other and one write() is never split by another.
//
// When the buffer (or the spool disk) is full, a non-blocking mount drops
// log writes whole lines at a time (counted, marked); every other write
// waits for room, without holding the writer lock, so that the publication
// that frees the room can run.
func (h *Handle) Write(ctx context.Context, data []byte, off int64) (int, error) {
	if !h.write {
		return 0, syscall.EBADF
	}
	h.settled()
	asked, over := false, false
	for {
		m, need, err := h.writeOnce(ctx, data, off, asked, over)
		switch {
		case err != nil || need == 0:
			return m, err
		case need == needWhole:
			if err = h.node.editWhole(ctx); errors.Is(err, ErrNoSpace) {
				// The published bytes did not fit the spool disk: wait
				// for room as on a full buffer, then try again.
				_, err = h.node.fs.waitRoom(ctx, 1)
			}
		case need == needSettle:
			err, asked = h.node.settleHeld(ctx), true
		default:
			over, err = h.node.fs.waitRoom(ctx, need)
		}
		if err != nil {
			return 0, err
		}
	}
}

// writeOnce's need when it could not write: retryNow (room was freed, try
// again at once), needWhole (the file must become a whole edit first), or
// a number of bytes to wait for.
const (
	retryNow   = -1
	needWhole  = -2
	needSettle = -3 // a lost answer settled first (settleHeld)
)

// settleHeld settles a publication whose answer was lost, the job's token
// held (none runs meanwhile).
func (n *Node) settleHeld(ctx context.Context) error {
	defer n.ws().job.Hold()()
	return n.settle(ctx, false)
}

// editWhole turns an appended file into a whole edit before a write below
// its published base.
func (n *Node) editWhole(ctx context.Context) error {
	return n.quiet(ctx, func() error {
		n.mu.Lock()
		f := n.file
		n.mu.Unlock()
		if f == nil {
			return syscall.EBADF
		}
		return n.makeWhole(ctx)
	})
}

// quiet runs fn, which changes the kind of n's spool file, with no
// publication and no writer running: a publication in flight reads the
// journal it started with, so it ends first (the job's token, then a
// lost answer settled), then writers are held off (their lock).
func (n *Node) quiet(ctx context.Context, fn func() error) error {
	defer n.ws().job.Hold()()
	if err := n.settle(ctx, false); err != nil {
		return err
	}
	n.ws().wmu.Lock()
	defer n.ws().wmu.Unlock()
	return fn()
}

// writeOnce makes one attempt under the writer lock. need > 0: the write
// must wait for that much room (the lock is released first). over: the
// write may go over the buffer bound (waitRoom).
func (h *Handle) writeOnce(ctx context.Context, data []byte, off int64, settled, over bool) (m int, need int64, err error) {
	n := h.node
	fs := n.fs
	n.ws().wmu.Lock()
	defer n.ws().wmu.Unlock()
	n.mu.Lock()
	f := n.file
	unlinked := n.state == stateUnlinked
	n.mu.Unlock()
	if f == nil {
		return 0, 0, syscall.EBADF
	}
	j := f.Journal()
	if h.append {
		off = j.Size
	}
	if !h.append && !fs.opt.AllowOverwrite && !settled && j.PendingTag != "" && off < j.Pending {
		// These bytes may be S3's already: a publication of them began
		// (its answer may have been lost). Asked first, the check below
		// then knows.
		return 0, needSettle, nil
	}
	if !h.append && off < j.BaseSize && j.Exists && !fs.opt.AllowOverwrite {
		// Rewriting bytes S3 has, whatever the file's kind (an extending
		// truncate made it whole): --allow-overwrite.
		fs.log.Warn("refused to rewrite bytes S3 already has (mount with --allow-overwrite)", "key", j.Key, "errno", "EPERM")
		return 0, 0, ErrPerm
	}
	if off < j.BaseSize && j.Kind == spool.KindAppend {
		// Rewriting published bytes turns the file into a whole edit.
		return 0, needWhole, nil
	}
	if !h.append && off < j.Size && j.Kind == spool.KindAppend {
		// Rewriting appended bytes a publication may be reading: the
		// file becomes a whole edit once that publication is done.
		return 0, needWhole, nil
	}
	droppable := h.append && !unlinked && fs.sp.Mode() == spool.NonBlocking
	if h.append && !unlinked {
		if h.droppingLine() {
			// The head of this line was dropped: its tail goes too.
			h.dropAppend(f, data)
			return len(data), 0, nil
		}
		if err := n.writeDropMarker(ctx, f); err != nil {
			return 0, 0, err
		}
		if droppable && n.unmarked() {
			// No room for the marker: this write is dropped too, or it
			// would land before the gap is marked, the marker after it.
			h.dropAppend(f, data)
			return len(data), 0, nil
		}
		off = f.Journal().Size
	}
	growth := f.Growth(off, int64(len(data)))
	if unlinked {
		growth = 0 // never published: it holds no room in the buffer
	}
	// A write that adds no unpublished bytes (a rewrite of bytes not yet
	// published) takes no room: it never waits nor drops, even with the
	// buffer over its bound. (It used to return 0 bytes written.)
	if growth > 0 && (over || n.editFits(growth)) && !fs.sp.DiskFull() {
		fs.sp.Force(growth)
	} else if growth > 0 && !fs.sp.TryReserve(growth) {
		// Full: publish now rather than at the interval.
		fs.kick()
		switch {
		case droppable && n.midLine() && !fs.sp.DiskFull():
			// The kernel splits a write() that crosses a page boundary
			// into two requests; the line's head was accepted, so finish
			// it, over the buffer bound by one request.
			fs.sp.Force(growth)
		case droppable:
			h.dropAppend(f, data)
			return len(data), 0, nil // counted, marked, never waits
		default:
			return 0, growth, nil
		}
	}
	m, err = f.WriteAt(data, off)
	if err != nil {
		fs.sp.Unreserve(growth)
		if !isNoSpace(err) {
			return 0, 0, fs.spoolErr(err, n.Path())
		}
		fs.warnEvery("spool-full", 10*time.Second, "spool disk is full: treating it as a full buffer", "dir", fs.sp.Dir(), "mode", modeName(fs.sp.Mode()))
		fs.kick()
		if fs.reclaim() {
			return 0, retryNow, nil
		}
		if droppable {
			h.dropAppend(f, data)
			return len(data), 0, nil
		}
		return 0, max(growth, 1), nil
	}
	h.mu.Lock()
	h.wrote = true
	h.mu.Unlock()
	now := time.Now()
	n.mu.Lock()
	if h.append && m > 0 {
		n.ws().openLine = data[m-1] != '\n'
	}
	n.attrsLocked().localMtime = now
	first := n.ws().dirtySince.IsZero()
	if first {
		n.ws().dirtySince = now
	}
	log := n.ws().logMode
	n.mu.Unlock()
	if log && !unlinked && first {
		n.ws().job.Wrote()
	}
	if !h.append && !unlinked {
		n.streamAdvance(ctx, off, m)
	}
	return m, 0, nil
}

// waitRoom waits, with no lock held, until need bytes fit in the buffer
// and the spool disk has room again (a publication frees both). over: what
// fills the buffer is bytes no publication takes (stuckBytes) before their
// writer does something (ends a line, closes), and it may be this one:
// the write goes over the bound rather than wait for good, as a write
// larger than the buffer does when it is empty.
func (fs *FS) waitRoom(ctx context.Context, need int64) (over bool, err error) {
	if need == retryNow {
		return false, nil
	}
	for {
		if fs.sp.DiskFull() && !fs.reclaim() {
			fs.kick()
		}
		if fs.sp.Fits(need) {
			return false, nil
		}
		if !fs.sp.DiskFull() && fs.sp.Used() <= fs.stuckBytes() {
			fs.warnEvery("buffer-stuck", 10*time.Second, "buffer full of bytes no publication takes before their writers go on (open logs' unfinished lines, files in conflict, files waiting for their direct readers to close): letting writes go past --max-buffer-size", "max_buffer_size", fs.sp.Max(), "used", fs.sp.Used())
			return true, nil
		}
		// Wake up now and then: a full disk is cleared by reclaim, or by
		// another program, not by a release the spool would signal.
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err := fs.sp.WaitFits(wctx, need)
		cancel()
		switch {
		case err == nil:
			return false, nil
		case errors.Is(err, spool.ErrClosed):
			fs.log.Error("unmounting while a write waited for buffer space: the write is refused", "errno", "EIO")
			return false, ErrIO
		case ctx.Err() != nil:
			return false, ErrInterrupted
		}
		// Another program may have freed room on the disk, which nothing
		// here would signal: the write tries again (and marks the disk
		// full again if it still is).
		fs.sp.ClearDiskFull()
	}
}

// droppingLine: a drop took the head of this handle's current line (the
// kernel sends one write() as two requests when it crosses a page).
func (h *Handle) droppingLine() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dropLine
}

// dropAppend drops a log write (non-blocking mode, no room), whole lines
// only: the part of the current line already accepted is cut off again
// (it was never published: publications of an open log end at a newline),
// and the rest of the line is dropped with it. n.wmu held.
func (h *Handle) dropAppend(f *spool.File, data []byte) {
	n := h.node
	cut := n.cutOpenLine(f)
	n.recordDrop(len(data) + int(cut))
	h.mu.Lock()
	h.dropLine = len(data) > 0 && data[len(data)-1] != '\n'
	h.mu.Unlock()
}

// cutOpenLine truncates the spool file back to the start of its last,
// unfinished line and returns how many bytes it cut. Bytes a publication
// has taken (below Pending or the base) are never cut. n.wmu held.
func (n *Node) cutOpenLine(f *spool.File) int64 {
	if !n.midLine() {
		return 0
	}
	n.ws().pendMu.Lock()
	defer n.ws().pendMu.Unlock()
	j := f.Journal()
	from := max(j.BaseSize, j.Pending, j.LocalStart)
	at := lastLineEnd(f, from, j.Size)
	if at >= j.Size || f.Truncate(at) != nil {
		return 0
	}
	open := false
	if at > j.LocalStart {
		// The line may have begun in bytes already published (an fsync
		// in the middle of a line): then the marker starts a new line.
		b := []byte{0}
		if _, err := f.ReadAt(b, at-1); err == nil {
			open = b[0] != '\n'
		}
	}
	n.mu.Lock()
	n.ws().openLine = open
	n.mu.Unlock()
	return j.Size - at
}

// midLine: the last append ended inside a line.
func (n *Node) midLine() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ws().openLine
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
		// (Not bytes S3 has that are still to be compared with it.)
		if j.Kind == spool.KindAppend && j.Exists && j.LocalStart < j.BaseSize && j.MapCheck == nil {
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

// spoolErr logs a spool failure once and maps it.
func (fs *FS) spoolErr(err error, p string) error {
	if isNoSpace(err) {
		fs.log.Warn("spool disk is full", "dir", fs.sp.Dir(), "path", p, "errno", "ENOSPC")
		return ErrNoSpace
	}
	fs.log.Error("spool error", "dir", fs.sp.Dir(), "path", p, "err", err)
	return ErrIO
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
	startBurst := n.ws().drops.writes == 0
	if startBurst {
		n.ws().drops.first = now
	}
	n.ws().drops.bytes += int64(size)
	n.ws().drops.writes++
	n.ws().drops.last = now
	p := n.path
	n.mu.Unlock()
	n.fs.count(func(s *Stats) { s.DroppedBytes += int64(size); s.DroppedWrites++ })
	if startBurst {
		n.fs.log.Warn("buffer full (non-blocking mode): dropping writes until S3 frees space", "path", p, "max_buffer_size", n.fs.sp.Max())
	}
}

// unmarked: writes were dropped and no marker says so yet.
func (n *Node) unmarked() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ws().drops.writes > 0
}

// writeDropMarker writes the line that marks a gap left by dropped writes,
// once there is room again (n.wmu held).
func (n *Node) writeDropMarker(ctx context.Context, f *spool.File) error {
	return n.dropMarker(ctx, f, false)
}

// markGapAtEnd writes the marker of drops that no later write carried (the
// last writer closed, or the mount is shutting down). It reports whether
// drops are still unmarked: the spool disk had no room even for the marker
// (a publication frees it).
func (n *Node) markGapAtEnd() bool {
	n.ws().wmu.Lock()
	defer n.ws().wmu.Unlock()
	// Once Shutdown runs no handle writes again, closed or not: the kernel
	// sends a last close's RELEASE on its own time and drops it, still
	// queued, when the unmount ends the connection, so a writer that
	// closed right before the unmount may still be counted here.
	n.mu.Lock()
	f := n.file
	due := n.ws().drops.writes > 0 && f != nil && n.state != stateUnlinked && (n.ws().writers == 0 || n.fs.ending.Load())
	n.mu.Unlock()
	if due {
		n.dropMarker(context.Background(), f, true)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ws().drops.writes > 0 && n.file != nil && n.state != stateUnlinked
}

// logUnmarked says, at unmount, what drops of n no marker line tells of:
// the spool disk had no room even for the marker (its reserve used up).
// The log is then all that tells of them, as after a SIGKILL.
func (n *Node) logUnmarked() {
	n.mu.Lock()
	d := n.ws().drops
	p := n.path
	unlinked := n.state == stateUnlinked
	n.mu.Unlock()
	if d.writes == 0 || unlinked || !n.fs.opt.DropMarker {
		return
	}
	n.fs.log.Error("dropped writes not marked in the file: the spool disk had no room even for the drop marker line",
		"path", p, "dropped_bytes", d.bytes, "dropped_writes", d.writes,
		"first", d.first.UTC().Format(markerTime), "last", d.last.UTC().Format(markerTime), "dir", n.fs.sp.Dir())
}

// markerTime is the layout of the drop marker's times.
const markerTime = "2006-01-02T15:04:05.000Z07:00"

// dropMarker writes the marker; force charges it over the buffer bound
// (the last close: no later write would carry it).
func (n *Node) dropMarker(ctx context.Context, f *spool.File, force bool) error {
	n.mu.Lock()
	d := n.ws().drops
	p := n.path
	n.mu.Unlock()
	if d.writes == 0 {
		return nil
	}
	torn := ""
	if n.midLine() {
		torn = "\n" // a disk-full drop cut a line: the marker starts its own
	}
	line := torn + fmt.Sprintf("s3mount: dropped %d bytes in %d writes between %s and %s: buffer full\n",
		d.bytes, d.writes, d.first.UTC().Format(markerTime), d.last.UTC().Format(markerTime))
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
		write := f.WriteAt
		if force {
			// No later write would carry it: on a full disk it takes
			// the room the spool keeps for journals, so that even then a
			// clean unmount leaves no gap unmarked.
			write = f.WriteRecordAt
		}
		if _, err := write([]byte(line), off); err != nil {
			n.fs.sp.Unreserve(growth)
			return nil
		}
		n.mu.Lock()
		n.ws().openLine = false
		n.mu.Unlock()
	}
	n.mu.Lock()
	n.ws().drops = dropState{}
	n.mu.Unlock()
	n.fs.log.Warn(strings.TrimSpace(line), "path", p)
	return nil
}

// stuckBytes is how many unpublished bytes no publication takes while
// writers wait: the unfinished last lines of logs open for writing (not
// before their newline or the last close: takeEnd), files whose
// publication gave up (another writer changed their object: their writer
// hears it at fsync or close), and files whose publication waits until
// the processes reading their data file directly close it (a rebase must
// move its bytes: spool.ErrPinned; `tail -f` may never close it).
func (fs *FS) stuckBytes() int64 {
	fs.mu.Lock()
	nodes := make([]*Node, 0, len(fs.nodes))
	for _, n := range fs.nodes {
		nodes = append(nodes, n)
	}
	fs.mu.Unlock()
	var sum int64
	for _, n := range nodes {
		w := n.wst.Load()
		if w == nil {
			continue
		}
		n.mu.Lock()
		f := n.file
		linked := f != nil && n.state != stateUnlinked
		open := linked && w.writers > 0 && (w.logMode || w.appenders > 0)
		n.mu.Unlock()
		if !linked {
			continue
		}
		last, _ := w.job.Outcome()
		pinned := errors.Is(last, spool.ErrPinned)
		j := f.Journal()
		dirty, from := j.Unpublished(), int64(0) // as spool counts it
		if j.Kind == spool.KindAppend {
			from = j.BaseSize
		}
		switch {
		case dirty == 0:
		case j.Conflict != "" || pinned:
			sum += dirty
		case open:
			end := lastLineEnd(f, from, j.Size)
			if j.Kind != spool.KindAppend && j.Exists && end < min(j.BaseSize, j.Size) {
				end = 0 // never below what S3 has (takeEnd)
			}
			sum += j.Size - end
		}
	}
	return sum
}

// editFits: n is an edit (a file rewritten in place, all of whose bytes
// the buffer holds) and growth fits beside what other files hold. Its
// writes do not wait for the room the edit itself holds: its publication
// frees that only until the next write makes the file whole again (a
// publication each write, for ever); an edit is bounded by --max-edit-size.
func (n *Node) editFits(growth int64) bool {
	e := n.editBytes()
	other := n.fs.sp.Used() - e
	return e > 0 && (other <= 0 || other+growth <= n.fs.sp.Max())
}

// editBytes is the unpublished bytes of n's edit, 0 for any other file.
func (n *Node) editBytes() int64 {
	n.mu.Lock()
	f := n.file
	n.mu.Unlock()
	if f == nil {
		return 0
	}
	if j := f.Journal(); j.Kind == spool.KindWhole && !j.Unlinked {
		return j.Unpublished()
	}
	return 0
}
