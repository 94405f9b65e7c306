package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestStatusPointerWrittenAndRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s3mount-0")
	euid := os.Geteuid()
	if err := writePointer(dir, "abc", "/spool/status.sock", euid); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(dir); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Fatalf("pointer directory: %v %v, want a 0700 directory", st, err)
	}
	if st, err := os.Lstat(filepath.Join(dir, "abc")); err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
		t.Fatalf("pointer: %v %v, want a 0600 file", st, err)
	}
	if got, err := readPointer(dir, "abc", euid); err != nil || got != "/spool/status.sock" {
		t.Fatalf("readPointer = %q, %v", got, err)
	}
	removePointer(dir, "abc", euid)
	if _, err := readPointer(dir, "abc", euid); !os.IsNotExist(err) {
		t.Fatalf("after removePointer: %v, want not exist", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}

// Another local user got to the directory first: it belongs to someone
// else, is a symlink, or others may write to it. Neither the daemon nor
// `s3mount status` uses it.
func TestStatusPointerRefusesForeignDirectory(t *testing.T) {
	euid := os.Geteuid()
	cases := map[string]func(dir string) error{
		"owned by another uid": func(dir string) error {
			if err := os.Mkdir(dir, 0o700); err != nil {
				return err
			}
			return os.Chown(dir, 65534, 65534)
		},
		"a symlink to a directory of ours": func(dir string) error {
			target := dir + ".target"
			if err := os.Mkdir(target, 0o700); err != nil {
				return err
			}
			return os.Symlink(target, dir)
		},
		"writable by others": func(dir string) error {
			if err := os.Mkdir(dir, 0o700); err != nil {
				return err
			}
			return os.Chmod(dir, 0o777|os.ModeSticky)
		},
		"a file": func(dir string) error { return os.WriteFile(dir, nil, 0o600) },
	}
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "s3mount-1000")
			if err := plant(dir); err != nil {
				t.Fatal(err)
			}
			err := writePointer(dir, "abc", "/evil.sock", euid)
			if err == nil || !strings.Contains(err.Error(), dir) {
				t.Fatalf("writePointer in a directory %s: %v, want a refusal naming it", name, err)
			}
			if _, err := os.Lstat(filepath.Join(dir, "abc")); !os.IsNotExist(err) && !isNotDir(err) {
				t.Fatalf("a pointer was written: %v", err)
			}
			if ents, _ := os.ReadDir(dir + ".target"); len(ents) != 0 {
				t.Fatalf("written through the symlink: %v", ents)
			}
			if _, err := readPointer(dir, "abc", euid); err == nil || os.IsNotExist(err) {
				t.Fatalf("readPointer in a directory %s: %v, want a refusal", name, err)
			}
		})
	}
	// The same from a non-root user's side: a directory root created.
	dir := filepath.Join(t.TempDir(), "s3mount-65534")
	os.Mkdir(dir, 0o700)
	if err := writePointer(dir, "abc", "/s", 65534); err == nil || !strings.Contains(err.Error(), "belongs to uid 0, not to uid 65534") {
		t.Fatalf("writePointer as uid 65534 in root's directory: %v", err)
	}
}

// A symlink planted at the pointer's own path is replaced, never followed,
// and a pointer that is a symlink or someone else's file is not read.
func TestStatusPointerNeverFollowsSymlinks(t *testing.T) {
	euid := os.Geteuid()
	dir := filepath.Join(t.TempDir(), "s3mount-0")
	os.Mkdir(dir, 0o700)
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	ptr := filepath.Join(dir, "abc")
	if err := os.Symlink(victim, ptr); err != nil {
		t.Fatal(err)
	}
	if err := writePointer(dir, "abc", "/spool/status.sock", euid); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatalf("written through the planted symlink: victim holds %q", b)
	}
	if st, err := os.Lstat(ptr); err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
		t.Fatalf("pointer: %v %v, want a 0600 regular file", st, err)
	}

	os.Remove(ptr)
	os.Symlink(victim, ptr)
	if got, err := readPointer(dir, "abc", euid); err == nil {
		t.Fatalf("readPointer followed a symlink: %q", got)
	}
	os.Remove(ptr)
	os.WriteFile(ptr, []byte("/evil.sock"), 0o600)
	os.Chown(ptr, 65534, 65534)
	if got, err := readPointer(dir, "abc", euid); err == nil {
		t.Fatalf("readPointer trusted another user's file: %q", got)
	}
}

func isNotDir(err error) bool {
	pe, ok := err.(*os.PathError)
	return ok && pe.Err == syscall.ENOTDIR
}
