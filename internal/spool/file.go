package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// Kind says how a spooled file is published.
type Kind string

const (
	// KindAppend: the file only grows past a published base; publications
	// append the unpublished tail (compose, re-put, rebase on conflict).
	KindAppend Kind = "append"
	// KindWhole: the whole file is local and is published whole.
	KindWhole Kind = "whole"
)

// Form is how a file not yet in S3 is to be stored under --compress.
type Form string

const (
	// FormByName: the --compress globs decide by the file's key.
	FormByName Form = ""
	// FormCompressed, FormPlain: decided before the file had its key (a
	// rename of a file never published keeps its form: access.log ->
	// access.log.1 stays a compressed log).
	FormCompressed Form = "compressed"
	FormPlain      Form = "plain"
)

// BaseKind says whose the object at a journal's BaseETag is.
type BaseKind string

const (
	// BaseOwn: the file's own object (its first BaseSize bytes are the
	// file's), or none (!Exists).
	BaseOwn BaseKind = ""
	// BaseReplaced: the object the name held when a new file took it —
	// one a rename left there, its delete still due (publish.ClaimLeft),
	// or the one a rename put the file over. None of its bytes are the
	// file's: the first publication replaces it (If-Match), even with no
	// bytes; a rename or unlink of the file takes it with the name; after
	// a crash the file is still new. Only with Exists and BaseSize 0.
	BaseReplaced BaseKind = "replaced"
)

