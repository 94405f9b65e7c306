package spool

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// syncDirReal is the directory fsync the spool uses outside tests.
var syncDirReal = syncDir

// failJournals makes journal writes fail until the test ends, as a crash
// at that point would leave the disk: the previous journal in place.
func failJournals(t *testing.T) {
	t.Helper()
	writeFile = func(string, []byte) error { return errors.New("injected: journal not written") }
	t.Cleanup(func() { writeFile = writeFileSync })
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
	writeFile = writeFileSync
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

// A new file's directory entries, each journal renamed into place, and a
// removal are made durable by a directory fsync after them: without it a
// crash can lose the entries (the file, or the journal's last version) or
// bring a removed journal back.
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
	if err := f.Update(func(j *Journal) { j.Conflict = "x" }); err != nil {
		t.Fatal(err)
	}
	synced("journal update", []string{data, journal}, []string{tmp})
	if err := f.Remove(); err != nil {
		t.Fatal(err)
	}
	synced("remove", nil, []string{data, journal})
}

// Journals are written to a .tmp file and renamed, so a crash mid-write
// leaves a torn .tmp, never a torn journal. Recovery goes on with the
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
