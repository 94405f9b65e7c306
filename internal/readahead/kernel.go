package readahead

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// KernelReadAheadKB is the kernel read-ahead s3mount asks for its mount.
// FUSE mounts start at 128 KiB (go-fuse's MaxReadAhead can only lower
// that), so the kernel sends 128 KiB reads one or two at a time, too few to
// keep parallel GETs busy, and splits one 256 KiB random pread into three
// reads. At 8 MiB sequential reads arrive as concurrent 1 MiB reads and a
// random pread as one read of its size (the kernel reads exactly what a
// random read asks).
const KernelReadAheadKB = 8 << 10

// RaiseKernelReadAhead sets read_ahead_kb of the FUSE mount at dir to kb
// when it is lower. Files opened afterwards use it. It needs root (it
// writes /sys/class/bdi/<dev>/read_ahead_kb); callers treat failure as a
// slower mount, not an error. The device comes from /proc/self/mountinfo,
// so the daemon never calls into its own mount.
func RaiseKernelReadAhead(dir string, kb int) error {
	dev, err := mountDevice(dir)
	if err != nil {
		return err
	}
	path := "/sys/class/bdi/" + dev + "/read_ahead_kb"
	cur, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(strings.TrimSpace(string(cur))); err == nil && n >= kb {
		return nil
	}
	return os.WriteFile(path, []byte(strconv.Itoa(kb)), 0)
}

// mountDevice returns "major:minor" of the last mount at dir.
func mountDevice(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	dev := ""
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && unescapeMountinfo(f[4]) == abs {
			dev = f[2]
		}
	}
	if dev == "" {
		return "", fmt.Errorf("%s is not a mount point", abs)
	}
	return dev, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
