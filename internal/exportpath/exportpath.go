// Package exportpath maps an S3 key read from a spool journal to a file
// strictly inside the directory `s3mount recover --export` writes to. The
// journal may have been crafted by someone else (root exporting another
// user's spool): a key must never name a path outside that directory, and no
// symlink planted inside it may be followed.
package exportpath

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Components splits key into the path components it names below the export
// directory, or says why the key cannot be exported as is.
func Components(key string) ([]string, error) {
	switch {
	case key == "":
		return nil, fmt.Errorf("the key is empty")
	case strings.IndexByte(key, 0) >= 0:
		return nil, fmt.Errorf("the key contains a NUL byte")
	case strings.HasPrefix(key, "/"):
		return nil, fmt.Errorf("the key starts with '/'")
	}
	parts := strings.Split(key, "/")
	for _, p := range parts {
		switch p {
		case "":
			return nil, fmt.Errorf("the key has an empty path component (\"//\" or a trailing '/')")
		case ".", "..":
			return nil, fmt.Errorf("the key has a %q path component", p)
		}
	}
	return parts, nil
}

// Path returns the file inside dir that key is exported to, or an error: the
// result is always strictly below dir.
func Path(dir, key string) (string, error) {
	parts, err := Components(key)
	if err != nil {
		return "", err
	}
	return join(dir, parts)
}

// join is filepath.Join with a final check that the result stays inside dir,
// so that a mistake in Components cannot become a write elsewhere.
func join(dir string, parts []string) (string, error) {
	p := filepath.Join(append([]string{dir}, parts...)...)
	rel, err := filepath.Rel(filepath.Clean(dir), p)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
		return "", fmt.Errorf("the path %q is not inside %s", strings.Join(parts, "/"), dir)
	}
	return p, nil
}

// Create creates the new file dir/parts[0]/.../parts[n-1] (mode 0600; the
// directories it needs 0700), walking from dir with openat so that no
// symlink inside dir is followed: a component that is a symlink, or a file
// that already exists, is refused. dir itself is the caller's choice and may
// be a symlink.
func Create(dir string, parts []string) (*os.File, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("no file name to create in %s", dir)
	}
	for _, p := range parts {
		// openat would ignore the directory for an absolute name and
		// leave it for "..": each part must be one plain name.
		if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "/\x00") {
			return nil, fmt.Errorf("%q is not a plain file name", p)
		}
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	at := dir
	for _, p := range parts[:len(parts)-1] {
		at = filepath.Join(at, p)
		if err := unix.Mkdirat(fd, p, 0o700); err != nil && err != unix.EEXIST {
			unix.Close(fd)
			return nil, &os.PathError{Op: "mkdir", Path: at, Err: err}
		}
		next, err := unix.Openat(fd, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: at, Err: refusal(err)}
		}
		fd = next
	}
	last := parts[len(parts)-1]
	f, err := unix.Openat(fd, last, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	unix.Close(fd)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: filepath.Join(at, last), Err: err}
	}
	return os.NewFile(uintptr(f), filepath.Join(at, last)), nil
}

// refusal names why O_NOFOLLOW|O_DIRECTORY failed in words a user reads.
func refusal(err error) error {
	if err == unix.ELOOP || err == unix.ENOTDIR {
		return fmt.Errorf("not a directory (a symlink or a file is there; it is not followed)")
	}
	return err
}
