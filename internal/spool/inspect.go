package spool

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Entry is one spooled file as `s3mount recover` shows it, read without
// opening the spool (the daemon may be gone, or running).
type Entry struct {
	ID       string
	Journal  Journal
	DataPath string
}

// Unpublished is how many bytes S3 does not have.
func (e Entry) Unpublished() int64 { return e.Journal.Unpublished() }

// Identity returns the bucket/prefix that owns a spool directory.
func Identity(dir string) (string, error) {
	b, err := readPrivate(filepath.Join(dir, identityFile), maxIdentitySize, checkPlain)
	if err != nil {
		return "", fmt.Errorf("%s is not an s3mount spool directory: %w", dir, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Inspect lists the files held in the spool directory dir, but not those
// unlinked while open (the next mount deletes them).
func Inspect(dir string) ([]Entry, error) {
	if _, err := Identity(dir); err != nil {
		return nil, err
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, jp := range names {
		j, err := ReadJournal(jp)
		if err != nil {
			return nil, err
		}
		if j.Unlinked {
			continue // gone by contract: nothing to export or publish
		}
		id := strings.TrimSuffix(filepath.Base(jp), ".json")
		e := Entry{ID: id, Journal: j, DataPath: filepath.Join(dir, id+".data")}
		// As in recovery: the data file is the authority on what was
		// written; the journal's size wins only when larger (ftruncate up).
		if st, err := os.Lstat(e.DataPath); err == nil && st.Mode().IsRegular() {
			e.Journal.Size = max(e.Journal.Size, st.Size()+j.Shift)
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Journal.Key < out[k].Journal.Key })
	return out, nil
}

// ReadJournal reads one journal file (ID.json) of either layout
// (journalfile.go), without opening the spool.
func ReadJournal(path string) (Journal, error) {
	// Read as another user may: root exporting a user's spool must not
	// be led through a symlink or hard link that user planted.
	b, err := readPrivate(path, maxJournalFile, checkPlain)
	if isPlanted(err) {
		return Journal{}, fmt.Errorf("spool journal %s is damaged: %w", path, err)
	}
	if err != nil {
		return Journal{}, err
	}
	pj, err := parseJournalFile(b)
	if err != nil {
		return Journal{}, fmt.Errorf("spool journal %s is damaged: %w", path, err)
	}
	return pj.j, nil
}

// Export writes the bytes the spool holds for e ([LocalStart, Size) in the
// file's offsets) to w, and returns the offset they start at.
func (e Entry) Export(w io.Writer) (int64, error) {
	f, err := openPrivate(e.DataPath, os.O_RDONLY|syscall.O_NONBLOCK)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := checkPlain(f); err != nil {
		return 0, fmt.Errorf("spool data %s: %w", e.DataPath, err)
	}
	j := e.Journal
	n := j.Size - j.LocalStart
	if n <= 0 {
		return j.LocalStart, nil
	}
	r := io.NewSectionReader(f, j.LocalStart-j.Shift, n)
	if _, err := io.Copy(w, r); err != nil {
		return 0, err
	}
	return j.LocalStart, nil
}

// Discard deletes e from the spool directory.
func (e Entry) Discard(dir string) error {
	err := os.Remove(filepath.Join(dir, e.ID+".json"))
	if e2 := os.Remove(e.DataPath); err == nil && !os.IsNotExist(e2) {
		err = e2
	}
	return err
}
