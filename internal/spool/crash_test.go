package spool

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// syncDirReal is the directory fsync the spool uses outside tests.
var syncDirReal = syncDir

// fdatasyncReal is the journal files' fdatasync outside tests.
var fdatasyncReal = fdatasync

// failJournals makes journal writes fail until the test ends, as a crash
// at that point would leave the disk: the previous journal in place.
func failJournals(t *testing.T) {
	t.Helper()
	journalFault = func(string) error { return errors.New("injected: journal not written") }
	t.Cleanup(func() { journalFault = nil })
}

// A crash between freeing published blocks and recording that they are
// gone must not leave a journal that calls the zeroed blocks local: a
// small re-put after recovery would publish NULs.
func TestPunchRecordsLocalStartBeforeFreeing(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	f, err := s.Create(Journal{Key: "k", Kind: KindAppend})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("line of a log.\n"), 1<<12)
	write(t, f, data, 0)
	if err := f.Update(func(j *Journal) { j.Exists, j.BaseSize, j.BaseETag = true, int64(len(data)), `"e"` }); err != nil {
		t.Fatal(err)
	}
	failJournals(t)
	if err := f.Punch(0, int64(len(data))); err == nil {
		t.Fatal("Punch succeeded without its journal")
	}
	if j := f.Journal(); j.LocalStart != 0 {
		t.Fatalf("local start %d in memory after a failed punch", j.LocalStart)
	}
	journalFault = nil
	s.Close()
	_, left := open(t, dir, Options{})
	if len(left) != 1 {
		t.Fatalf("recovered %d files", len(left))
	}
	j := left[0].Journal()
	got := make([]byte, j.BaseSize-j.LocalStart)
	if _, err := left[0].ReadAt(got, j.LocalStart); err != nil {
		t.Fatal(err)
	}
	if want := data[j.LocalStart:j.BaseSize]; !bytes.Equal(got, want) {
		t.Fatalf("recovery reads %d bytes at %d that are not the published ones (first %q)", len(got), j.LocalStart, got[:16])
	}
}

// dirSyncs records what the spool directory held at each directory fsync.
func dirSyncs(t *testing.T) *[][]string {
	t.Helper()
	var seen [][]string
	syncDir = func(dir string) error {
		names, err := filepath.Glob(filepath.Join(dir, "*"))
		for i := range names {
			names[i] = filepath.Base(names[i])
		}
		seen = append(seen, names)
		if err != nil {
			return err
		}
		return syncDirReal(dir)
	}
	t.Cleanup(func() { syncDir = syncDirReal })
	return &seen
}

// A new file's directory entries, each journal file renamed into place,
// and a removal are made durable by a directory fsync after them: without
// it a crash can lose the entries (the file, or the journal's last
// version) or bring a removed journal back. A journal updated in place
// needs none.
func TestDirectoryIsSyncedAfterCreateRenameRemove(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	seen := dirSyncs(t)
	f, err := s.Create(Journal{Key: "k", Kind: KindWhole})
	if err != nil {
		t.Fatal(err)
	}
	data, journal, tmp := f.ID()+".data", f.ID()+".json", f.ID()+".json.tmp"
	synced := func(what string, want, not []string) {
		t.Helper()
		if len(*seen) == 0 {
			t.Fatalf("%s: the directory was never fsynced", what)
		}
		last := (*seen)[len(*seen)-1]
		for _, w := range want {
			if !slices.Contains(last, w) {
				t.Fatalf("%s: the last directory fsync saw %v, not %s", what, last, w)
			}
		}
		for _, n := range not {
			if slices.Contains(last, n) {
				t.Fatalf("%s: the last directory fsync came before %s was gone (saw %v)", what, n, last)
			}
		}
		*seen = nil
	}
	synced("create", []string{data, journal}, []string{tmp})
	// An update in place changes no directory entry: it is durable once
	// the journal file's data is.
	datasyncs := 0
	fdatasync = func(f *os.File) error { datasyncs++; return fdatasyncReal(f) }
	t.Cleanup(func() { fdatasync = fdatasyncReal })
	if err := f.Update(func(j *Journal) { j.Conflict = "x" }); err != nil {
		t.Fatal(err)
	}
	if len(*seen) != 0 || datasyncs != 1 {
		t.Fatalf("journal update in place: %d directory fsyncs, %d fdatasyncs; want 0 and 1", len(*seen), datasyncs)
	}
	// A record that outgrows its slot is a new journal file, renamed
	// into place.
	if err := f.Update(func(j *Journal) { j.Conflict = strings.Repeat("x", 2*slotAlign) }); err != nil {
		t.Fatal(err)
	}
	synced("journal grown past its slot", []string{data, journal}, []string{tmp})
	if err := f.Remove(); err != nil {
		t.Fatal(err)
	}
	synced("remove", nil, []string{data, journal})
}

// Journal files are made as a .tmp file and renamed, so a crash while one
// is made leaves a torn .tmp, never a torn journal (a torn update in place:
// journalfile_test.go). Recovery goes on with the
// journal in place, drops torn .tmp files, and drops the data file of a
// Create that had not returned yet (nothing of it was acknowledged); a
// damaged journal is set aside (journal_test.go), its data kept.
func TestRecoveryAfterTornJournalWrites(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	f, err := s.Create(Journal{Key: "kept", Kind: KindWhole, Dirty: true})
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, []byte("kept bytes"), 0)
	s.Close()
	torn := []byte(`{"key":"kept","kind":"whole","exi`)
	put := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	put(f.ID()+".json.tmp", torn)            // crash inside an update of "kept"
	put("20260101T000000-00.data", nil)      // crash inside a Create ...
	put("20260101T000000-00.json.tmp", torn) // ... during its first journal write

	_, left := open(t, dir, Options{})
	if len(left) != 1 || left[0].Journal().Key != "kept" {
		t.Fatalf("recovered %d files", len(left))
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	slices.Sort(names)
	want := []string{identityFile, lockFile, reserveFile, f.ID() + ".data", f.ID() + ".json"}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("spool directory after recovery holds %v, want %v", names, want)
	}
	left[0].sp.Close()

	// A damaged journal (not ours to write torn: a disk error) is set
	// aside; the data stays for s3mount recover, and the next mount too.
	put(f.ID()+".json", torn)
	for range 2 {
		s, left := open(t, dir, Options{})
		s.Close()
		if len(left) != 0 {
			t.Fatalf("recovered %d files from a damaged journal", len(left))
		}
		if _, err := os.Stat(filepath.Join(dir, f.ID()+".data")); err != nil {
			t.Fatalf("the data of a damaged journal was not kept: %v", err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, f.ID()+".json.corrupt")); err != nil || !bytes.Equal(b, torn) {
			t.Fatalf("the damaged journal was not set aside as it was: %q, %v", b, err)
		}
	}
}
