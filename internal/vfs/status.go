package vfs

import (
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/s3mount/s3mount/internal/publish"
	"github.com/s3mount/s3mount/internal/spool"
)

// FileStatus is one open or dirty file, as `s3mount status` shows it.
type FileStatus struct {
	Key           string    `json:"key"`
	State         string    `json:"state"` // new, in-s3, unlinked
	Open          int       `json:"open_handles"`
	Size          int64     `json:"size"`
	Unpublished   int64     `json:"unpublished_bytes"`
	LastPublished time.Time `json:"last_publication,omitempty"`
	LastError     string    `json:"last_error,omitempty"`
	// Waiting: why the file's publication waits (publish.ErrHeld: its
	// object key is another file's), not an error.
	Waiting       string `json:"waiting,omitempty"`
	Conflict      string `json:"conflict,omitempty"`
	DroppedBytes  int64  `json:"dropped_bytes,omitempty"`
	DroppedWrites int64  `json:"dropped_writes,omitempty"`
	SpoolFile     string `json:"spool_file,omitempty"`
	// Object and ObjectSize: a compressed file's object and its size
	// (-1: not known yet); filled by the daemon with --compress.
	Object     string `json:"object,omitempty"`
	ObjectSize int64  `json:"object_size,omitempty"`
}

// Files lists the files with local state (open, dirty, or kept after a
// refused publication), sorted by key.
func (fs *FS) Files() []FileStatus {
	fs.mu.Lock()
	nodes := make([]*Node, 0, len(fs.nodes))
	for _, n := range fs.nodes {
		nodes = append(nodes, n)
	}
	fs.mu.Unlock()
	var out []FileStatus
	for _, n := range nodes {
		n.mu.Lock()
		if n.dir || (n.file == nil && n.handles == 0) {
			n.mu.Unlock()
			continue
		}
		s := FileStatus{Key: fs.key(n.path), State: n.state.String(), Open: n.handles, Size: n.sizeLocked(),
			DroppedBytes: n.ws().drops.bytes, DroppedWrites: n.ws().drops.writes}
		pubErr, lastPub := n.ws().job.Outcome()
		s.LastPublished = lastPub
		switch {
		case errors.Is(pubErr, publish.ErrHeld):
			s.Waiting = strings.TrimPrefix(pubErr.Error(), publish.ErrHeld.Error()+": ")
		case pubErr != nil:
			s.LastError = pubErr.Error()
		}
		if f := n.file; f != nil {
			j := f.Journal()
			s.SpoolFile = f.DataPath()
			s.Conflict = j.Conflict
			if j.Kind == spool.KindAppend {
				s.Unpublished = max(0, j.Size-j.BaseSize)
			} else if j.Dirty {
				s.Unpublished = j.Size
			}
		}
		n.mu.Unlock()
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
