package exportpath

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestPathRefusesKeysOutsideDir(t *testing.T) {
	dir := "/export/dir"
	for _, key := range []string{
		"", "../victim/planted.txt", "a/../../b", "/etc/passwd", "a/./b", ".", "..", "a//b", "a/",
		"a\x00b", "a/..", "./a", strings.Repeat("../", 50) + "x",
	} {
		if p, err := Path(dir, key); err == nil {
			t.Errorf("Path(%q) = %q, want a refusal", key, p)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("Path(%q): error is not one line: %q", key, err)
		}
	}
	for key, want := range map[string]string{
		"a.txt":         "/export/dir/a.txt",
		"logs/x/y.log":  "/export/dir/logs/x/y.log",
		"..a/b..":       "/export/dir/..a/b..",
		"a\\..\\b":      "/export/dir/a\\..\\b",
		"sp ace/\xff.x": "/export/dir/sp ace/\xff.x",
	} {
		if got, err := Path(dir, key); err != nil || got != want {
			t.Errorf("Path(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
}

func TestCreateMakesDirectoriesAndRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(dir, []string{"a", "b", "c.txt"})
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("x")
	f.Close()
	st, err := os.Stat(filepath.Join(dir, "a/b/c.txt"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("created file: %v %v, want mode 0600", st, err)
	}
	if st, err := os.Stat(filepath.Join(dir, "a/b")); err != nil || st.Mode().Perm()&0o077 != 0 {
		t.Fatalf("created directory: %v %v, want no group/other bits", st, err)
	}
	if _, err := Create(dir, []string{"a", "b", "c.txt"}); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("second Create: %v, want EEXIST", err)
	}
}

// A symlink planted inside the export directory is never followed: neither
// as a directory on the way nor as the file itself.
func TestCreateRefusesPlantedSymlinks(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	victim := filepath.Join(outside, "victim.txt")
	os.WriteFile(victim, []byte("keep"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "sub"))
	os.Symlink(victim, filepath.Join(dir, "file.txt"))
	os.Symlink(filepath.Join(outside, "new.txt"), filepath.Join(dir, "dangling.txt"))
	for _, parts := range [][]string{{"sub", "planted.txt"}, {"file.txt"}, {"dangling.txt"}, {"sub", "x", "y"}} {
		if f, err := Create(dir, parts); err == nil {
			f.Close()
			t.Errorf("Create(%q) followed a planted symlink", parts)
		}
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Fatalf("something was written outside the export directory: %v", ents)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatalf("victim changed: %q", b)
	}
}

func TestCreateRefusesEscapingComponents(t *testing.T) {
	dir := t.TempDir()
	for _, parts := range [][]string{{"..", "x"}, {"a", "..", "..", "x"}, {"/abs"}} {
		if f, err := Create(dir, parts); err == nil {
			f.Close()
			t.Errorf("Create(%q) succeeded", parts)
		}
	}
}
