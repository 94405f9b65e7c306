package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The status pointer is a file named after the mount point whose content is
// the path of the daemon's status socket, so that `s3mount status DIR` finds
// it. Root keeps pointers in /run/s3mount; other users in
// $TMPDIR/s3mount-<uid>, where another local user could have created the
// directory first or planted a symlink: the directory is used only if it is
// a real directory owned by us that nobody else can write to, and pointers
// are never written or read through a symlink.

// pointerDir is the directory holding this user's status pointers.
func pointerDir() string {
	if os.Geteuid() == 0 {
		return "/run/s3mount"
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("s3mount-%d", os.Geteuid()))
}

// pointerName is the pointer's file name for the mount point mnt.
func pointerName(mnt string) string {
	h := sha256.Sum256([]byte(mnt))
	return hex.EncodeToString(h[:8])
}

// openPointerDir opens dir (creating it 0700 when create is set) and checks
// that it is a directory, not a symlink, owned by euid, with no group or
// other write permission.
func openPointerDir(dir string, euid int, create bool) (int, error) {
	if create {
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return -1, err
		}
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ELOOP || err == unix.ENOTDIR {
		return -1, fmt.Errorf("%s is not a directory (a symlink or a file is there, perhaps planted by another user)", dir)
	}
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	switch {
	case int(st.Uid) != euid:
		err = fmt.Errorf("%s belongs to uid %d, not to uid %d (another user may have created it)", dir, st.Uid, euid)
	case st.Mode&0o022 != 0:
		err = fmt.Errorf("%s is writable by group or others (mode %04o)", dir, st.Mode&0o7777)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// writePointer makes dir/name hold sock: written to a new temporary file
// (O_EXCL|O_NOFOLLOW, 0600) then renamed over name, so a symlink at name
// is replaced, never followed.
func writePointer(dir, name, sock string, euid int) error {
	dfd, err := openPointerDir(dir, euid, true)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	tmp := "." + name + "." + rand.Text()[:8]
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "create", Path: filepath.Join(dir, tmp), Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(dir, tmp))
	_, err = f.WriteString(sock)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, name)
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return fmt.Errorf("cannot write the status pointer %s: %v", filepath.Join(dir, name), err)
	}
	return nil
}

// readPointer returns the socket path dir/name holds, after the same checks
// on dir; the pointer must be a regular file of euid, not a symlink.
func readPointer(dir, name string, euid int) (string, error) {
	dfd, err := openPointerDir(dir, euid, false)
	if err != nil {
		return "", err
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: filepath.Join(dir, name), Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(dir, name))
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != euid {
		return "", fmt.Errorf("%s is not a regular file of uid %d", f.Name(), euid)
	}
	b := make([]byte, 4096)
	n, err := f.Read(b)
	if err != nil {
		return "", err
	}
	return string(b[:n]), nil
}

// removePointer removes dir/name if dir still passes the checks.
func removePointer(dir, name string, euid int) {
	dfd, err := openPointerDir(dir, euid, false)
	if err != nil {
		return
	}
	unix.Unlinkat(dfd, name, 0)
	unix.Close(dfd)
}
