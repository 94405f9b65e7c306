package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A name S3 cannot store is refused when it is made (ENAMETOOLONG for a
// key over 1,024 bytes, EINVAL for a name that is not UTF-8), never
// accepted and left in the spool unpublishable; a key of exactly 1,024
// bytes is published.
func TestNamesS3CannotStore(t *testing.T) {
	srv, b := setup(t)
	m := mount(t, srv, b, "--allow-delete")
	comp := strings.Repeat("d", 250)
	deep := filepath.Join(m.Dir, comp, comp, comp, comp) // key "d…/d…/d…/d…/" is 1,004 bytes
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatalf("mkdir of a 1,004-byte directory key: %v", err)
	}
	fit := strings.Repeat("f", 1024-1004) // key of exactly 1,024 bytes
	if err := os.WriteFile(filepath.Join(deep, fit), []byte("fits\n"), 0o644); err != nil {
		t.Fatalf("create with a 1,024-byte key: %v", err)
	}
	key := strings.Join([]string{comp, comp, comp, comp, fit}, "/")
	if got := srv.Get(t, b, key); string(got) != "fits\n" {
		t.Fatalf("the 1,024-byte key holds %q", got)
	}
	tooLong := filepath.Join(deep, fit+"x")
	if err := os.WriteFile(tooLong, []byte("no\n"), 0o644); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Fatalf("create with a 1,025-byte key: %v, want ENAMETOOLONG", err)
	}
	if err := os.Mkdir(filepath.Join(deep, strings.Repeat("e", 20)), 0o755); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Fatalf("mkdir of a directory whose key is over 1,024 bytes: %v, want ENAMETOOLONG", err)
	}
	if err := os.WriteFile(filepath.Join(m.Dir, "short"), []byte("s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(m.Dir, "short"), tooLong); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Fatalf("rename to a 1,025-byte key: %v, want ENAMETOOLONG", err)
	}
	for _, name := range []string{"bad\xff.txt", "half\xe2\x82.txt"} {
		if err := os.WriteFile(filepath.Join(m.Dir, name), []byte("x\n"), 0o644); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("create %q (not UTF-8): %v, want EINVAL", name, err)
		}
		if err := os.Mkdir(filepath.Join(m.Dir, name+"d"), 0o755); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("mkdir %q (not UTF-8): %v, want EINVAL", name, err)
		}
		if _, err := os.Stat(filepath.Join(m.Dir, name)); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("stat %q: %v, want ENOENT", name, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(m.SpoolDir, "*.json")); len(left) != 0 {
		t.Fatalf("refused names left spool files: %v", left)
	}
	m.Unmount(t)
	var files []string // and the mkdir'd directories' markers
	for _, k := range srv.Keys(t, b, "") {
		if !strings.HasSuffix(k, "/") {
			files = append(files, k)
		}
	}
	if len(files) != 2 {
		t.Fatalf("S3 holds %q, want the 1,024-byte key and short", files)
	}
}

// Keys someone else crafted: characters XML cannot carry (a control
// character: listings are URL-encoded), characters URL encoding changes,
// and a key 500 directories deep. ls, find and cat work on all of them.
func TestCraftedKeys(t *testing.T) {
	srv, b := setup(t)
	keys := map[string]string{
		"d/sp ace+plus%41.txt": "one\n",
		"d/ünïcödé €.txt":      "two\n",
		"d/tab\there.txt":      "three\n",
		"d/ok.txt":             "four\n",
	}
	if srv.Kind != "versitygw" {
		// versitygw 1.8 ignores encoding-type and lists such a key with
		// U+FFFD in place of the control character.
		keys["d/ctl\x01.txt"] = "five\n"
	}
	deep := strings.Repeat("x/", 500) + "leaf.txt"
	keys[deep] = "deep\n"
	for k, v := range keys {
		srv.Put(t, b, k, []byte(v))
	}
	m := mount(t, srv, b)
	ents, err := os.ReadDir(filepath.Join(m.Dir, "d"))
	if err != nil {
		t.Fatalf("listing a directory with crafted keys: %v", err)
	}
	listed := map[string]bool{}
	for _, e := range ents {
		listed["d/"+e.Name()] = true
	}
	for k, v := range keys {
		if k == deep {
			continue
		}
		if !listed[k] {
			t.Errorf("%q not listed (listed: %v)", k, listed)
		}
		if got, err := os.ReadFile(filepath.Join(m.Dir, k)); err != nil || string(got) != v {
			t.Errorf("read %q: %q %v", k, got, err)
		}
	}
	if got, err := os.ReadFile(filepath.Join(m.Dir, deep)); err != nil || string(got) != "deep\n" {
		t.Fatalf("read the key 500 directories deep: %q %v", got, err)
	}
	out, err := exec.Command("find", filepath.Join(m.Dir, "x"), "-name", "leaf.txt").CombinedOutput()
	if err != nil || strings.Count(string(out), "leaf.txt") != 1 {
		t.Fatalf("find under the deep tree: %v\n%.300s", err, out)
	}
}
