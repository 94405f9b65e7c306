package vfs

import (
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/s3mount/s3mount/internal/publish"
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
	// MapCheck: the range of bytes S3 has that are to be compared with
	// the spool's before the next publication ("[from, to)", "[from,
	// end)"), written past the daemon through a shared mapping maybe
	// (localreads.go); MapOpens: the opens that may map the file still
	// open, which the comparison waits for.
	MapCheck string `json:"map_check,omitempty"`
	MapOpens int    `json:"map_opens,omitempty"`
}

// MapCheckState is how `s3mount status` shows a comparison with S3 that
// is due ("" if none).
func (s FileStatus) MapCheckState() string {
	switch {
	case s.MapCheck == "":
		return ""
	case s.MapOpens > 0:
		return "compare " + s.MapCheck + " with S3 once the read-write opens beside a direct reader close"
	}
	return "compare " + s.MapCheck + " with S3"
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
			if j.MapCheck != nil {
				s.MapCheck, s.MapOpens = j.MapCheck.String(), n.ws().mapOpens
			}
			s.Unpublished = j.Unpublished()
		}
		n.mu.Unlock()
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
