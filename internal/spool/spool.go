// Package spool is the durable local staging area of a mount. Every byte
// written through the mount lands here first, in one data file per file plus a
// small journal that says what the bytes are (key, the published base they
// extend, what is still unpublished): JSON records in two checksummed slots of
// a journal file, updated in place (journalfile.go). The spool also bounds
// the unpublished bytes of the whole mount (--max-buffer-size) and applies
// the blocking / non-blocking policy when that bound, or the disk, is full.
//
// Lock order: Spool.mu is a leaf lock; File methods take no spool lock
// except through account(), which takes Spool.mu last.
package spool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
	Hook      Hook         // told of each disk operation (tests: crash points)
	Logger    *slog.Logger // nil: slog.Default()
	// NoSpace (tests) reports whether the spool's disk is full now, as
	// another program filling it leaves it: every write that takes room
	// fails with ENOSPC (data, new files, the reserve), journal writes
	// too until the reserve is given up for them (noSpace).
	NoSpace func() bool
}

// identityFile records which bucket/prefix owns the directory.
const identityFile = "IDENTITY"

// maxIdentitySize: a bucket name, "/", a key prefix and a newline.
const maxIdentitySize = 2 * maxKeyLen

// Spool is one mount's staging directory.
type Spool struct {
	dir    string
	opts   Options
	log    *slog.Logger
	prefix string // of every key the mount writes (from the identity)

	mu      sync.Mutex
	cond    *sync.Cond
	used    int64 // unpublished bytes over all files
	diskFul bool  // the last data write met ENOSPC; cleared when space is freed
	files   map[string]*File
	// leaving: old key -> the files whose journals name it as an old key
	// still to delete (OldKeys), with its ETag (leaving.go).
	leaving map[string]map[leavingRef]struct{}
	// left: the objects of finished entries of leaving, and when.
	left      map[leftObject]time.Time
	leftSwept int
	// unlinked: journals of files recovery found unlinked (Unlinked).
	unlinked []Journal
	stop     chan struct{}
	lock     *os.File // holds the LOCK file's flock

	reserveMu sync.RWMutex // the RESERVE file; held shared by data writes (reserve.go)
	reserve   atomic.Int32 // a reserveState
	// reserveUsers counts the writes that have the reserve's room and have
	// not written yet: the reserve is not made again meanwhile (guarded by
	// reserveMu). reserveTaken (tests) is called once a write has it.
	reserveUsers int
	reserveTaken func()
	lastCreated  int64 // the latest Journal.Created given out or recovered
}

