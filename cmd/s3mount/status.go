package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/s3mount/s3mount/internal/config"
	"github.com/s3mount/s3mount/internal/vfs"
)

// statusReport is what the daemon answers on its status socket.
type statusReport struct {
	Bucket    string            `json:"bucket"`
	Prefix    string            `json:"prefix"`
	Mount     string            `json:"mount_point"`
	SpoolDir  string            `json:"spool_dir"`
	Totals    vfs.StatsSnapshot `json:"totals"`
	BufferMax int64             `json:"max_buffer_size"`
	Files     []vfs.FileStatus  `json:"files"`
	// Compression: bytes published before and after (--compress).
	Compression *compressionStatus `json:"compression,omitempty"`
}

type compressionStatus struct {
	Codec       string `json:"codec"`
	RawBytes    int64  `json:"published_bytes"`
	StoredBytes int64  `json:"stored_bytes"`
}

// compressedView is the --compress store view (internal/zstore).
type compressedView interface {
	ObjectOf(key string) (object string, size int64, ok bool)
	CompressionStats() (raw, comp int64)
}

// report is the status answer; view, when not nil, adds the compressed
// objects' names and sizes.
func report(fs *vfs.FS, o *config.Options, spoolDir string, view compressedView) statusReport {
	rep := statusReport{Bucket: o.Bucket, Prefix: o.Prefix, Mount: o.MountPoint, SpoolDir: spoolDir,
		Totals: fs.Stats(), BufferMax: o.MaxBufferSize, Files: fs.Files()}
	if view == nil {
		return rep
	}
	raw, comp := view.CompressionStats()
	rep.Compression = &compressionStatus{Codec: o.Compress, RawBytes: raw, StoredBytes: comp}
	for i, f := range rep.Files {
		if obj, n, ok := view.ObjectOf(f.Key); ok {
			rep.Files[i].Object, rep.Files[i].ObjectSize = obj, n
		}
	}
	return rep
}

type statusServer struct {
	l       net.Listener
	pointer string // "" when none was written
}

func (s *statusServer) Close() {
	s.l.Close()
	if s.pointer != "" {
		removePointer(pointerDir(), s.pointer, os.Geteuid())
	}
}

// serveStatus answers on a socket in the spool directory (mode 0600: it
// shows key names) and writes the status pointer that lets `s3mount status
// DIR` find it. A pointer that cannot be written safely does not stop the
// mount: one log line says `s3mount status DIR` will not find it.
func serveStatus(spoolDir string, fs *vfs.FS, o *config.Options, view compressedView) (*statusServer, error) {
	sock := filepath.Join(spoolDir, "status.sock")
	os.Remove(sock)
	old := umask(0o177)
	l, err := net.Listen("unix", sock)
	umask(old)
	if err != nil {
		return nil, fmt.Errorf("cannot create the status socket %s: %v", sock, err)
	}
	os.Chmod(sock, 0o600)
	srv := &statusServer{l: l}
	if err := writePointer(pointerDir(), pointerName(o.MountPoint), sock, os.Geteuid()); err != nil {
		slog.Warn("`s3mount status` will not find this mount by its directory (the mount itself works)",
			"err", err, "status_socket", sock)
	} else {
		srv.pointer = pointerName(o.MountPoint)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			rep := report(fs, o, spoolDir, view)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			json.NewEncoder(c).Encode(rep)
			c.Close()
		}
	}()
	return srv, nil
}

// runStatus is `s3mount status [--json] DIR`.
func runStatus(args []string) int {
	asJSON := false
	var dir string
	for _, a := range args {
		switch a {
		case "--json":
			asJSON = true
		case "-h", "--help":
			fmt.Println("usage: s3mount status [--json] DIRECTORY\n\nShows each open or unpublished file of the mount at DIRECTORY: key, unpublished bytes,\nlast publication, errors and drops, plus totals and the spool directory.")
			return 0
		default:
			dir = a
		}
	}
	if dir == "" {
		fmt.Fprintln(os.Stderr, "s3mount: usage: s3mount status [--json] DIRECTORY")
		return 2
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "s3mount: %s: %v\n", dir, err)
		return 1
	}
	sock, err := readPointer(pointerDir(), pointerName(abs), os.Geteuid())
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "s3mount: no s3mount daemon is serving %s\n", abs)
		return 1
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "s3mount: cannot use the status pointer of %s: %v\n", abs, err)
		return 1
	}
	c, err := net.DialTimeout("unix", string(sock), 5*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "s3mount: cannot reach the daemon of %s: %v\n", abs, err)
		return 1
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil {
		fmt.Fprintf(os.Stderr, "s3mount: reading status: %v\n", err)
		return 1
	}
	if asJSON {
		os.Stdout.Write(b)
		return 0
	}
	var rep statusReport
	if err := json.Unmarshal(b, &rep); err != nil {
		fmt.Fprintf(os.Stderr, "s3mount: bad status answer: %v\n", err)
		return 1
	}
	t := rep.Totals
	fmt.Printf("s3://%s/%s mounted at %s\nspool %s: %d unpublished bytes of %d in %d files\n", rep.Bucket, rep.Prefix, rep.Mount, rep.SpoolDir, t.SpoolUsed, rep.BufferMax, t.SpoolFiles)
	fmt.Printf("publications %d, errors %d, waiting %d, conflicts %d, rebases %d, dropped %d bytes in %d writes\n", t.Publications, t.PublishErrors, t.PublishWaits, t.Conflicts, t.Rebases, t.DroppedBytes, t.DroppedWrites)
	if c := rep.Compression; c != nil {
		fmt.Printf("compression %s: %d bytes published, stored as %d\n", c.Codec, c.RawBytes, c.StoredBytes)
	}
	fmt.Println()
	printFiles(os.Stdout, rep.Files)
	return 0
}

// printFiles is the table of files: a publication that waits (for its
// object key) shows in STATE, not as an error.
func printFiles(out io.Writer, files []vfs.FileStatus) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KEY\tOPEN\tSIZE\tSTORED\tUNPUBLISHED\tLAST PUBLICATION\tDROPPED\tERROR\tSTATE")
	for _, f := range files {
		last := "-"
		if !f.LastPublished.IsZero() {
			last = f.LastPublished.Format(time.RFC3339)
		}
		e := f.LastError
		if f.Conflict != "" {
			e = f.Conflict
		}
		state := f.State
		if f.Waiting != "" {
			state = "waiting: " + f.Waiting
		}
		if m := f.MapCheckState(); m != "" {
			state += ", " + m
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%d\t%s\t%d\t%s\t%s\n", f.Key, f.Open, f.Size, stored(f), f.Unpublished, last, f.DroppedBytes, e, state)
	}
	w.Flush()
}

// stored is a file's STORED column: its compressed object's size and name
// ("-" for a file stored as it is, "?" while not known).
func stored(f vfs.FileStatus) string {
	switch {
	case f.Object == "":
		return "-"
	case f.ObjectSize < 0:
		return "? in " + f.Object
	}
	return fmt.Sprintf("%d in %s", f.ObjectSize, f.Object)
}