// Journal is the durable description of one spooled file.
type Journal struct {
	Key  string `json:"key"`
	Kind Kind   `json:"kind"`
	// Exists: an object was at BaseETag when the spool file began, so
	// the first publication must be conditional on it (If-Match), not
	// If-None-Match.
	Exists   bool   `json:"exists"`
	BaseSize int64  `json:"base_size"` // logical [0, BaseSize) is the published object
	BaseETag string `json:"base_etag"`
	// Shift maps logical offsets to data file offsets (data = logical -
	// Shift). It changes when a rebase moves our unpublished bytes after
	// another host's.
	Shift int64 `json:"shift"`
	// LocalStart: logical bytes below it are not in the data file and are
	// read from S3.
	LocalStart int64 `json:"local_start"`
	Size       int64 `json:"size"`  // logical size
	Dirty      bool  `json:"dirty"` // KindWhole: local bytes differ from S3
	// Base: whose the object at BaseETag is (BaseReplaced: an object the
	// first publication replaces).
	Base BaseKind `json:"base,omitempty"`
	// Pending is the logical end of the publication in flight, so that
	// recovery after a crash can tell whether S3 already has those bytes.
	Pending  int64  `json:"pending,omitempty"`
	UploadID string `json:"upload_id,omitempty"` // multipart upload to abort after a crash
	// AbortUploads are multipart uploads of this file whose abort failed
	// (S3 down at that moment): aborted again before each publication and
	// at recovery, so their parts do not stay billed unseen (the file
	// stays in the spool until then, published or not).
	AbortUploads []string `json:"abort_uploads,omitempty"`
	// LostUploads: a CreateMultipartUpload may have made an upload whose
	// id its lost answer took, and the key's uploads could not be listed
	// to find it: the key's uploads initiated inside a window (by S3's
	// clock, unix nanoseconds) are looked for again before each
	// publication and at recovery.
	LostUploads []UploadWindow `json:"lost_uploads,omitempty"`
	// Mode (st_mode with its type bits; 0: not set), UID and GID are
	// attributes set here that S3 may not have yet (create's mode, chmod,
	// chown): a crash before the publication that carries them must not
	// publish the file with the mount's defaults.
	Mode uint32  `json:"mode,omitempty"`
	UID  *uint32 `json:"uid,omitempty"`
	GID  *uint32 `json:"gid,omitempty"`
	// ExpressParts counts the parts of an S3 Express object (each append
	// adds one) so that it is compacted before 10,000.
	ExpressParts int `json:"express_parts,omitempty"`
	// PendingTag names the publication in flight (user metadata
	// x-amz-meta-s3mount-pub on the object it writes): after a lost
	// answer or a crash, a HEAD showing it proves S3 has exactly that
	// publication. PubSeq numbers the publications of this file.
	PendingTag string `json:"pending_tag,omitempty"`
	PubSeq     int64  `json:"pub_seq,omitempty"`
	// PendingSince is when the publication named by PendingTag began
	// (unix nanoseconds): a multipart upload it created but whose id
	// was lost was initiated close to it, and only such uploads of the
	// key are aborted after a crash (another host's are left alone).
	PendingSince int64 `json:"pending_since,omitempty"`
	// RenamedFrom is the old key of a rename that copied the object to Key
	// but may not have deleted the old one yet (its ETag: RenamedFromETag);
	// recovery finishes the rename.
	RenamedFrom     string `json:"renamed_from,omitempty"`
	RenamedFromETag string `json:"renamed_from_etag,omitempty"`
	// LeftKeys are old keys of earlier renames of this file whose copies
	// landed and whose deletes are still due, oldest first: a rename of
	// a file whose old key S3 will not delete yet goes on (a bucket may
	// refuse deletes for good; logrotate shifts app.log.1 to app.log.2
	// at the next rotation) and hands that delete on here.
	LeftKeys []LeftKey `json:"left_keys,omitempty"`
	// Form: how a file renamed before its first publication is stored.
	Form Form `json:"form,omitempty"`
	// FormCheck: the file's first publication created its object (of this
	// kind: a log, or a whole file); whether another host created the name
	// in the other form meanwhile is still to be asked
	// (publish.settleForms). Empty: nothing to ask.
	FormCheck Kind `json:"form_check,omitempty"`
	// Yielding is the object this file created and gives up to another
	// host's object of its name in the other form: deleted or not yet,
	// the file's bytes not yet moved there.
	Yielding *Yielding `json:"yielding,omitempty"`
	// RenameTag is the tag the rename's copy carries (not on S3 Express,
	// whose RenameObject is atomic).
	RenameTag string `json:"rename_tag,omitempty"`
	// MoveDoubt is a rename of this file that reported a failure (and
	// was reported failed) though S3 may have applied it: S3 could not be
	// asked. The next publication looks and undoes what landed.
	MoveDoubt *MoveDoubt `json:"move_doubt,omitempty"`
	// Conflict records why the last publication was refused, for status
	// and recovery.
	Conflict string `json:"conflict,omitempty"`
	// Created orders files (unix nanoseconds, strictly increasing in one
	// spool, across restarts too): of two files of one key, the later
	// holds the file's current content.
	Created int64 `json:"created,omitempty"`
	// Unlinked: the file was unlinked while open. It is never published;
	// recovery deletes it.
	Unlinked bool `json:"unlinked,omitempty"`
	// MapCheck: logical bytes of the data file in [From, To) may have
	// been written past the daemon (a read-write open that named the data
	// file as its backing file may have mapped it shared and writable),
	// and those S3 has may now differ from the file's. Before the file's
	// next publication, its job reads them back from S3: the same, the
	// file publishes as usual; different, it is published whole. Kept
	// here so that a crash before that look leaves it due.
	MapCheck *MapCheck `json:"map_check,omitempty"`
}

// MapCheck is a range of a file's logical offsets to compare with S3
// (Journal.MapCheck).
type MapCheck struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
	// Rec counts the records merged into it: the job clears only the
	// record it compared, not one made while it compared.
	Rec int64 `json:"rec,omitempty"`
}

// MapToEnd is a MapCheck's To for every byte S3 has, also bytes it gets
// after the check was recorded: what an open that may map the data file
// records while it lasts (a crash then leaves every byte S3 has to
// compare).
const MapToEnd = maxOffset

// Merged is the range covering c and [from, to) (c may be nil), a record
// later than c.
func (c *MapCheck) Merged(from, to int64) *MapCheck {
	if c == nil {
		return &MapCheck{From: from, To: to, Rec: 1}
	}
	return &MapCheck{From: min(c.From, from), To: max(c.To, to), Rec: c.Rec + 1}
}

// String is the range, "[from, end)" when it runs to the end.
func (c MapCheck) String() string {
	if c.To >= MapToEnd {
		return fmt.Sprintf("[%d, end)", c.From)
	}
	return fmt.Sprintf("[%d, %d)", c.From, c.To)
}

