package spool

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
)

// The spool holds unpublished user data, possibly on a disk other users
// share: the directory is private to the mount's user (0700), its files
// 0600, and no file is ever opened through a symlink or a second hard link
// someone planted at a name the spool uses.

// euid is whose files the spool trusts; tests replace it to make their
// own files look planted.
var euid = os.Geteuid

// errPlanted: a name the spool uses holds something it did not create.
var errPlanted = errors.New("not a plain file of this user")

// makePrivateDir creates dir (0700) or, if it exists, checks that it is a
// directory of this user and tightens its mode to 0700 (one log line):
// its owner can fix the mode, and nobody else's access depends on it.
// A directory of another user is refused: its owner can plant files in it
// at will.
func makePrivateDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create spool directory %s: %w", dir, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot use spool directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("spool directory %s is not a directory", dir)
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != euid() {
		return fmt.Errorf("spool directory %s belongs to uid %d, not to this user (uid %d): give a directory of your own with --spool-dir", dir, uid, euid())
	}
	if perm := st.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky); perm != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("cannot make spool directory %s private (mode %v): %w", dir, perm, err)
		}
		log.Warn("spool directory was open to other users: made it private (0700)", "spool_dir", dir, "old_mode", fmt.Sprintf("%#o", uint32(perm.Perm())))
	}
	return nil
}

// openPrivate opens a spool file without following a symlink at its name;
// new files are 0600.
func openPrivate(path string, flag int) (*os.File, error) {
	return os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
}

// checkPlain refuses an open spool file that is not a regular file or
// is a hard link to a file elsewhere (reading it would read that file).
func checkPlain(f *os.File) (os.FileInfo, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %v", errPlanted, st.Mode().Type())
	}
	if n := st.Sys().(*syscall.Stat_t).Nlink; n != 1 {
		return nil, fmt.Errorf("%w: %d hard links", errPlanted, n)
	}
	return st, nil
}

// checkPrivate is checkPlain for the spool's own files, which must also
// belong to this user. A mode looser than 0600 is tightened.
func checkPrivate(f *os.File) (os.FileInfo, error) {
	st, err := checkPlain(f)
	if err != nil {
		return nil, err
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != euid() {
		return nil, fmt.Errorf("%w: owned by uid %d", errPlanted, uid)
	}
	if st.Mode().Perm() != 0o600 {
		if err := f.Chmod(0o600); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// isPlanted reports an error from openPrivate or checkPrivate that says
// the name holds a symlink or a file the spool did not make.
func isPlanted(err error) bool {
	return errors.Is(err, errPlanted) || errors.Is(err, syscall.ELOOP)
}

// readPrivate reads a small spool file (at most limit bytes: a larger one
// is not ours). O_NONBLOCK: a FIFO planted at the name must not hang us.
// check is checkPrivate, or checkPlain to read another user's spool
// (s3mount recover run by root).
func readPrivate(path string, limit int64, check func(*os.File) (os.FileInfo, error)) ([]byte, error) {
	f, err := openPrivate(path, os.O_RDONLY|syscall.O_NONBLOCK)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := check(f); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: larger than %d bytes", errPlanted, limit)
	}
	return b, nil
}
