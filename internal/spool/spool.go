// Package spool is the durable local staging area of a mount. Every byte
// written through the mount lands here first, in one data file per file plus a
// small JSON journal that says what the bytes are (key, the published base
// they extend, what is still unpublished). The spool also bounds the
// unpublished bytes of the whole mount (--max-buffer-size) and applies the
// blocking / non-blocking policy when that bound, or the disk, is full.
//
// Lock order: Spool.mu is a leaf lock; File methods take no spool lock
// except through account(), which takes Spool.mu last.
package spool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrFull means the buffer (or the spool disk) has no room for a write and
// the mode is non-blocking.
var ErrFull = errors.New("spool full")

// ErrClosed means the spool was closed (unmount) while a writer waited for
// room: the write is refused with an error, never dropped silently.
var ErrClosed = errors.New("spool closed")

// ErrForeign means the spool directory belongs to another bucket/prefix.
var ErrForeign = errors.New("spool belongs to another mount")

// Mode is the buffer-full policy.
type Mode int

const (
	Blocking    Mode = iota // write() waits for publication to free space
	NonBlocking             // write() drops what does not fit, counted
)

// SyncPolicy is --spool-sync.
type SyncPolicy int

const (
	SyncPublish  SyncPolicy = iota // default: fsync at each publication and application fsync
	SyncAlways                     // fsync data after every write
	SyncInterval                   // fsync from a ticker (Options.SyncEvery)
	SyncNever                      // leave it to the kernel
)

// Options configure a spool.
type Options struct {
	MaxBuffer int64 // bound on unpublished bytes of the whole mount
	Mode      Mode
	Sync      SyncPolicy
	SyncEvery time.Duration
	Hook      Hook // told of each disk operation (tests: crash points)
}

// identityFile records which bucket/prefix owns the directory.
const identityFile = "IDENTITY"

// Spool is one mount's staging directory.
type Spool struct {
	dir  string
	opts Options

	mu      sync.Mutex
	cond    *sync.Cond
	used    int64 // unpublished bytes over all files
	diskFul bool  // the last data write met ENOSPC; cleared when space is freed
	files   map[string]*File
	// unlinked: journals of files recovery found unlinked (Unlinked).
	unlinked []Journal
	stop     chan struct{}
	lock     *os.File // holds the LOCK file's flock

	reserveGone atomic.Bool // a journal write used the RESERVE file
	lastCreated int64       // the latest Journal.Created given out or recovered
}

// Open opens (creating if needed) the spool at dir for identity (for
// example "bucket/prefix/"). It returns the files a previous run left behind,
// for the caller to publish.
func Open(dir, identity string, opts Options) (*Spool, []*File, error) {
	if opts.MaxBuffer <= 0 {
		opts.MaxBuffer = 1 << 30
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("cannot create spool directory %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, nil, err
	}
	idPath := filepath.Join(dir, identityFile)
	if b, err := os.ReadFile(idPath); err == nil {
		if got := strings.TrimSpace(string(b)); got != identity {
			lock.Close()
			return nil, nil, fmt.Errorf("%w: spool directory %s holds data of %q, not %q; use another --spool-dir or publish it with that mount first", ErrForeign, dir, got, identity)
		}
	} else if err := writeFileSync(idPath, []byte(identity+"\n")); err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("cannot write spool directory %s: %w", dir, err)
	}
	s := &Spool{dir: dir, opts: opts, files: map[string]*File{}, stop: make(chan struct{}), lock: lock}
	s.makeReserve()
	s.cond = sync.NewCond(&s.mu)
	left, err := s.recover()
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	if opts.Sync == SyncInterval {
		every := opts.SyncEvery
		if every <= 0 {
			every = time.Second
		}
		go s.syncLoop(every)
	}
	return s, left, nil
}

// Unlinked returns the journals of the files that were unlinked while open
// when the previous run stopped. Their data is gone; an object of theirs
// that is still at BaseETag is what an unlink interrupted by the crash did
// not delete yet.
func (s *Spool) Unlinked() []Journal { return s.unlinked }

// Dir is the spool directory.
func (s *Spool) Dir() string { return s.dir }

