// Package vfs is the file system of a mount, without FUSE: the inode table,
// names <-> keys, directories, the open/handle policy, attributes, and the
// write path (spool -> publish). internal/fuseadapter maps FUSE requests onto
// it; nothing here imports the FUSE library. Files by concern: node,
// writestate and localattrs (what a node carries once opened or given
// attributes: nothing for a node only listed), namespace
// (lookup, listing, mkdir/rmdir), received (nodes the kernel never got),
// listtypes (what a listing cannot tell), open (create, open, close,
// fsync), read, write (the buffer policy, drops and markers), edit
// (truncate, whole-file edits), rename, unlink, attr, dirattrs, modebits
// (setuid/setgid/sticky, new entries' owners), symlink (links and special
// files), stream (multipart while writing),
// localreads (how the kernel serves each open: page cache, direct, or
// straight from the spool file with FUSE passthrough), cachedreads (or
// from the data cache's file of a wholly cached object), publishing (a node's side of its publication job: what it needs, its
// end, its writers, its state after; publish.Job owns the job — one at a
// time, when, retries — and publish.Publisher makes every S3 call of a
// publication, rebase, lost-answer check and interrupted rename) and recovery
// (adoption of spool files a crash left).
//
// # Lock table
//
// Outer to inner; a lock may only be taken while holding locks above it.
//
//	lock              guards                                  may be held across
//	FS.pathMu         namespace changes of one name (create,  S3 requests of a rename
//	                  rename, unlink); striped, pathlock.go   or unlink
//	job's token       one publication / rename / unlink /     S3 requests: it is the
//	(writeState.job)  truncate of the file at a time          file's job token
//	writeState.wmu    the spool file's bytes and journal      S3 requests of a whole-file
//	                  offsets against other writers;          publication, rebase, copy-in
//	                  n.file replacement (relocate); the      (close is atomic), a lost
//	                  map check records of opens that may     answer's settling (and the
//	                  map the file (localreads.go)            look at mapped bytes before
//	                                                          it: publish/mapped.go);
//	                                                          never a wait for buffer space
//	Publisher.deleteMu a key's deletes and takeovers of an    its HEAD and DELETE, a
//	                  object a rename left (striped;          takeover's HEAD; only
//	                  publish/move.go)                        spool locks under it
//	writeState.pendMu the choice of a publication's end       journal writes only
//	                  (journal Pending) vs a drop cutting
//	                  a half-accepted line
//	Handle.mu         reader, rETag, wrote, served, dropLine  nothing slow
//	                  (Handle.io, pinned: under Node.mu)
//	FS.mu             nodes, byPath (and its index by         nothing slow: no S3, no I/O
//	                  directory: nametable.go), negative,
//	                  inoOf, nextIno
//	Node.mu           every other Node field (path, file,     nothing slow: no S3, no I/O
//	                  handles, state, la, ...), every
//	                  other writeState field (drops,
//	                  ownETags, ioCached, ioLocal, ...) and
//	                  every localAttrs field
//	spool.File.dataMu data file reads vs freeing bytes        disk I/O
//	spool.File.mu     the journal, accounting and pins        journal writes (disk I/O)
//	spool.Spool.mu    used bytes, disk-full flag, file set,   nothing slow (cond waits)
//	                  renames' old keys (Leaving)
//	spool.Spool.      the RESERVE file: held shared by a      a data write's pwrite
//	reserveMu         data write, alone to make or remove     (shared), the RESERVE
//	                  it; the count of writes that have its   file's disk I/O
//	                  room (spool/reserve.go); under File.mu
//	Stats.mu, FS.warnMu                                       leaves
//	readahead.Reader. a reader's parts, stream position,      no S3 (GETs run in their
//	mu                window and charge; another reader's     own goroutines); another
//	                  only TryLock'ed (Pool.reclaim)          reader's mu only tried
//	readahead part.   a part's filled bytes and its waiters   leaf
//	fillMu
//	readahead Pool.   the readers holding budget; buffers.mu  leaves (holdersMu is taken
//	holdersMu, ...    (free part buffers), prioSem.mu (GET    under Reader.mu, never
//	                  slots), tokenBucket.mu (byte rate)      the other way)
//	datacache.Cache.  the data cache's index, sizes, pins     leaf: nothing slow (its
//	mu                (taken with no vfs lock held: Pin and   file I/O runs outside it)
//	                  its unpin run outside Node.mu)
//	fuseadapter's     a kernel inode's backing id and its     the BACKING_OPEN/CLOSE
//	backing.mu        users (leaf: taken with no vfs lock     ioctl
//	                  held, never held into vfs)
//	fuseadapter's     backing ids on their way into open      leaf
//	slotTable.mu      replies
//
// A node's writeState and its locks are made on first use (Node.ws, an
// atomic pointer: no lock) and stay for the node's life, so wmu, pendMu
// and the job's token are always the same locks; Node.la is made under
// Node.mu.
//
// Nothing waits for buffer space while holding a Node lock: Write drops
// n.wmu first (FS.waitRoom). publish.Scheduler's, publish.Job's outcome
// (Job.mu) and publish.Stream's locks are their own leaves: callbacks run
// without them.
package vfs

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/s3mount/s3mount/internal/publish"
	"github.com/s3mount/s3mount/internal/readahead"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/spool"
)

