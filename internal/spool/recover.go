package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// damagedError: a journal (or its data file) the spool could not have
// written. Recovery refuses that one file and goes on with the others.
type damagedError struct{ err error }

func (e *damagedError) Error() string { return e.err.Error() }
func (e *damagedError) Unwrap() error { return e.err }

func damaged(format string, a ...any) error { return &damagedError{fmt.Errorf(format, a...)} }

// recover loads the files a previous run left. A damaged journal is set
// aside (renamed *.json.corrupt, one log line naming it), its data file
// kept for s3mount recover, never deleted; the other files are recovered.
// Only an error reading the disk stops the mount.
func (s *Spool) recover() ([]*File, error) {
	s.dropTornWrites()
	names, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*File
	for _, jp := range names {
		f, err := s.recoverFile(jp)
		var d *damagedError
		if errors.As(err, &d) {
			s.setAside(jp, d)
			continue
		}
		if err != nil {
			return nil, err
		}
		if f != nil {
			out = append(out, f)
		}
	}
	// In creation order; journals from before Created by id (its time).
	sort.Slice(out, func(a, b int) bool {
		ja, jb := out[a].j.Created, out[b].j.Created
		if ja != jb {
			return ja < jb
		}
		return out[a].id < out[b].id
	})
	return out, nil
}

// recoverFile loads one journal and its data file (nil, nil: a file
// unlinked while open, deleted now).
func (s *Spool) recoverFile(jp string) (*File, error) {
	id := strings.TrimSuffix(filepath.Base(jp), ".json")
	b, err := readPrivate(jp, maxJournalFile, checkPrivate)
	if isPlanted(err) {
		return nil, damaged("journal: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read spool journal %s: %w", jp, err)
	}
	// A plain journal is fsynced before it is renamed into place, and a
	// crash tears at most one slot of a slotted one: a journal that does
	// not decode is damage, not a crash.
	pj, err := parseJournalFile(b)
	if err != nil {
		return nil, damaged("%w", err)
	}
	j := pj.j
	if err := j.Check(s.prefix); err != nil {
		return nil, damaged("%w", err)
	}
	// The file's first update makes its journal file anew (slotted, past
	// the sequence number found) and updates that one in place: the file
	// read here is never written through.
	f := &File{sp: s, id: id, j: j, jseq: pj.seq}
	if j.Unlinked {
		// Gone by contract: never published. Its object may still be
		// there if the crash came inside the unlink: Unlinked() hands
		// the journal to the caller to finish that.
		s.lastCreated = max(s.lastCreated, j.Created)
		s.unlinked = append(s.unlinked, j)
		os.Remove(f.dataPath())
		os.Remove(jp)
		return nil, nil
	}
	// Create makes the data file before the first journal and Remove
	// deletes it after the journal: a journal without one is damage.
	data, err := openPrivate(f.dataPath(), os.O_RDWR)
	if errors.Is(err, os.ErrNotExist) || isPlanted(err) {
		return nil, damaged("data file: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open spool data %s: %w", f.dataPath(), err)
	}
	st, err := checkPrivate(data)
	if err != nil {
		data.Close()
		if isPlanted(err) {
			return nil, damaged("data file: %w", err)
		}
		return nil, err
	}
	// Bytes reach the data file before any journal counts them, and a
	// shrink is journaled before the cut: the data file is never shorter
	// than the journal says, short of damage (or a power cut that lost
	// unsynced data). Zeros must not stand in for the missing bytes.
	if end := st.Size() + j.Shift; end < j.Size {
		data.Close()
		return nil, damaged("data file holds logical bytes up to %d, the journal says %d", end, j.Size)
	}
	f.data = data
	// The data file's length is the authority on what was written:
	// writes reach the data file before they are acknowledged.
	f.j.Size = st.Size() + j.Shift
	s.lastCreated = max(s.lastCreated, j.Created)
	f.accounted = f.dirtyBytes()
	s.mu.Lock()
	s.used += f.accounted
	s.files[id] = f
	s.mu.Unlock()
	s.track(id, Journal{}, f.j)
	return f, nil
}

// setAside renames a damaged journal out of recovery's way (the data file
// stays: dropTornWrites keeps the data of a *.json.corrupt) and says so in
// one line naming both files.
func (s *Spool) setAside(jp string, why error) {
	id := strings.TrimSuffix(filepath.Base(jp), ".json")
	data := filepath.Join(s.dir, id+".data")
	bad := jp + ".corrupt"
	if err := os.Rename(jp, bad); err != nil {
		s.log.Error("damaged spool journal not recovered; cannot set it aside", "journal", jp, "data", data, "reason", why.Error(), "err", err)
		return
	}
	s.log.Error("damaged spool journal not recovered: its data is kept for s3mount recover", "journal", bad, "data", data, "reason", why.Error())
}

// dropTornWrites removes what a crash inside a write left: .tmp files
// (the journal they were replacing is intact) and the data file of a
// Create that never wrote its first journal (Create had not returned, so
// none of its bytes were acknowledged). The data of a journal set aside as
// damaged stays. Only safe under the directory's lock.
func (s *Spool) dropTornWrites() {
	tmps, _ := filepath.Glob(filepath.Join(s.dir, "*.tmp"))
	for _, p := range tmps {
		os.Remove(p)
	}
	datas, _ := filepath.Glob(filepath.Join(s.dir, "*.data"))
	for _, dp := range datas {
		jp := strings.TrimSuffix(dp, ".data") + ".json"
		if !exists(jp) && !exists(jp+".corrupt") {
			os.Remove(dp)
		}
	}
}