// UploadWindow is when an upload a lost answer left was initiated.
type UploadWindow struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// LeftKey is an object a rename moved away: its key and its ETag then.
// Object, if set, is its raw key: an object in the other form than the
// file now at Key (a compressed mount's NAME.gz of a file a plain one
// replaced, or the reverse), deleted as it is.
type LeftKey struct {
	Key    string `json:"key"`
	ETag   string `json:"etag"`
	Object string `json:"object,omitempty"`
}

// Unpublished is how many of j's bytes S3 does not have: an append's past
// its base, all of a whole file's that differs from S3.
func (j Journal) Unpublished() int64 {
	if j.Kind == KindAppend {
		return max(0, j.Size-j.BaseSize)
	}
	if j.Dirty {
		return j.Size
	}
	return 0
}

// AbortsDue: j's file keeps multipart uploads whose abort failed, or
// windows of uploads a lost answer may have left that could not be
// listed (aborted before each publication): the journal is all that
// names them, so the file stays until they are aborted.
func (j Journal) AbortsDue() bool { return len(j.AbortUploads) > 0 || len(j.LostUploads) > 0 }

// OldKeys are the objects renames of j's file moved away whose deletes
// are due: LeftKeys, then RenamedFrom.
func (j Journal) OldKeys() []LeftKey {
	if j.RenamedFrom == "" {
		return j.LeftKeys
	}
	return append(slices.Clip(j.LeftKeys), LeftKey{Key: j.RenamedFrom, ETag: j.RenamedFromETag})
}

// Yielding names an object by its raw key (NAME.gz for a compressed
// file) and the ETag it had when created.
type Yielding struct {
	Object string `json:"object"`
	ETag   string `json:"etag"`
}

// ErrNotLocal: the bytes asked for are not (or no longer) in the spool
// file: they were published and freed, or the file was replaced. Readers
// look again at where the bytes are.
var ErrNotLocal = errors.New("spool: bytes not local")

// File is one spooled file: a data file plus its journal.
type File struct {
	sp *Spool
	id string

	mu sync.Mutex
	// dataMu is held shared while bytes are read from the data file and
	// exclusively while bytes are freed (Punch, Truncate, Remove), so a
	// read never returns freed bytes as zeros: it sees ErrNotLocal instead.
	// Order: dataMu before mu.
	dataMu    sync.RWMutex
	data      *os.File
	j         Journal
	accounted int64 // this file's share of Spool.used
	removed   bool
	unsaved   bool // the journal in memory is newer than on disk (disk full)
	pins      int  // readers of the data file itself (pin.go)
	// The journal file, open for in-place updates (journalfile.go): nil
	// until this run made it (a recovered file's journal is made anew by
	// its first update), and after it was removed. jseq is the sequence
	// number of its newest record, jslot its slot size. Guarded by mu.
	jfile *os.File
	jseq  uint64
	jslot int64
}

// ID names the file inside the spool directory.
func (f *File) ID() string { return f.id }

func (f *File) dataPath() string    { return filepath.Join(f.sp.dir, f.id+".data") }
func (f *File) journalPath() string { return filepath.Join(f.sp.dir, f.id+".json") }

// DataPath is where the file's bytes are, for messages that tell users
// where unpublishable data is kept.
func (f *File) DataPath() string { return f.dataPath() }

// Journal returns a copy of the journal.
func (f *File) Journal() Journal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.j
}

// Update changes the journal with fn and persists it (atomically: the old
// journal or the new one survives a crash, journalfile.go). The
// spool's accounting follows the change of unpublished bytes.
func (f *File) Update(fn func(j *Journal)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.j
	fn(&f.j)
	if f.j.Base == BaseReplaced && (!f.j.Exists || f.j.BaseSize > 0) {
		// A base with bytes of the file's (a rebase after another
		// writer's object, a publication), or none: the file's own.
		f.j.Base = BaseOwn
	}
	if err := f.keepsLayout(old); err != nil {
		f.j = old
		return err
	}
	if err := f.writeJournal(); err != nil {
		if !isNoSpace(err) {
			f.j = old
			return err
		}
		// The disk is full of data: keep the change in memory and save it
		// once space is freed (Punch, Sync). A crash before that replays
		// the older journal, and publication's already-ours check keeps
		// that from duplicating bytes.
		f.unsaved = true
	}
	f.recount()
	f.sp.track(f.id, old, f.j)
	return nil
}

