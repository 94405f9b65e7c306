package spool

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrPinned: the change would move bytes of a data file that readers are
// reading directly (Pin), so it waits until they are done.
var ErrPinned = errors.New("spool: the data file is read directly (FUSE passthrough): its bytes cannot move now")

// Pin keeps the data file a plain image of the file, logical offset N at
// data offset N with every byte of [0, Size) present, until the matching
// Unpin: the kernel reads it directly (FUSE passthrough), past the daemon.
// While pinned, Punch keeps the bytes (ErrPinned) and an Update that would
// move them (a rebase's Shift, LocalStart) fails with ErrPinned; writes,
// in-place truncation and journal changes that keep the layout go on as
// usual, and readers see them at once. ok is false when the file is not
// such an image now. fd is the data file's descriptor, valid until Unpin.
func (f *File) Pin() (fd int, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.removed || f.j.Shift != 0 || f.j.LocalStart != 0 {
		return 0, false
	}
	f.pins++
	return int(f.data.Fd()), true
}

// Unpin ends one Pin.
func (f *File) Unpin() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pins > 0 {
		f.pins--
	}
}

// Pinned reports whether a reader reads the data file directly.
func (f *File) Pinned() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pins > 0
}

// keepsLayout: a pinned file's journal change must not move its bytes
// (f.mu held).
func (f *File) keepsLayout(old Journal) error {
	if f.pins > 0 && (f.j.Shift != old.Shift || f.j.LocalStart != old.LocalStart) {
		return ErrPinned
	}
	return nil
}

// punchHole frees data file blocks (the caller journaled it first).
func (f *File) punchHole(off, n int64) error {
	err := unix.Fallocate(int(f.data.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
		return err
	}
	return nil
}

// ScratchFile is an unlinked file on the spool's file system (to probe
// what the kernel allows with files there). The caller closes it.
func (s *Spool) ScratchFile() (*os.File, error) { return ScratchIn(s.dir) }

// ScratchIn is an unlinked file in dir (the data cache's directory too).
func ScratchIn(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		return os.NewFile(uintptr(fd), filepath.Join(dir, "(scratch)")), nil
	}
	f, err := os.CreateTemp(dir, ".scratch-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}