// Options configure the file system.
type Options struct {
	Prefix         string // key prefix, "" or ending in "/"
	UID, GID       uint32
	DirMode        os.FileMode
	FileMode       os.FileMode
	ReadOnly       bool
	AllowDelete    bool
	AllowOverwrite bool
	MetadataTTL    time.Duration
	NegativeTTL    time.Duration
	UploadInterval time.Duration // log files: at most one publication per interval
	CloseDelay     time.Duration // log files: publish this long after the last close
	WritePartSize  int64
	MaxEditSize    int64
	DropMarker     bool
	// Publishers bounds the scheduled publications that run at once
	// (default 64). They wait on S3 and on fsync, not on CPU: 1,000 logs
	// at a 10 s interval are 100 publications a second, which 8 could not
	// keep up with (BenchmarkManyLogs). 64 is the S3 client's pool of
	// kept connections; publish.Budget bounds their memory.
	Publishers int
	// PosixMetadata stores files' mode, owner and mtime with their
	// objects (s3fs's user metadata) and reads them back from HEAD.
	PosixMetadata bool
	// OtherUsers (--allow-other): the kernel checks other users'
	// permissions against what stat shows, so a file's attributes must be
	// known (a HEAD) before the kernel is told any: a listing cannot tell
	// them. Without it only the mounting user (and root) gets in and a
	// listed file shows the defaults until it is looked up, saving a HEAD
	// per listed file.
	OtherUsers bool
	// NoSymlinkProbe (--no-symlink-probe): a listed object small enough
	// to be a symlink or special file is taken for a regular file instead
	// of being HEADed (symlink.go).
	NoSymlinkProbe bool
	// Express is set for S3 Express One Zone directory buckets: appends
	// use write offsets and renames RenameObject.
	Express s3store.Express
	// Cache (--cache): wholly cached objects may be read from its files
	// directly (cachedreads.go). nil: none.
	Cache  CachedFiles
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.DirMode == 0 {
		o.DirMode = 0o755
	}
	if o.FileMode == 0 {
		o.FileMode = 0o644
	}
	if o.UploadInterval <= 0 {
		o.UploadInterval = 30 * time.Second
	}
	if o.CloseDelay <= 0 {
		o.CloseDelay = time.Second
	}
	if o.MaxEditSize <= 0 {
		o.MaxEditSize = 1 << 30
	}
	if o.Publishers <= 0 {
		o.Publishers = 64
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// RootIno is the inode number of the mount's root.
const RootIno = 1

// FS is one mounted file system.
type FS struct {
	st     s3store.Store
	opt    Options
	sp     *spool.Spool
	ra     *readahead.Pool
	queue  *publish.Queue // publication jobs: when, retries, one at a time per file
	pub    *publish.Publisher
	timing publish.Timing
	log    *slog.Logger
	start  time.Time

	pathMu [pathLockStripes]sync.Mutex // name locks (pathlock.go)

	mu       sync.Mutex
	nodes    map[uint64]*Node
	byPath   nameTable            // path -> node, by directory (nametable.go)
	negative map[string]time.Time // path -> not-found valid until
	// negativeSwept is len(negative) after its last sweep.
	negativeSwept int
	// gone: names this host removed, and when (markGoneLocked).
	gone      map[string]time.Time
	goneSwept int
	// inoOf keeps a name's inode number after the kernel forgets the node,
	// so that a key keeps its number for the mount's life (one small
	// entry per name ever seen). Unlink and rename drop the entry: a new
	// file under an old name gets a new number (tail -F relies on it).
	inoOf   map[string]uint64
	nextIno uint64

	stats Stats
	local localReads // FUSE passthrough of spool files (localreads.go)
	cache cacheReads // FUSE passthrough of data cache files (cachedreads.go)

	// adopting counts the publications of recovered spool files still
	// running: Shutdown waits for them, or one would remove its spool
	// file after the unmount, under the next mount of the same spool.
	adopting sync.WaitGroup
	// ending: Shutdown runs. No handle writes again, though one may still
	// be counted: the kernel drops a last close's RELEASE still queued
	// when the unmount ends the connection (markGapAtEnd,
	// expressMtimeDueLocked: an atomic, read under Node.mu).
	ending atomic.Bool

	warnMu   sync.Mutex
	lastWarn map[string]time.Time
}

// warnEvery logs a warning at most once per period for one kind of event,
// so that a full disk gives one readable line, not one per write.
func (fs *FS) warnEvery(kind string, period time.Duration, msg string, args ...any) {
	fs.warnMu.Lock()
	if fs.lastWarn == nil {
		fs.lastWarn = map[string]time.Time{}
	}
	now := time.Now()
	if last, ok := fs.lastWarn[kind]; ok && now.Sub(last) < period {
		fs.warnMu.Unlock()
		return
	}
	fs.lastWarn[kind] = now
	fs.warnMu.Unlock()
	fs.log.Warn(msg, args...)
}

// New builds the file system. Files the spool recovered from a previous run
// are published in the background.
func New(st s3store.Store, sp *spool.Spool, recovered []*spool.File, ra *readahead.Pool, opt Options) *FS {
	opt.defaults()
	fs := &FS{
		st: st, opt: opt, sp: sp, ra: ra, log: opt.Logger, start: time.Now(),
		nodes:    map[uint64]*Node{},
		byPath:   newNameTable(),
		negative: map[string]time.Time{},
		gone:     map[string]time.Time{},
		inoOf:    map[string]uint64{},
		nextIno:  RootIno,
	}
	fs.timing = publish.Timing{Interval: opt.UploadInterval, CloseDelay: opt.CloseDelay}
	fs.pub = publish.NewPublisher(st, opt.Express, sp, publish.Config{PartSize: opt.WritePartSize}, opt.Logger)
	fs.queue = publish.NewQueue(fs.pub, fs.timing, opt.Publishers, fs.countPublication)
	root := fs.newNode("", true)
	root.state = stateInS3
	fs.rootAttrs(root)
	// Before the mount serves anyone: a file created under the same name
	// must not be taken for the one whose unlink is finished here.
	for _, j := range sp.Unlinked() {
		fs.finishUnlink(j)
	}
	for _, f := range fs.newestPerKey(recovered) {
		fs.adopt(f)
	}
	return fs
}

// Root is the mount's root directory.
func (fs *FS) Root() *Node { return fs.Node(RootIno) }

// Node returns the node with inode number ino, or nil.
func (fs *FS) Node(ino uint64) *Node {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.nodes[ino]
}

// Options returns the options in force.
func (fs *FS) Options() Options { return fs.opt }

// newNode adds a node for p to the tables.
func (fs *FS) newNode(p string, dir bool) *Node {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.newNodeLocked(p, dir)
}

func (fs *FS) newNodeLocked(p string, dir bool) *Node {
	ino, ok := fs.inoOf[p]
	if !ok || fs.nodes[ino] != nil {
		ino = fs.nextIno
		fs.nextIno++
		fs.inoOf[p] = ino
	}
	n := &Node{fs: fs, ino: ino, path: p, dir: dir}
	fs.nodes[n.ino] = n
	fs.byPath.set(p, n)
	delete(fs.negative, p)
	return n
}

// key is the S3 key of a file path.
func (fs *FS) key(p string) string { return fs.opt.Prefix + p }

// dirKey is the S3 prefix of a directory path ("" for the root).
func (fs *FS) dirKey(p string) string {
	if p == "" {
		return fs.opt.Prefix
	}
	return fs.opt.Prefix + p + "/"
}

// Errors the adapter maps onto errnos.
var (
	ErrNotFound    = syscall.ENOENT
	ErrExists      = syscall.EEXIST
	ErrNotEmpty    = syscall.ENOTEMPTY
	ErrPerm        = syscall.EPERM
	ErrReadOnly    = syscall.EROFS
	ErrStale       = syscall.ESTALE
	ErrIO          = syscall.EIO
	ErrTooBig      = syscall.EFBIG
	ErrNameTooLong = syscall.ENAMETOOLONG
	ErrIsDir       = syscall.EISDIR
	ErrNotDir      = syscall.ENOTDIR
	ErrCrossDev    = syscall.EXDEV
	ErrNoSpace     = syscall.ENOSPC
	ErrInterrupted = syscall.EINTR
)

// needMeta: a file's attributes must come from a HEAD before the kernel
// is told any (see Options.OtherUsers).
func (fs *FS) needMeta() bool { return fs.opt.PosixMetadata && fs.opt.OtherUsers }

// Errno maps an error from this package onto an errno.
func Errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	switch {
	case errors.Is(err, s3store.ErrUnreachable):
		// Its cause may be an errno of the network (ECONNREFUSED), never
		// one a file operation returns.
		return syscall.EIO
	case isNetErr(err) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
		// A connection reset or timed out mid-request (its answer
		// lost): the same, its errno (ECONNRESET) being the network's.
		return syscall.EIO
	case errors.As(err, &e):
		return e
	case errors.Is(err, readahead.ErrStale), errors.Is(err, s3store.ErrPrecondition):
		return syscall.ESTALE
	case errors.Is(err, s3store.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, s3store.ErrAccessDenied):
		return syscall.EACCES
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return syscall.EINTR
	case errors.Is(err, spool.ErrFull):
		return syscall.ENOSPC
	}
	return syscall.EIO
}

// isNetErr: err comes from a connection (a reset, a timeout).
func isNetErr(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe)
}

