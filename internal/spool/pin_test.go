package spool

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A pinned data file stays a plain image of the file: published bytes are
// not punched, a rebase cannot shift them, writes and in-place truncation
// still reach it (a direct reader sees them at once).
func TestPinKeepsLayout(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{})
	f, err := s.Create(Journal{Key: "a.log", Kind: KindAppend})
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, []byte("one\ntwo\n"), 0)
	fd, ok := f.Pin()
	if !ok {
		t.Fatal("Pin refused a plain file")
	}
	if err := f.Update(func(j *Journal) { j.Exists, j.BaseSize = true, 8 }); err != nil {
		t.Fatalf("a journal change that keeps the layout: %v", err)
	}
	if err := f.Punch(0, 8); !errors.Is(err, ErrPinned) {
		t.Fatalf("Punch of a pinned file = %v, want ErrPinned", err)
	}
	if err := f.Update(func(j *Journal) { j.Shift += 5; j.LocalStart = 13 }); !errors.Is(err, ErrPinned) {
		t.Fatalf("a shifting Update of a pinned file = %v, want ErrPinned", err)
	}
	if j := f.Journal(); j.Shift != 0 || j.LocalStart != 0 {
		t.Fatalf("refused Update changed the journal: %+v", j)
	}
	write(t, f, []byte("three\n"), 8)
	buf := make([]byte, 32)
	// The descriptor is read as the kernel would (an os.File would close
	// it when collected).
	if n, _ := unix.Pread(fd, buf, 0); string(buf[:n]) != "one\ntwo\nthree\n" {
		t.Fatalf("data file read directly: %q", buf[:n])
	}
	if err := f.Update(func(j *Journal) { j.Kind, j.Dirty = KindWhole, true }); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(4); err != nil {
		t.Fatal(err)
	}
	if n, _ := unix.Pread(fd, buf, 0); string(buf[:n]) != "one\n" {
		t.Fatalf("after truncate, data file read directly: %q", buf[:n])
	}
	f.Unpin()
	if f.Pinned() {
		t.Fatal("still pinned after Unpin")
	}
	if err := f.Punch(0, 4); err != nil {
		t.Fatalf("Punch after Unpin: %v", err)
	}
	if _, ok := f.Pin(); ok {
		t.Fatal("Pin of a file whose first bytes were punched succeeded")
	}
}

// A shifted file (appending to an existing object) is no image of the file.
func TestPinRefusesShifted(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{})
	f, err := s.Create(Journal{Key: "b.log", Kind: KindAppend, Exists: true, BaseSize: 100, Shift: 100, LocalStart: 100, Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Pin(); ok {
		t.Fatal("Pin of a shifted file succeeded")
	}
}

// CreateFrom takes a file that exists (a data cache file a direct reader
// reads) as the data file: renamed in, its bytes the file's, written in
// place (the reader's descriptor sees the writes), found again by
// recovery; a take that fails, or a file that is not a plain file of
// this user, leaves no spool file.
func TestCreateFromTakesTheFile(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir+"/spool", Options{})
	src := dir + "/cached"
	if err := os.WriteFile(src, []byte("one\ntwo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reader, err := os.Open(src) // as the kernel's backing file
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	j := Journal{Key: "a.log", Kind: KindAppend, Exists: true, BaseSize: 8, BaseETag: `"e"`, Size: 8}
	if _, err := s.CreateFrom(j, func(string) error { return unix.ENOENT }); err == nil {
		t.Fatal("a failed take made a spool file")
	}
	if _, err := os.Stat(src); err != nil {
		t.Fatal(err)
	}
	f, err := s.CreateFrom(j, func(p string) error { return os.Rename(src, p) })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Pin(); !ok {
		t.Fatal("a taken plain image not pinned")
	}
	write(t, f, []byte("three\n"), 8)
	buf := make([]byte, 32)
	if n, _ := reader.ReadAt(buf, 0); string(buf[:n]) != "one\ntwo\nthree\n" {
		t.Fatalf("the taken file's reader reads %q", buf[:n])
	}
	if err := f.Update(func(jj *Journal) { jj.Size = 14 }); err != nil {
		t.Fatal(err)
	}
	f.Unpin()
	s.Close()
	_, left := open(t, dir+"/spool", Options{})
	if len(left) != 1 || left[0].Journal().Size != 14 || left[0].Journal().BaseETag != `"e"` {
		t.Fatalf("recovered %d files", len(left))
	}
	if n, _ := left[0].ReadAt(buf, 0); string(buf[:n]) != "one\ntwo\nthree\n" {
		t.Fatalf("recovered bytes %q", buf[:n])
	}

	// A second name of the file: not taken.
	src2 := dir + "/linked"
	os.WriteFile(src2, []byte("x"), 0o600)
	os.Link(src2, dir+"/other-name")
	s2, _ := open(t, dir+"/spool2", Options{})
	if _, err := s2.CreateFrom(j, func(p string) error { return os.Rename(src2, p) }); err == nil {
		t.Fatal("took a file with two names")
	}
	if n := s2.Files(); n != 0 {
		t.Fatalf("%d spool files after a refused take", n)
	}
}

// A journal whose directory sync failed was renamed in already: a Create
// that fails so removes it before its data file, never leaving a journal
// without one.
func TestCreateFailedAtDirSyncLeavesNoJournal(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	syncDir = func(string) error { return syscall.EIO }
	t.Cleanup(func() { syncDir = syncDirReal })
	if _, err := s.Create(Journal{Key: "k", Kind: KindAppend}); err == nil {
		t.Fatal("Create succeeded with its directory sync failing")
	}
	syncDir = syncDirReal
	if left, _ := filepath.Glob(dir + "/*-*"); len(left) != 0 {
		t.Fatalf("a failed Create left %v", left)
	}
}
