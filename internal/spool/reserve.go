package spool

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// reserveFile holds a little disk space back so that journals can still be
// written when data has filled the spool's disk: a publication that S3
// accepted must be recorded, or it would be repeated, and only a recorded
// publication lets its bytes be punched, which is what frees the disk. A
// drop marker line no later write would carry takes a little of it too
// (File.WriteRecordAt): the gap it marks must reach S3 by a clean unmount.
const reserveFile = "RESERVE"

const reserveSize = 256 << 10

// reserveState says what the RESERVE file holds.
type reserveState int32

const (
	// reserveUsed: a journal write freed it (or the disk was full when it
	// was to be made). The room it left is for journals only: data
	// writes fail with ENOSPC until it is made again.
	reserveUsed reserveState = iota
	// reserveHeld: RESERVE holds reserveSize bytes.
	reserveHeld
	// reserveNone: the spool's file system cannot hold one (not a matter
	// of space); data writes go ahead without it.
	reserveNone
)

func (s *Spool) reserveState() reserveState { return reserveState(s.reserve.Load()) }

// makeReserve (re)makes the RESERVE file, unless a write that has its room
// is still to write (takeReserve): it would take that room back.
func (s *Spool) makeReserve() {
	s.reserveMu.Lock()
	defer s.reserveMu.Unlock()
	if s.reserveUsers == 0 {
		s.reserve.Store(int32(s.fillReserve()))
	}
}

func (s *Spool) fillReserve() reserveState {
	p := filepath.Join(s.dir, reserveFile)
	f, err := openPrivate(p, os.O_WRONLY|os.O_CREATE)
	if err == nil {
		if _, err = checkPrivate(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		// Not ours (a symlink, a hard link, a directory): take the name
		// back rather than grow a file elsewhere.
		os.Remove(p)
		if f, err = openPrivate(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL); err != nil {
			return reserveFailed(err)
		}
	}
	defer f.Close()
	if err = s.noSpace("fallocate", p, false); err == nil {
		err = syscall.Fallocate(int(f.Fd()), 0, 0, reserveSize)
	}
	if errors.Is(err, syscall.EOPNOTSUPP) {
		// No fallocate here: zeros take the room instead.
		_, err = f.WriteAt(make([]byte, reserveSize), 0)
		if err == nil {
			err = f.Sync()
		}
	}
	if err != nil {
		f.Close()
		os.Remove(p)
		return reserveFailed(err)
	}
	return reserveHeld
}

func reserveFailed(err error) reserveState {
	if isNoSpace(err) {
		return reserveUsed
	}
	return reserveNone
}

// restoreReserve makes the reserve again if a journal write used it.
func (s *Spool) restoreReserve() {
	if s.reserveState() == reserveUsed {
		s.makeReserve()
	}
}

// dataRoom lets data take disk space (a write to path(), op): not while the
// reserve is used (it makes it again first if it can): ENOSPC then. When
// it may, the reserve's lock is held shared until dataRoomDone, so that
// the room a journal write frees meanwhile is not taken by the data write.
func (s *Spool) dataRoom(op string, path func() string) error {
	s.restoreReserve()
	s.reserveMu.RLock()
	if s.reserveState() == reserveUsed {
		s.reserveMu.RUnlock()
		return s.diskErr(&os.PathError{Op: op, Path: path(), Err: syscall.ENOSPC})
	}
	return nil
}

func (s *Spool) dataRoomDone() { s.reserveMu.RUnlock() }

// takeReserve gives a write that found the disk full (a journal, a
// record) the room the reserve keeps: it frees the reserve if it is held
// (freed), and the room stays the write's until done is called — a data
// write of another file meanwhile must not make the reserve again in it
// (restoreReserve), or the write that freed it fails all the same. done is
// nil if the spool has no reserve (then nothing was taken).
func (s *Spool) takeReserve() (freed bool, done func()) {
	s.reserveMu.Lock()
	switch s.reserveState() {
	case reserveNone:
		s.reserveMu.Unlock()
		return false, nil
	case reserveHeld:
		s.reserve.Store(int32(reserveUsed))
		if err := os.Remove(filepath.Join(s.dir, reserveFile)); err != nil {
			s.reserveMu.Unlock()
			return false, nil
		}
		freed = true
	}
	s.reserveUsers++
	s.reserveMu.Unlock()
	if s.reserveTaken != nil {
		s.reserveTaken()
	}
	return freed, s.reserveDone
}

func (s *Spool) reserveDone() {
	s.reserveMu.Lock()
	s.reserveUsers--
	s.reserveMu.Unlock()
}

// noSpace is Options.NoSpace's ENOSPC for a write to path (tests: a full
// disk); a journal write (journal) gets the room a used reserve left.
func (s *Spool) noSpace(op, path string, journal bool) error {
	if s.opts.NoSpace == nil || !s.opts.NoSpace() || journal && s.reserveState() == reserveUsed {
		return nil
	}
	return &os.PathError{Op: op, Path: path, Err: syscall.ENOSPC}
}