// Stats are the file system's counters (exported to metrics and status).
type Stats struct {
	mu             sync.Mutex
	Publications   int64
	PublishErrors  int64
	PublishWaits   int64 // publish.ErrHeld: waiting for another file's object key
	Conflicts      int64
	Rebases        int64
	DroppedBytes   int64
	DroppedWrites  int64
	LastPublishDur time.Duration
}

// StatsSnapshot is a copy of Stats without the lock.
type StatsSnapshot struct {
	Publications, PublishErrors, PublishWaits, Conflicts, Rebases, DroppedBytes, DroppedWrites int64
	LastPublish                                                                                time.Duration
	SpoolUsed                                                                                  int64
	SpoolFiles                                                                                 int
}

// Stats returns the counters.
func (fs *FS) Stats() StatsSnapshot {
	fs.stats.mu.Lock()
	s := StatsSnapshot{
		Publications: fs.stats.Publications, PublishErrors: fs.stats.PublishErrors, PublishWaits: fs.stats.PublishWaits,
		Conflicts: fs.stats.Conflicts, Rebases: fs.stats.Rebases,
		DroppedBytes: fs.stats.DroppedBytes, DroppedWrites: fs.stats.DroppedWrites,
		LastPublish: fs.stats.LastPublishDur,
	}
	fs.stats.mu.Unlock()
	s.SpoolUsed = fs.sp.Used()
	s.SpoolFiles = fs.sp.Files()
	return s
}

