package exportpath

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzPath: whatever the key, Path returns a path strictly below dir, or an
// error.
func FuzzPath(f *testing.F) {
	for _, k := range []string{"a.txt", "logs/2024/app.log", "../victim/planted.txt", "/etc/passwd", "a//b", "a/./b", "a\x00b", "..", "x/../../y"} {
		f.Add("/export/dir", k)
	}
	f.Fuzz(func(t *testing.T, dir, key string) {
		if dir == "" || strings.IndexByte(dir, 0) >= 0 {
			dir = "/export/dir"
		}
		p, err := Path(dir, key)
		if err != nil {
			return
		}
		rel, err := filepath.Rel(filepath.Clean(dir), p)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
			t.Fatalf("Path(%q, %q) = %q: relative %q escapes", dir, key, p, rel)
		}
		if !strings.HasSuffix(p, filepath.Base(key)) {
			t.Fatalf("Path(%q, %q) = %q does not end with the key's name", dir, key, p)
		}
	})
}
