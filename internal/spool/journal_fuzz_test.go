package spool

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzJournal: recovery over any journal file (and a data file of any
// length) never panics and never stops the mount. A journal it takes
// satisfies the invariants the rest of the code relies on (Check, the data
// file as the authority on the size, its local bytes readable as they are
// on disk, the buffer charged what is unpublished); one it refuses is set
// aside with one log line naming it and its data file left byte for byte.
func FuzzJournal(f *testing.F) {
	// Slotted journal files (journalfile.go): one record; and two, the
	// newer one torn.
	one := make([]byte, 2*slotAlign)
	copy(one[slotAlign:], encodeRecord(1, []byte(`{"key":"logs/a.log","kind":"whole","dirty":true,"size":10}`)))
	f.Add(one, uint16(10))
	two := bytes.Clone(one)
	torn := encodeRecord(2, []byte(`{"key":"logs/a.log","kind":"append","size":20}`))
	torn[len(torn)-1] ^= 1
	copy(two, torn)
	f.Add(two, uint16(10))
	f.Fuzz(func(t *testing.T, journal []byte, dataLen uint16) {
		dir := t.TempDir()
		os.Chmod(dir, 0o700)
		if err := os.WriteFile(filepath.Join(dir, identityFile), []byte(prefixIdentity+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, dataLen)
		for i := range data {
			data[i] = byte(i*7 + i>>8)
		}
		const id = "20260101T000000-fuzz"
		plant(t, dir, id, journal, data)
		jp, dp := filepath.Join(dir, id+".json"), filepath.Join(dir, id+".data")

		var log bytes.Buffer
		s, left, err := Open(dir, prefixIdentity, Options{Logger: bufLogger(&log)})
		if err != nil {
			t.Fatalf("Open stopped: %v", err)
		}
		defer s.Close()
		switch {
		case len(left) == 1:
			checkTaken(t, s, left[0], data)
			if log.Len() != 0 {
				t.Fatalf("a journal taken logged:\n%s", &log)
			}
		case len(s.Unlinked()) == 1:
			// Unlinked while open: deleted by contract, never published.
			if err := s.Unlinked()[0].Check("logs/"); err != nil || exists(jp) || exists(dp) {
				t.Fatalf("unlinked journal handed on: %v; journal left %v, data left %v", err, exists(jp), exists(dp))
			}
		default:
			if b, err := os.ReadFile(dp); err != nil || !bytes.Equal(b, data) {
				t.Fatalf("refused journal's data file: %d bytes, %v", len(b), err)
			}
			if b, err := os.ReadFile(jp + ".corrupt"); err != nil || !bytes.Equal(b, journal) || exists(jp) {
				t.Fatalf("refused journal not set aside as it was (%v)", err)
			}
			lines := strings.Split(strings.TrimSpace(log.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], "level=ERROR") || !strings.Contains(lines[0], jp) {
				t.Fatalf("refused journal: want one error line naming it, got:\n%s", &log)
			}
		}
	})
}

// checkTaken checks a recovered file against what is on disk.
func checkTaken(t *testing.T, s *Spool, f *File, data []byte) {
	t.Helper()
	j := f.Journal()
	if err := j.Check("logs/"); err != nil {
		t.Fatalf("recovered a journal that fails Check: %v (%+v)", err, j)
	}
	if j.Unlinked {
		t.Fatal("recovered a file unlinked while open")
	}
	if want := int64(len(data)) + j.Shift; j.Size != want {
		t.Fatalf("recovered size %d, want the data file's end %d", j.Size, want)
	}
	if got, want := s.Used(), f.dirtyBytes(); got != want || want < 0 {
		t.Fatalf("buffer charged %d for %d unpublished bytes", got, want)
	}
	local := make([]byte, j.Size-j.LocalStart)
	n, err := f.ReadAt(local, j.LocalStart)
	if err != nil && !errors.Is(err, io.EOF) || n != len(local) {
		t.Fatalf("reading the local bytes [%d, %d): %d, %v", j.LocalStart, j.Size, n, err)
	}
	if want := data[j.LocalStart-j.Shift:]; !bytes.Equal(local, want) {
		t.Fatalf("local bytes [%d, %d) are not the data file's from %d", j.LocalStart, j.Size, j.LocalStart-j.Shift)
	}
}