// recount adjusts the spool's used bytes to this file's unpublished bytes.
// Called with f.mu held.
func (f *File) recount() {
	d := f.dirtyBytes()
	delta := d - f.accounted
	f.accounted = d
	if delta < 0 {
		f.sp.Release(-delta)
	} else if delta > 0 {
		// Growth not reserved by a writer (recovery, rebase): charge it
		// without waiting.
		f.sp.mu.Lock()
		f.sp.used += delta
		f.sp.mu.Unlock()
	}
}

func (f *File) dirtyBytes() int64 {
	if f.removed || f.j.Unlinked {
		return 0
	}
	return f.j.Unpublished()
}

// Growth is how many unpublished bytes a write of n bytes at off adds.
// The caller reserves that much before WriteAt.
func (f *File) Growth(off, n int64) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	before := f.dirtyBytes()
	j := f.j
	if end := off + n; end > j.Size {
		j.Size = end
	}
	if j.Kind == KindWhole {
		j.Dirty = true
	}
	save := f.j
	f.j = j
	after := f.dirtyBytes()
	f.j = save
	if after < before {
		return 0
	}
	return after - before
}

// WriteAt stores p at logical offset off. The caller has reserved
// Growth(off, len(p)) bytes.
func (f *File) WriteAt(p []byte, off int64) (int, error) { return f.writeAt(p, off, false) }

// WriteRecordAt is WriteAt for a few bytes that tell of something that
// happened and must reach S3, as a journal does (a drop marker line at the
// last close or at unmount: no later write would carry it): on a full disk
// it may take the room the reserve keeps for journals.
func (f *File) WriteRecordAt(p []byte, off int64) (int, error) { return f.writeAt(p, off, true) }

func (f *File) writeAt(p []byte, off int64, record bool) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if off < f.j.LocalStart {
		return 0, fmt.Errorf("spool: write at %d below local start %d", off, f.j.LocalStart)
	}
	n, err := f.writeData(p, off)
	if err != nil && record && isNoSpace(err) {
		// A record, like a journal, is written in the reserve's room
		// (the disk is full all the same: diskErr): freed now, or left
		// by a journal write that used it (data never takes it).
		if _, done := f.sp.takeReserve(); done != nil {
			f.sp.diskErr(err)
			if err = f.sp.noSpace("write", f.dataPath(), true); err == nil {
				n, err = f.data.WriteAt(p, off-f.j.Shift)
			}
			done()
		}
	}
	if err != nil {
		// A short write past the end (disk full) is cut off again: the
		// data file's length is what recovery trusts after a crash.
		if off+int64(len(p)) > f.j.Size {
			f.data.Truncate(max(f.j.Size-f.j.Shift, 0))
		}
		return 0, f.sp.diskErr(err)
	}
	if f.sp.opts.Hook != nil { // the path costs an allocation per write
		f.sp.hook(OpDataWrite, f.dataPath())
	}
	before := f.dirtyBytes()
	if end := off + int64(n); end > f.j.Size {
		f.j.Size = end
	}
	if f.j.Kind == KindWhole && !f.j.Dirty {
		f.j.Dirty = true
		// Dirty is persisted so that recovery publishes the file.
		if err := f.writeJournal(); err != nil {
			return 0, err
		}
	}
	f.accounted += f.dirtyBytes() - before
	if f.sp.opts.Sync == SyncAlways {
		if err := f.data.Sync(); err != nil {
			return n, err
		}
		f.sp.hook(OpDataSync, f.dataPath())
	}
	return n, nil
}

// ReadAt reads logical bytes at off; only [LocalStart, Size) is local.
// Bytes of a hole inside the file read as zeros.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	f.dataMu.RLock()
	defer f.dataMu.RUnlock()
	f.mu.Lock()
	size, shift, start := f.j.Size, f.j.Shift, f.j.LocalStart
	data, removed := f.data, f.removed
	f.mu.Unlock()
	if off < start || removed {
		return 0, fmt.Errorf("%w: read at %d, local from %d", ErrNotLocal, off, start)
	}
	if off >= size {
		return 0, io.EOF
	}
	want := p
	if rem := size - off; int64(len(want)) > rem {
		want = want[:rem]
	}
	n, err := data.ReadAt(want, off-shift)
	if errors.Is(err, io.EOF) || (err == nil && n < len(want)) {
		// Past the data file's end but inside the logical size
		// (ftruncate upwards): zeros.
		clear(want[n:])
		n, err = len(want), nil
	}
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// Section returns a reader of logical bytes [off, off+n), for uploads.
func (f *File) Section(off, n int64) *io.SectionReader {
	return io.NewSectionReader(readerAt{f}, off, n)
}

