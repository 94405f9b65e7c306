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