// Close stops background work and releases the directory's lock. Files
// stay on disk.
func (s *Spool) Close() {
	s.mu.Lock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
		s.lock.Close()
	}
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *Spool) syncLoop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			fs := make([]*File, 0, len(s.files))
			for _, f := range s.files {
				fs = append(fs, f)
			}
			s.mu.Unlock()
			for _, f := range fs {
				_ = f.Sync()
			}
		}
	}
}

// Used is the number of unpublished bytes held.
func (s *Spool) Used() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// Max is the buffer bound.
func (s *Spool) Max() int64 { return s.opts.MaxBuffer }

// SyncPublish reports whether data is fsynced at each publication.
func (s *Spool) SyncPublish() bool { return s.opts.Sync == SyncPublish || s.opts.Sync == SyncInterval }

// Mode is the buffer-full policy.
func (s *Spool) Mode() Mode { return s.opts.Mode }

// Files is the number of files held.
func (s *Spool) Files() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.files)
}

// Reserve makes room for n more unpublished bytes. In blocking mode it waits
// until publication frees space (ctx.Err() when ctx ends, ErrClosed when the
// spool is closed); in non-blocking mode it returns ErrFull at once. A single
// write larger than the whole buffer is let through when the buffer is
// empty, so that it cannot wait forever.
func (s *Spool) Reserve(ctx context.Context, n int64) error {
	for !s.TryReserve(n) {
		if s.opts.Mode == NonBlocking {
			return ErrFull
		}
		if err := s.WaitFits(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// TryReserve charges n bytes if they fit now, without waiting.
func (s *Spool) TryReserve(n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fits(n) {
		return false
	}
	s.used += n
	return true
}

// WaitFits waits until n bytes would fit (it reserves nothing: callers
// retry TryReserve with their own locks taken again). It returns ctx.Err()
// when ctx ends and ErrClosed once the spool is closed, never a silent nil
// while the buffer is still full.
func (s *Spool) WaitFits(ctx context.Context, n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	stopWake := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stopWake()
	for !s.fits(n) {
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case <-s.stop:
			return ErrClosed
		default:
		}
		s.cond.Wait()
	}
	return nil
}

// Fits reports whether n more bytes fit without waiting.
func (s *Spool) Fits(n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fits(n)
}

func (s *Spool) fits(n int64) bool {
	if s.diskFul {
		return false
	}
	return s.used+n <= s.opts.MaxBuffer || s.used == 0
}

// Force charges n bytes without waiting, even over the bound.
func (s *Spool) Force(n int64) {
	s.mu.Lock()
	s.used += n
	s.mu.Unlock()
}

// Release returns n bytes to the buffer (they were published or discarded).
func (s *Spool) Release(n int64) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	s.used -= n
	if s.used < 0 {
		s.used = 0
	}
	wasFull := s.diskFul
	s.diskFul = false
	s.cond.Broadcast()
	s.mu.Unlock()
	if wasFull {
		s.makeReserve()
	}
}

// Unreserve gives back a reservation whose write failed. Unlike Release it
// says nothing about the disk: a write that met ENOSPC freed no space.
func (s *Spool) Unreserve(n int64) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	s.used = max(s.used-n, 0)
	s.cond.Broadcast()
	s.mu.Unlock()
}

// markDiskFull records ENOSPC: until something is released, the spool is
// treated as a full buffer.
func (s *Spool) markDiskFull() {
	s.mu.Lock()
	s.diskFul = true
	s.mu.Unlock()
}

// ClearDiskFull is called when space was freed outside Release.
func (s *Spool) ClearDiskFull() {
	s.mu.Lock()
	s.diskFul = false
	s.cond.Broadcast()
	s.mu.Unlock()
}

// DiskFull reports whether the last data write met ENOSPC.
func (s *Spool) DiskFull() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.diskFul
}

// Create starts a new spool file for key with journal j.
func (s *Spool) Create(j Journal) (*File, error) {
	id := newID()
	j.Created = s.nextCreated()
	f := &File{sp: s, id: id, j: j}
	data, err := os.OpenFile(f.dataPath(), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, s.diskErr(err)
	}
	s.hook(OpCreate, f.dataPath())
	f.data = data
	if err := f.writeJournal(); err != nil {
		data.Close()
		os.Remove(f.dataPath())
		return nil, err
	}
	s.mu.Lock()
	s.files[id] = f
	s.mu.Unlock()
	return f, nil
}

// nextCreated is a creation time later than any given out or recovered,
// even if the clock went back.
func (s *Spool) nextCreated() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastCreated = max(time.Now().UnixNano(), s.lastCreated+1)
	return s.lastCreated
}