type readerAt struct{ f *File }

func (r readerAt) ReadAt(p []byte, off int64) (int, error) { return r.f.ReadAt(p, off) }

// Truncate sets the logical size (KindWhole files only).
func (f *File) Truncate(size int64) error {
	f.dataMu.Lock()
	defer f.dataMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if size < f.j.LocalStart {
		return fmt.Errorf("spool: truncate to %d below local start %d", size, f.j.LocalStart)
	}
	// Recovery takes the longer of the journal's size and the data file's
	// as the file's: a shrink is journaled first (a crash before the cut
	// finds the old bytes, whole), a growth is cut first (a crash before
	// the journal finds the new zeros). Never a short data file under a
	// longer journal, whose gap recovery would fill with zeros.
	old := f.j
	f.j.Size = size
	if f.j.Kind == KindWhole {
		f.j.Dirty = true
	}
	shrink := size < old.Size
	if shrink {
		if err := f.writeJournal(); err != nil {
			f.j = old
			return err
		}
	}
	if err := f.data.Truncate(size - f.j.Shift); err != nil {
		if shrink {
			f.unsaved = true // the journal says less than the data file
		}
		f.j = old
		return f.sp.diskErr(err)
	}
	f.sp.hook(OpTruncate, f.dataPath())
	if !shrink {
		if err := f.writeJournal(); err != nil {
			f.j = old
			return err
		}
	}
	f.recount()
	return nil
}

// Punch frees the data file's blocks for logical [off, off+n): they are
// published and will be read from S3 from now on. The journal says so
// first: a crash between the two then leaves a journal that reads a few
// more bytes from S3, never one that calls zeroed blocks local (recovery
// would publish the zeros). No journal, no punch.
func (f *File) Punch(off, n int64) error {
	f.dataMu.Lock()
	defer f.dataMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if n <= 0 {
		return nil
	}
	if f.pins > 0 {
		return ErrPinned // published bytes stay local while read directly
	}
	old := f.j.LocalStart
	if end := off + n; end > f.j.LocalStart {
		f.j.LocalStart = end
	}
	if err := f.writeJournal(); err != nil {
		f.j.LocalStart = old
		return err
	}
	f.unsaved = false
	d := off - f.j.Shift
	if d < 0 {
		n += d
		d = 0
	}
	if n <= 0 {
		return nil
	}
	if err := f.punchHole(d, n); err != nil {
		return err
	}
	f.sp.hook(OpPunch, f.dataPath())
	// The next Punch on a full disk needs room for its journal first.
	f.sp.restoreReserve()
	// Room on the disk: a writer that met the full disk after this
	// publication's Release (before this punch) waits for it, with
	// nothing left to publish that would wake it.
	f.sp.ClearDiskFull()
	return nil
}

// Sync flushes the data file to disk.
func (f *File) Sync() error {
	f.mu.Lock()
	data := f.data
	removed := f.removed
	f.mu.Unlock()
	if removed {
		return nil
	}
	f.mu.Lock()
	if f.unsaved && f.writeJournal() == nil {
		f.unsaved = false
	}
	f.mu.Unlock()
	if err := data.Sync(); err != nil {
		return err
	}
	f.sp.hook(OpDataSync, f.dataPath())
	return nil
}

// MarkUnlinked records that the file was unlinked while open: it is never
// published, after a restart either (recovery deletes it), and its bytes
// stop counting against the buffer at once (later writes are not charged:
// Growth is 0). Handles that have it open still read and write it; Remove
// it when the last one closes. The journal is written before anything
// else changes.
func (f *File) MarkUnlinked() error { return f.markUnlinked(false) }

// MarkReplaced is MarkUnlinked for a file whose name another file took
// (rename over it): the object under its key is the other file's now, so
// recovery must not delete it as an interrupted unlink (Exists is cleared
// in the same journal write).
func (f *File) MarkReplaced() error { return f.markUnlinked(true) }