// PublicationDelays is how late scheduled publications started past their
// due time (publishers all busy).
func (fs *FS) PublicationDelays() publish.DelaySnapshot { return fs.queue.Delays() }

func (fs *FS) count(fn func(s *Stats)) {
	fs.stats.mu.Lock()
	fn(&fs.stats)
	fs.stats.mu.Unlock()
}

// Shutdown publishes every unpublished byte, then stops background work.
// Files that cannot be published stay in the spool for the next mount.
func (fs *FS) Shutdown(ctx context.Context) error {
	fs.queue.Stop()
	fs.adopting.Wait()
	fs.ending.Store(true)
	fs.mu.Lock()
	var dirty []*Node
	for _, n := range fs.nodes {
		n.mu.Lock()
		// One never opened, written or published has no job and nothing
		// to publish: no local bytes, no attribute change.
		idle := !n.hasWriteState() && n.file == nil && !n.attrDirty
		n.mu.Unlock()
		if !idle {
			dirty = append(dirty, n)
		}
	}
	fs.mu.Unlock()
	var first error
	for _, n := range dirty {
		if err := n.publish(ctx, true); err != nil && first == nil {
			first = err
		}
		n.logUnmarked()
	}
	fs.sp.Close()
	return first
}

// Statfs reports a large, mostly free file system (S3 has no capacity).
type StatfsOut struct {
	Blocks, Bfree, Bavail, Files, Ffree uint64
	Bsize                               uint32
	NameLen                             uint32
}

// Statfs returns the numbers df shows.
func (fs *FS) Statfs() StatfsOut {
	const blocks = 1 << 40 // 4 PiB of 4 KiB blocks
	return StatfsOut{Blocks: blocks, Bfree: blocks, Bavail: blocks, Files: 1 << 40, Ffree: 1 << 40, Bsize: 4096, NameLen: 255}
}
