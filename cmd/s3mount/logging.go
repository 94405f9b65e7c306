package main

import (
	"fmt"
	"io"
	"log/syslog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/s3mount/s3mount/internal/config"
	"github.com/s3mount/s3mount/internal/daemon"
)

// logWriter picks where log lines go: nowhere (--no-log), rotating files in
// --log-directory, stderr in the foreground, else syslog (Mountpoint's
// default), falling back to stderr where there is no syslog daemon.
func logWriter(o *config.Options) (io.Writer, func(), error) {
	switch {
	case o.NoLog:
		return io.Discard, func() {}, nil
	case o.LogDirectory != "":
		w, err := newRotatingFile(o.LogDirectory, 64<<20)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot write logs to %s: %v", o.LogDirectory, err)
		}
		if daemon.IsChild() {
			// Keep panics and runtime errors in the log too.
			daemon.RedirectOutput(w.f)
		}
		return w, w.Close, nil
	case o.Foreground:
		return os.Stderr, func() {}, nil
	}
	if w, err := syslog.New(syslog.LOG_INFO|syslog.LOG_DAEMON, "s3mount"); err == nil {
		return w, func() { w.Close() }, nil
	}
	return os.Stderr, func() {}, nil
}

// rotatingFile writes s3mount-<time>.log files, starting a new one once a
// file reaches max bytes.
type rotatingFile struct {
	mu   sync.Mutex
	dir  string
	max  int64
	f    *os.File
	size int64
}

func newRotatingFile(dir string, max int64) (*rotatingFile, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	r := &rotatingFile{dir: dir, max: max}
	return r, r.rotate()
}

func (r *rotatingFile) rotate() error {
	name := filepath.Join(r.dir, "s3mount-"+time.Now().UTC().Format("2006-01-02T15-04-05.000000000Z")+".log")
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	if r.f != nil {
		r.f.Close()
	}
	r.f, r.size = f, 0
	return nil
}

func (r *rotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.size+int64(len(p)) > r.max && r.size > 0 {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

func (r *rotatingFile) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.f.Close()
}