func (f *File) markUnlinked(replaced bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.removed || f.j.Unlinked {
		return nil
	}
	f.j.Unlinked = true
	oldExists, oldBase := f.j.Exists, f.j.Base
	if replaced {
		// No object of the name is the file's; neither is one it was
		// to replace (Check refuses "replaced" without Exists).
		f.j.Exists, f.j.Base = false, BaseOwn
	}
	var err error
	if err = f.writeJournal(); err != nil {
		if !isNoSpace(err) {
			f.j.Unlinked, f.j.Exists, f.j.Base = false, oldExists, oldBase
			return err
		}
		// No room for a journal: no journal says the same to recovery
		// (it drops a data file without one). Saved when there is room.
		if e := os.Remove(f.journalPath()); e != nil && !errors.Is(e, os.ErrNotExist) {
			f.j.Unlinked, f.j.Exists, f.j.Base = false, oldExists, oldBase
			return err
		}
		f.closeJournalFile() // the next journal is a new file
		f.sp.hook(OpRemove, f.journalPath())
		f.unsaved = true
		if err = syncDir(f.sp.dir); err == nil {
			f.sp.hook(OpDirSync, f.sp.dir)
		}
	}
	f.recount()
	return err
}

// Remove deletes the file from the spool (it is published or discarded).
func (f *File) Remove() error {
	f.dataMu.Lock()
	defer f.dataMu.Unlock()
	f.mu.Lock()
	if f.removed {
		f.mu.Unlock()
		return nil
	}
	f.removed = true
	f.recount()
	f.data.Close()
	f.closeJournalFile()
	j := f.j
	f.mu.Unlock()
	f.sp.mu.Lock()
	delete(f.sp.files, f.id)
	f.sp.mu.Unlock()
	f.sp.track(f.id, j, Journal{})
	err := os.Remove(f.journalPath())
	if err == nil {
		f.sp.hook(OpRemove, f.journalPath())
	}
	e := os.Remove(f.dataPath())
	if e == nil {
		f.sp.hook(OpRemove, f.dataPath())
	}
	if err == nil && !errors.Is(e, os.ErrNotExist) {
		err = e
	}
	if err == nil {
		// Or a crash could bring the journal back, and recovery would
		// publish the file again.
		if err = syncDir(f.sp.dir); err == nil {
			f.sp.hook(OpDirSync, f.sp.dir)
		}
	}
	return err
}

// writeData writes p's bytes to the data file (f.mu held).
func (f *File) writeData(p []byte, off int64) (int, error) {
	// Data never takes the room a used reserve left: that room is what
	// lets the journal say bytes are published, so that they can be
	// punched and the disk freed. Without it a full disk stays full. (The
	// path is made only for an error: it costs an allocation a write.)
	if err := f.sp.dataRoom("write", f.dataPath); err != nil {
		return 0, err
	}
	defer f.sp.dataRoomDone()
	if err := f.sp.noSpace("write", f.dataPath(), false); err != nil {
		return 0, err
	}
	return f.data.WriteAt(p, off-f.j.Shift)
}

func isNoSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}

// writeJournal persists f.j, using the reserve on a full disk. Called
// with f.mu held.
func (f *File) writeJournal() error { return f.persistJournal(true) }

// persistJournal persists f.j; the reserve is used on a full disk only if
// reserve (a new file's first journal is data: it records nothing S3 did).
func (f *File) persistJournal(reserve bool) error {
	b, err := json.Marshal(f.j)
	if err != nil {
		return err
	}
	err = f.saveJournal(b)
	if err != nil && reserve && isNoSpace(err) {
		// (A reserve already used left its room to journals: this write
		// found it taken.)
		if freed, done := f.sp.takeReserve(); done != nil {
			if freed {
				err = f.saveJournal(b)
			}
			done()
		}
	}
	if err != nil {
		return f.sp.diskErr(fmt.Errorf("cannot write spool journal %s: %w", f.journalPath(), err))
	}
	return nil
}

// MoveDoubt is where a rename whose outcome is unknown may have put the
// file's object: Key (the new name's), carrying Tag (a copy) or ETag (a
// RenameObject, which keeps it).
type MoveDoubt struct {
	Key  string `json:"key"`
	Tag  string `json:"tag,omitempty"`
	ETag string `json:"etag,omitempty"`
}