// Open opens (creating if needed) the spool at dir for identity, the
// bucket, "/" and the prefix ("bucket/prefix/"): a journal whose key is
// not under that prefix is refused. It returns the files a previous run
// left behind, for the caller to publish.
func Open(dir, identity string, opts Options) (*Spool, []*File, error) {
	if opts.MaxBuffer <= 0 {
		opts.MaxBuffer = 1 << 30
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := makePrivateDir(dir, log); err != nil {
		return nil, nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, nil, err
	}
	idPath := filepath.Join(dir, identityFile)
	b, err := readPrivate(idPath, maxIdentitySize, checkPrivate)
	switch {
	case err == nil:
		if got := strings.TrimSpace(string(b)); got != identity {
			lock.Close()
			return nil, nil, fmt.Errorf("%w: spool directory %s holds data of %q, not %q; use another --spool-dir or publish it with that mount first", ErrForeign, dir, got, identity)
		}
	case errors.Is(err, os.ErrNotExist):
		if err := writeFileSync(idPath, []byte(identity+"\n")); err != nil {
			lock.Close()
			return nil, nil, fmt.Errorf("cannot write spool directory %s: %w", dir, err)
		}
	default:
		lock.Close()
		return nil, nil, fmt.Errorf("cannot read the spool's identity %s: %w", idPath, err)
	}
	_, prefix, _ := strings.Cut(identity, "/")
	s := &Spool{dir: dir, opts: opts, log: log, prefix: prefix, files: map[string]*File{}, stop: make(chan struct{}), lock: lock}
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
	return s.create(j, nil)
}

// CreateFrom is Create with a data file that exists already: take moves
// it to the name it is given (a rename on the spool's file system that
// never replaces a file there) and returns done, which CreateFrom calls
// once: done(true) once the spool file is recorded (its journal durable:
// the file is the spool's for good), done(false) if it is not (a full
// disk): the file is then the caller's again, to move back where a later
// take finds it. The data cache's file of an object, which the kernel
// reads for a reader (FUSE passthrough), so becomes the data file of a
// write open of it, and the reader sees the writes. j must describe the
// file's bytes as they are (a plain image: Shift and LocalStart 0, Size
// its size).
//
// A crash before the journal is durable leaves a data file with no
// journal, which recovery drops (the caller's copy did not outlive the
// mount either); after, a spool file like any other.
func (s *Spool) CreateFrom(j Journal, take func(dataPath string) (done func(kept bool), err error)) (*File, error) {
	return s.create(j, take)
}

func (s *Spool) create(j Journal, take func(string) (func(bool), error)) (*File, error) {
	j.Created = s.nextCreated()
	f := &File{sp: s, j: j}
	var data *os.File
	var err error
	// taken settles a take (done); drop undoes the data file: removed,
	// or given back.
	taken := func(bool) {}
	drop := func() { os.Remove(f.dataPath()) }
	if take != nil {
		f.id = newID()
		if taken, err = take(f.dataPath()); err == nil {
			drop = func() { taken(false) }
			data, err = openPrivate(f.dataPath(), os.O_RDWR)
			if err == nil {
				if _, err = checkPrivate(data); err != nil {
					data.Close()
				}
			}
			if err != nil {
				drop()
			}
		}
	} else {
		// Ids are random: a name that is taken was planted (or is a
		// leftover): skip it, never write through it.
		for range 3 {
			f.id = newID()
			data, err = openPrivate(f.dataPath(), os.O_RDWR|os.O_CREATE|os.O_EXCL)
			if !errors.Is(err, os.ErrExist) {
				break
			}
		}
	}
	if err != nil {
		return nil, s.diskErr(err)
	}
	s.hook(OpCreate, f.dataPath())
	f.data = data
	// A new file takes disk space as data does: not the room a used
	// reserve left (it is for the journals that free the disk).
	if err = s.dataRoom("create", f.journalPath); err == nil {
		err = f.persistJournal(false)
		s.dataRoomDone()
	}
	if err != nil {
		data.Close()
		// The journal first: one left without its data file is damage.
		// (A write that failed at the directory's sync renamed it in.)
		os.Remove(f.journalPath())
		drop()
		return nil, err
	}
	taken(true)
	s.mu.Lock()
	s.files[f.id] = f
	s.mu.Unlock()
	s.track(f.id, Journal{}, j)
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

func exists(p string) bool {
	_, err := os.Lstat(p)
	return !errors.Is(err, os.ErrNotExist)
}

// createJournalFile makes a journal file whole (createDurable), telling
// the Hook of each step, and returns it open for in-place updates.
func (s *Spool) createJournalFile(path string, b []byte) (*os.File, error) {
	return createDurable(path, b, s.hook)
}

// newID names a new spool file; tests replace it to plant a name first.
var newID = randomID

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// writeFileSync writes path durably (createDurable).
func writeFileSync(path string, b []byte) error {
	f, err := createDurable(path, b, func(string, string) {})
	if err == nil {
		err = f.Close()
	}
	return err
}

// createDurable writes path durably (temp file, fsync, rename, directory
// fsync), calling hook after each of those steps, and returns the file
// open for writing.
func createDurable(path string, b []byte, hook func(op, path string)) (*os.File, error) {
	tmp := path + ".tmp"
	// A new file, never through whatever is at the name: a .tmp left by
	// a failed rename is ours to drop, a planted symlink is not followed.
	f, err := openPrivate(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if errors.Is(err, os.ErrExist) {
		os.Remove(tmp)
		f, err = openPrivate(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	}
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		os.Remove(tmp)
		return nil, err
	}
	if _, err := f.Write(b); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	hook(OpJournalWrite, tmp)
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	hook(OpJournalRename, path)
	// The rename (and any file created since the last sync, such as a
	// new data file) is durable only once the directory is.
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	hook(OpDirSync, filepath.Dir(path))
	return f, nil
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