func (s *Spool) diskErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		s.markDiskFull()
	}
	return err
}

// recover loads the files a previous run left.
func (s *Spool) recover() ([]*File, error) {
	s.dropTornWrites()
	names, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*File
	for _, jp := range names {
		id := strings.TrimSuffix(filepath.Base(jp), ".json")
		b, err := os.ReadFile(jp)
		if err != nil {
			return nil, fmt.Errorf("cannot read spool journal %s: %w", jp, err)
		}
		var j Journal
		if err := json.Unmarshal(b, &j); err != nil {
			// Journals are fsynced before they are renamed into place,
			// so this is damage, not a crash: stop, keep the data, and
			// name the file.
			bad := jp + ".corrupt"
			os.Rename(jp, bad)
			return nil, fmt.Errorf("spool journal %s is damaged (kept as %s): %w", jp, bad, err)
		}
		f := &File{sp: s, id: id, j: j}
		s.lastCreated = max(s.lastCreated, j.Created)
		if j.Unlinked {
			// Gone by contract: never published. Its object may still be
			// there if the crash came inside the unlink: Unlinked() hands
			// the journal to the caller to finish that.
			s.unlinked = append(s.unlinked, j)
			os.Remove(f.dataPath())
			os.Remove(jp)
			continue
		}
		data, err := os.OpenFile(f.dataPath(), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("cannot open spool data %s: %w", f.dataPath(), err)
		}
		f.data = data
		st, err := data.Stat()
		if err != nil {
			return nil, err
		}
		// The data file's length is the authority on what was written:
		// writes reach the data file before they are acknowledged.
		if end := st.Size() + j.Shift; end > f.j.Size || f.j.Kind == KindAppend {
			f.j.Size = end
			if f.j.Size < f.j.LocalStart {
				f.j.Size = f.j.LocalStart
			}
		}
		f.accounted = f.dirtyBytes()
		s.mu.Lock()
		s.used += f.accounted
		s.files[id] = f
		s.mu.Unlock()
		out = append(out, f)
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

func exists(p string) bool {
	_, err := os.Lstat(p)
	return !errors.Is(err, os.ErrNotExist)
}

// reserveFile holds a little disk space back so that journals can still be
// written when data has filled the spool's disk (a publication that S3
// accepted must be recorded, or it would be repeated).
const reserveFile = "RESERVE"

const reserveSize = 256 << 10

func (s *Spool) makeReserve() {
	s.reserveGone.Store(true)
	p := filepath.Join(s.dir, reserveFile)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, reserveSize); err != nil {
		f.Close()
		os.Remove(p)
		return
	}
	s.reserveGone.Store(false)
}

// restoreReserve makes the reserve again if a journal write used it.
func (s *Spool) restoreReserve() {
	if s.reserveGone.Load() {
		s.makeReserve()
	}
}

// useReserve frees the reserve so that a journal write can succeed; it is
// made again once space has been released.
func (s *Spool) useReserve() bool {
	s.reserveGone.Store(true)
	return os.Remove(filepath.Join(s.dir, reserveFile)) == nil
}

// writeFile persists a journal; tests replace it to fail on cue.
var writeFile = writeFileSync

// writeJournalFile persists a journal, telling the Hook of each step (a
// spool with a Hook does not use the writeFile seam).
func (s *Spool) writeJournalFile(path string, b []byte) error {
	if s.opts.Hook == nil {
		return writeFile(path, b)
	}
	return writeFileHooked(path, b, s.hook)
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

func writeFileSync(path string, b []byte) error { return writeFileHooked(path, b, nil) }

// writeFileHooked writes path durably (temp file, fsync, rename, directory
// fsync), calling hook, if not nil, after each of those steps.
func writeFileHooked(path string, b []byte, hook func(op, path string)) error {
	if hook == nil {
		hook = func(string, string) {}
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	hook(OpJournalWrite, tmp)
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	hook(OpJournalRename, path)
	// The rename (and any file created since the last sync, such as a
	// new data file) is durable only once the directory is.
	if err := syncDir(filepath.Dir(path)); err != nil {
		return err
	}
	hook(OpDirSync, filepath.Dir(path))
	return nil
}

// syncDir fsyncs a directory; tests replace it to see when it is called.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
