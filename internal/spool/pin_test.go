package spool

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
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
	if _, err := s.CreateFrom(j, func(string) (func(bool), error) { return nil, unix.ENOENT }); err == nil {
		t.Fatal("a failed take made a spool file")
	}
	if _, err := os.Stat(src); err != nil {
		t.Fatal(err)
	}
	tk := &taker{t: t, src: src}
	f, err := s.CreateFrom(j, tk.take)
	if err != nil {
		t.Fatal(err)
	}
	if tk.kept != "kept" {
		t.Fatalf("take settled as %q", tk.kept)
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
	tk2 := &taker{t: t, src: src2}
	if _, err := s2.CreateFrom(j, tk2.take); err == nil {
		t.Fatal("took a file with two names")
	}
	if n := s2.Files(); n != 0 || tk2.kept != "given back" {
		t.Fatalf("%d spool files after a refused take, settled as %q", n, tk2.kept)
	}
	if _, err := os.Stat(src2); err != nil {
		t.Fatalf("a refused file not given back: %v", err)
	}
}

// taker moves src into the spool, and back if the spool does not keep
// it, as the data cache's Give does.
type taker struct {
	t    *testing.T
	src  string
	kept string // "kept", "given back", or "" while unsettled
}

func (tk *taker) take(p string) (func(bool), error) {
	if err := os.Rename(tk.src, p); err != nil {
		return nil, err
	}
	return func(kept bool) {
		if tk.kept != "" {
			tk.t.Errorf("take settled twice (%q, then %v)", tk.kept, kept)
		}
		if !kept {
			tk.kept = "given back"
			if err := os.Rename(p, tk.src); err != nil {
				tk.t.Error(err)
			}
			return
		}
		tk.kept = "kept"
		// Kept only once recorded: the journal is at its name.
		if _, err := os.Stat(strings.TrimSuffix(p, ".data") + ".json"); err != nil {
			tk.t.Errorf("kept before its journal was written: %v", err)
		}
	}, nil
}

// A take whose journal meets a full disk gives the file back (the data
// cache then still has it, for a later take: a reader of the cache file
// sees the writes of that later open) and leaves no spool file: no
// journal, no data file. The later take, with room, keeps it.
func TestCreateFromGivesBackOnAFullDisk(t *testing.T) {
	dir := t.TempDir()
	var full atomic.Bool
	s, _ := open(t, dir+"/spool", Options{NoSpace: full.Load})
	src := dir + "/cached"
	if err := os.WriteFile(src, []byte("one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	j := Journal{Key: "a.log", Kind: KindAppend, Exists: true, BaseSize: 4, BaseETag: `"e"`, Size: 4}
	full.Store(true)
	tk := &taker{t: t, src: src}
	if _, err := s.CreateFrom(j, tk.take); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a take on a full disk: %v", err)
	}
	if tk.kept != "given back" {
		t.Fatalf("take settled as %q", tk.kept)
	}
	if b, err := os.ReadFile(src); err != nil || string(b) != "one\n" {
		t.Fatalf("the file given back: %q, %v", b, err)
	}
	if left, _ := filepath.Glob(dir + "/spool/*-*"); len(left) != 0 || s.Files() != 0 {
		t.Fatalf("a failed take left %v (%d files)", left, s.Files())
	}
	full.Store(false)
	s.ClearDiskFull()
	tk = &taker{t: t, src: src}
	if _, err := s.CreateFrom(j, tk.take); err != nil || tk.kept != "kept" {
		t.Fatalf("the take with room: %v, settled as %q", err, tk.kept)
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
