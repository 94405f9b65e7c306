package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockFile keeps a second daemon off a spool directory: both would adopt
// and publish the same files. The flock lives as long as the open file, so
// it goes with Close or with the process, however it dies.
const lockFile = "LOCK"

// ErrLocked means another process (or another Open in this one) holds the
// spool directory.
var ErrLocked = errors.New("spool directory in use")

type lockedError struct{ msg string }

func (e *lockedError) Error() string        { return e.msg }
func (e *lockedError) Is(target error) bool { return target == ErrLocked }

// lockDir takes the directory's lock and writes our pid into it, for the
// message a second daemon shows.
func lockDir(dir string) (*os.File, error) {
	p := filepath.Join(dir, lockFile)
	// Never through a planted symlink or hard link: the pid is written
	// over the file's start.
	f, err := openPrivate(p, os.O_RDWR|os.O_CREATE)
	if err == nil {
		if _, err = checkPrivate(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open the spool lock %s: %w", p, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("cannot lock the spool directory %s: %w", dir, err)
		}
		holder := "another s3mount"
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			holder += fmt.Sprintf(" (pid %d)", pid)
		}
		return nil, &lockedError{fmt.Sprintf("spool directory %s is in use by %s; give each mount its own --spool-dir", dir, holder)}
	}
	// Best effort: the pid only makes the message above better.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
