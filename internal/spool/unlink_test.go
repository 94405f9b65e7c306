package spool

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// spoolFiles lists the data and journal files in dir.
func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*.data", "*.json"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	return out
}

// A file unlinked while open is gone: its bytes stop counting against the
// buffer at once and later writes are not charged, the handles that have
// it open still read and write it, and after a restart it is deleted, not
// returned for publication.
func TestUnlinkedFileIsReleasedAndNeverRecovered(t *testing.T) {
	for _, kind := range []Kind{KindAppend, KindWhole} {
		t.Run(string(kind), func(t *testing.T) {
			dir := t.TempDir()
			s, _ := open(t, dir, Options{})
			f, err := s.Create(Journal{Key: "secret.log", Kind: kind, Dirty: kind == KindWhole})
			if err != nil {
				t.Fatal(err)
			}
			write(t, f, []byte("token\n"), 0)
			if s.Used() != 6 {
				t.Fatalf("used %d before unlink", s.Used())
			}
			if err := f.MarkUnlinked(); err != nil {
				t.Fatal(err)
			}
			if s.Used() != 0 {
				t.Fatalf("used %d after unlink, want 0", s.Used())
			}
			// Persisted before MarkUnlinked returns.
			if b, err := os.ReadFile(f.journalPath()); err != nil || !strings.Contains(string(b), `"unlinked":true`) {
				t.Fatalf("journal on disk after MarkUnlinked: %s %v", b, err)
			}
			if g := f.Growth(6, 100); g != 0 {
				t.Fatalf("a write to an unlinked file would be charged %d bytes", g)
			}
			write(t, f, []byte("more\n"), 6)
			if s.Used() != 0 {
				t.Fatalf("used %d after writing to the unlinked file", s.Used())
			}
			got := make([]byte, 11)
			if _, err := f.ReadAt(got, 0); err != nil || string(got) != "token\nmore\n" {
				t.Fatalf("the open handle reads %q %v", got, err)
			}
			// s3mount recover neither lists nor exports it.
			if es, err := Inspect(dir); err != nil || len(es) != 0 {
				t.Fatalf("Inspect: %+v %v", es, err)
			}
			s.Close()
			_, left := open(t, dir, Options{})
			if len(left) != 0 {
				t.Fatalf("recovery returned the unlinked file: %+v", left[0].Journal())
			}
			if fs := spoolFiles(t, dir); len(fs) != 0 {
				t.Fatalf("recovery left %v", fs)
			}
		})
	}
}

// A file that was to replace the object its name held (a rename over a
// file, or one a rename left: publish.ClaimLeft) and is itself renamed
// over: its journal says unlinked and no object, and recovery deletes it
// quietly. Before, the journal kept base "replaced" without exists, which
// recovery refused as damage (an ERROR line, the data kept for s3mount
// recover).
func TestReplacedFileOfAReplacedBaseIsNoDamage(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	f, err := s.Create(Journal{Key: "app.log", Kind: KindAppend, Exists: true, BaseETag: `"old"`, Base: BaseReplaced})
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, []byte("line\n"), 0)
	if err := f.MarkReplaced(); err != nil {
		t.Fatal(err)
	}
	if err := f.Journal().Check(""); err != nil {
		t.Fatalf("the replaced file's journal: %v", err)
	}
	s.Close()
	s2, left := open(t, dir, Options{})
	defer s2.Close()
	if len(left) != 0 {
		t.Fatalf("recovery returned the replaced file: %+v", left[0].Journal())
	}
	if fs := spoolFiles(t, dir); len(fs) != 0 {
		t.Fatalf("recovery left %v (set aside as damage?)", fs)
	}
	if u := s2.Unlinked(); len(u) != 1 || u[0].Exists {
		t.Fatalf("recovery's unlinked journals: %+v, want one with no object to delete", u)
	}
}

// With no room for the journal, the unlink is recorded by removing it: a
// data file without a journal is dropped by recovery, never published.
func TestUnlinkOnFullDiskStillForgets(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	f, err := s.Create(Journal{Key: "secret.log", Kind: KindAppend})
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, []byte("token\n"), 0)
	journalFault = func(string) error { return &os.PathError{Op: "write", Path: "journal", Err: syscall.ENOSPC} }
	t.Cleanup(func() { journalFault = nil })
	if err := f.MarkUnlinked(); err != nil {
		t.Fatal(err)
	}
	if s.Used() != 0 {
		t.Fatalf("used %d after unlink", s.Used())
	}
	journalFault = nil
	s.Close()
	if _, left := open(t, dir, Options{}); len(left) != 0 {
		t.Fatalf("recovery returned the unlinked file: %+v", left[0].Journal())
	}
}

// Recovery returns files in the order they were created (two journals of
// one key: the later one is the file's current content), by a persisted
// creation time that only grows, across restarts too.
func TestRecoveryReturnsFilesInCreationOrder(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	const n = 20
	for i := 0; i < n; i++ {
		f, err := s.Create(Journal{Key: fmt.Sprintf("k%02d", i), Kind: KindWhole, Dirty: true})
		if err != nil {
			t.Fatal(err)
		}
		write(t, f, []byte("x"), 0)
	}
	s.Close()
	s, left := open(t, dir, Options{})
	if len(left) != n {
		t.Fatalf("recovered %d files", len(left))
	}
	var keys bytes.Buffer
	for i, f := range left {
		fmt.Fprintf(&keys, "k%02d ", i)
		if i > 0 && f.Journal().Created <= left[i-1].Journal().Created {
			t.Fatalf("creation times not increasing: %d then %d", left[i-1].Journal().Created, f.Journal().Created)
		}
	}
	var got bytes.Buffer
	for _, f := range left {
		fmt.Fprintf(&got, "%s ", f.Journal().Key)
	}
	if got.String() != keys.String() {
		t.Fatalf("recovered in order %s, want %s", got.String(), keys.String())
	}
	// A clock that went back does not make a new file older than a
	// recovered one.
	last := left[n-1].Journal().Created
	f, err := s.Create(Journal{Key: "new", Kind: KindWhole})
	if err != nil {
		t.Fatal(err)
	}
	if f.Journal().Created <= last {
		t.Fatalf("a file created after recovery is not newer: %d <= %d", f.Journal().Created, last)
	}
	if err := left[0].Update(func(j *Journal) { j.Created = f.Journal().Created + 3600e9 }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, left = open(t, dir, Options{})
	g, err := s.Create(Journal{Key: "newer", Kind: KindWhole})
	if err != nil {
		t.Fatal(err)
	}
	if g.Journal().Created <= left[len(left)-1].Journal().Created {
		t.Fatalf("a file created after recovery is older than a recovered one (%d <= %d)", g.Journal().Created, left[len(left)-1].Journal().Created)
	}
}
