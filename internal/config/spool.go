package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MountID is a stable, readable name for one (bucket, prefix, mount point)
// triple: the sanitized bucket and prefix plus 12 hex digits of a SHA-256 of
// all three, e.g. "logs-nginx-3f2a9c1b4d5e". Remounting the same bucket and
// prefix at the same directory gives the same id, so the default spool
// directory (and what a crash left in it) is found again.
func MountID(bucket, prefix, mountPoint string) string {
	sum := sha256.Sum256([]byte(bucket + "\x00" + prefix + "\x00" + mountPoint))
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(bucket + "-" + prefix) {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_'
		switch {
		case ok:
			b.WriteRune(c)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.Trim(b.String(), "-.")
	if len(name) > 40 {
		name = strings.TrimRight(name[:40], "-.")
	}
	return name + "-" + hex.EncodeToString(sum[:6])
}

// DefaultSpoolDir is /var/lib/s3mount/<mount id> for root and
// $XDG_STATE_HOME/s3mount/<mount id> (default ~/.local/state) for others.
// mountPoint should be absolute.
func DefaultSpoolDir(bucket, prefix, mountPoint string) (string, error) {
	id := MountID(bucket, prefix, mountPoint)
	if os.Geteuid() == 0 {
		return filepath.Join("/var/lib/s3mount", id), nil
	}
	if x := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "s3mount", id), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || !filepath.IsAbs(home) {
		return "", fmt.Errorf("cannot choose a spool directory ($HOME is not set); give one with --spool-dir")
	}
	return filepath.Join(home, ".local", "state", "s3mount", id), nil
}
