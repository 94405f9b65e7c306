package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/spool"
)

// maxRebases bounds how often one publication re-reads the object after
// another writer got in first, before it gives up until the next interval.
const maxRebases = 10

// ErrGaveUp: another writer changed an object this file does not only
// append to; the publication is refused for good and its bytes stay in
// the spool (the journal's Conflict says where).
var ErrGaveUp = errors.New("publication refused: another writer changed the object; data kept in the spool")

// Publisher makes S3 hold what a spool file holds: one Publish is one
// publication of one file, with its conflict retries, rebases, lost-answer
// checks and an interrupted rename finished first. It reads the spool file
// and its journal itself; what the file system must do or know is asked
// of a File. The caller keeps one publication of a file at a time.
type Publisher struct {
	st      s3store.Store
	express s3store.Express // nil unless the bucket is an S3 Express directory bucket
	sp      *spool.Spool
	cfg     Config
	log     *slog.Logger
	// deleteMu: a key's deletes and takeovers (move.go) one at a time (a
	// stripe of keys); held across their HEAD and DELETE; only spool
	// locks (journal writes) are taken under it.
	deleteMu [deleteStripes]sync.Mutex
}

// NewPublisher makes a publisher over st and sp.
func NewPublisher(st s3store.Store, express s3store.Express, sp *spool.Spool, cfg Config, log *slog.Logger) *Publisher {
	if log == nil {
		log = slog.Default()
	}
	if cfg.Budget == nil && sp != nil {
		cfg.Budget, cfg.SpillDir = NewBudget(memoryBudget), sp.Dir()
	}
	return &Publisher{st: st, express: express, sp: sp, cfg: cfg, log: log}
}

// Config is the publisher's strategy configuration.
func (p *Publisher) Config() Config { return p.cfg }

// File is the file system's side of one file's publication.
type File interface {
	// End chooses where this publication ends and journals it as
	// Pending with a fresh PendingTag and PendingSince (now); -1: nothing
	// to publish yet. final: everything; otherwise an open log's whole
	// lines, everything once no writer has the file open (asked here,
	// where the end is taken: Job.fire).
	End(f *spool.File, final bool) (int64, error)
	// HoldWriters holds the file's writers off until release is called
	// (a whole file's bytes may not change under its upload; a rebase
	// moves offsets).
	HoldWriters() (release func())
	// Stream hands over the streaming upload of [0, to), if it fits.
	Stream(to int64) *Stream
	// Wrote: S3 now holds size bytes at the last ETag, written by this
	// host (every ETag given is one of its own).
	Wrote(size int64, etags ...string)
	// Published: a publication landed and the journal says so: S3 holds
	// size bytes at the last ETag, written by this host.
	Published(size int64, etags ...string)
	// Rebased: another writer changed the object; it is now this. move
	// moves the journal's offsets: it runs inside, so that readers of the
	// file see the new object and the moved offsets together.
	Rebased(exists bool, size int64, etag string, attrs *s3store.Attrs, move func() error) error
	// Attrs are the POSIX attributes the object is to carry (nil: none).
	Attrs() *s3store.Attrs
	// Recopied: S3's object at ETag to holds the bytes it held at from (a
	// copy onto itself that replaced only its metadata: SetAttrs).
	Recopied(from, to string)
	// MapOpen: an open that may write the data file through a shared
	// mapping is open (vfs localreads.go): the journal's MapCheck cannot
	// be settled while it lasts (mapped.go).
	MapOpen() bool
	// HeldBy is the key of another file on this host, maybe not in S3
	// yet, whose object this new file's key is (the compressed NAME of a
	// plain NAME.gz), or "" (checkHeld).
	HeldBy() string
}

// Result is what one Publish did, for the counters.
type Result struct {
	Published          bool
	Conflicts, Rebases int
	Took               time.Duration
	// OldKeyDue: the file's rename left its old key, which could not be
	// deleted yet; the publication succeeded all the same.
	OldKeyDue bool
	// AbortsDue: the journal keeps multipart uploads whose abort failed
	// (AbortLeftUploads); the publication succeeded all the same.
	AbortsDue bool
}

// Publish publishes f: everything if final, else (an open log) up to its
// last whole line as File.End chooses.
func (p *Publisher) Publish(ctx context.Context, f *spool.File, t File, final bool) (Result, error) {
	var res Result
	if p.sp.SyncPublish() {
		_ = f.Sync()
	}
	start := time.Now()
	// Bytes S3 has that a shared mapping may have changed are compared
	// first: a rebase or a punch would take them out of the spool.
	if err := p.checkMapped(ctx, f, t); err != nil {
		p.log.Warn("publication failed; data kept in the spool", "key", f.Journal().Key, "err", err)
		return res, err
	}
	// The form of a file not yet in S3 (renamed before its first
	// publication) is told to the view before anything below asks it.
	p.KeepForm(f.Journal())
	// A look at the name's other form that a failure or a crash left
	// after the first publication, or a give-up it cut (forms.go).
	if _, err := p.settleForms(ctx, f, t); err != nil {
		p.log.Warn("publication failed; data kept in the spool", "key", f.Journal().Key, "err", err)
		return res, err
	}
	if err := p.adoptForm(ctx, f); err != nil {
		p.log.Warn("publication failed; data kept in the spool", "key", f.Journal().Key, "err", err)
		return res, err
	}
	// A plain NAME.gz waits while it is another file's object (checkHeld,
	// also when a refused put finds it so: publishRetrying).
	err := p.checkHeld(ctx, f, t)
	if err == nil {
		err = p.publishRetrying(ctx, f, t, final, &res)
	}
	// A publication that created the object: did another host create the
	// name in the other form meanwhile? (A file that gave its object up
	// for one that was given up too creates the name again: it looks
	// again.)
	for round := 0; err == nil && f.Journal().FormCheck != "" && round < maxFormRounds; round++ {
		moved, ferr := p.settleForms(ctx, f, t)
		if ferr != nil {
			// The bytes landed, the look (or the give-up) is still due:
			// an error, so that the file stays in the spool and its job
			// tries again (the look first).
			err = fmt.Errorf("published, but the name may be in S3 in both forms: %w", ferr)
			break
		}
		if !moved {
			break
		}
		err = p.publishRetrying(ctx, f, t, final, &res)
	}
	if j := f.Journal(); err == nil && (j.FormCheck != "" || j.Yielding != nil) {
		err = fmt.Errorf("published, but another host gave its object of %s up %d times in a row; looked at again at the next try", j.Key, maxFormRounds)
	}
	if errors.Is(err, ErrGaveUp) {
		return res, err // logged where it was decided
	}
	if errors.Is(err, ErrHeld) {
		p.log.Warn("publication waits; data kept in the spool", "key", f.Journal().Key, "err", err)
		return res, err
	}
	if err != nil {
		p.log.Warn("publication failed; data kept in the spool", "key", f.Journal().Key, "err", err)
		return res, err
	}
	p.formPublished(f.Journal())
	res.Took = time.Since(start)
	j := f.Journal()
	res.OldKeyDue = len(j.OldKeys()) > 0
	res.AbortsDue = j.AbortsDue()
	return res, nil
}

// publishRetrying runs publications of f until one lands or fails other
// than by another writer getting in first: after such a conflict an
// append rebases and tries again (bounded), anything else gives up.
func (p *Publisher) publishRetrying(ctx context.Context, f *spool.File, t File, final bool, res *Result) error {
	var err error
	var published, recopied bool
	for attempt := 0; ; attempt++ {
		published, err = p.once(ctx, f, t, final)
		res.Published = res.Published || published
		if !errors.Is(err, ErrConflict) {
			break
		}
		res.Conflicts++
		j := f.Journal()
		if herr := p.checkHeld(ctx, f, t); herr != nil {
			// A new plain NAME.gz refused by the compressed NAME's
			// object, which landed after the look before the publication
			// (logrotate's gzip racing the rename's copy): it waits for
			// NAME to go, as if the look had seen it — never a conflict
			// given up (EIO to gzip), nor a rebase onto that object.
			return herr
		}
		if p.express != nil && j.Kind == spool.KindAppend {
			// A lost Express append: S3 may have taken our bytes and
			// refused the retry's offset. (Other buckets tell by the
			// publication's tag: Settle.)
			if aerr := p.AlreadyOurs(ctx, f, t); aerr == nil {
				if jj := f.Journal(); jj.BaseSize != j.BaseSize || jj.BaseETag != j.BaseETag {
					res.Conflicts--
					continue
				}
			}
		}
		if j.Kind == spool.KindAppend && attempt >= maxRebases {
			// Another writer keeps appending first: nothing is wrong with
			// our bytes, try again at the next interval.
			err = fmt.Errorf("%w (lost %d rebase races in a row)", err, attempt+1)
			break
		}
		if !recopied && p.ownBaseRecopied(ctx, f, t) {
			// The base is ours after all: an attributes copy of it.
			recopied = true
			res.Conflicts--
			continue
		}
		if j.Kind != spool.KindAppend {
			// Not a pure append: never overwrite another writer's change.
			msg := fmt.Sprintf("%v; the file's data is kept in %s", err, f.DataPath())
			f.Update(func(j *spool.Journal) { j.Conflict = msg })
			p.log.Error("publication refused: another writer changed the object", "key", j.Key, "spool_file", f.DataPath(), "errno", "EIO")
			return fmt.Errorf("%w: %v", ErrGaveUp, err)
		}
		if rerr := p.checkMapped(ctx, f, t); rerr != nil {
			err = rerr // recorded during the publication: before the punch
			break
		}
		if rerr := p.rebase(ctx, f, t); rerr != nil {
			err = rerr
			break
		}
		res.Rebases++
	}
	return err
}

// once runs one strategy. Whole files hold the writers off (their bytes
// may change under an upload); appends do not: writers only add bytes past
// what is being published.
func (p *Publisher) once(ctx context.Context, f *spool.File, t File, final bool) (bool, error) {
	j := f.Journal()
	if j.Kind == spool.KindWhole {
		defer t.HoldWriters()()
	}
	// A publication whose answer was lost (or cut by a crash) is settled
	// first: it may be in S3 already.
	if err := p.FinishRename(ctx, f, t); err != nil {
		return false, err
	}
	settled, err := p.Settle(ctx, f, t, false)
	if err != nil {
		return false, err
	}
	p.AbortLeftUploads(ctx, f)
	if err := p.takeOverLeaving(ctx, f); err != nil {
		return settled, err
	}
	to, err := t.End(f, final)
	if err != nil || to < 0 {
		return settled, err
	}
	j = f.Journal()
	cfg := p.cfg
	cfg.Tag = j.PendingTag
	cfg.attrsOf = t.Attrs
	if p.express == nil {
		cfg.takeAttrs()
	}
	p.journalUpload(f, &cfg)
	base := Base{Exists: j.Exists, Size: j.BaseSize, ETag: j.BaseETag}
	p.log.Debug("publishing", "key", j.Key, "kind", j.Kind, "exists", j.Exists, "base_size", j.BaseSize, "base_etag", j.BaseETag, "to", to, "spool_file", f.ID())
	if z, ok := p.st.(Compressing); ok && j.Exists {
		// The publication extends the object in the form it is stored in.
		if err := z.Learn(ctx, j.Key); err != nil {
			return false, err
		}
	}
	watch, began := &createWatch{Store: p.st}, time.Now()
	var nb Base
	switch {
	case p.Compressed(j.Key):
		if st := t.Stream(to); st != nil {
			st.Abort()
		}
		nb, err = p.publishCompressed(ctx, f, j, to, base, cfg)
	case j.Kind == spool.KindWhole:
		cfg.takeAttrs()
		if st := t.Stream(to); st != nil {
			if err := f.Update(func(jj *spool.Journal) { jj.PendingTag = st.Tag() }); err != nil {
				st.Abort()
				return false, err
			}
			nb, err = st.Finish(ctx, f, to, base)
		} else {
			nb, err = Whole(ctx, watch, j.Key, f, to, base, cfg)
		}
	case p.express != nil:
		var parts int
		nb, parts, err = ExpressAppend(ctx, watch, p.express, j.Key, base, f, j.LocalStart, to, j.ExpressParts, cfg)
		if err == nil {
			f.Update(func(jj *spool.Journal) { jj.ExpressParts = parts })
		}
	default:
		nb, err = Append(ctx, watch, j.Key, base, f, j.LocalStart, to, cfg)
	}
	if err != nil {
		p.log.Debug("publication failed", "key", j.Key, "spool_file", f.ID(), "err", err)
		// The answer may be lost while S3 applied it (a refusal can be
		// the SDK's retry meeting its own first attempt): settle it now,
		// or before the next attempt if S3 cannot tell.
		did, serr := p.Settle(ctx, f, t, true)
		if did && serr == nil {
			return true, nil
		}
		// The journal's upload (a failed abort) and, if a
		// CreateMultipartUpload failed, the upload its lost answer may
		// have left, which no journal names.
		p.abortLost(f, watch.lostSince(began))
		if serr != nil {
			// Not a conflict: a rebase now would append our bytes
			// again after S3's if they did land.
			return false, fmt.Errorf("%v; %w", err, serr)
		}
		return false, err
	}
	p.log.Debug("published", "key", j.Key, "etag", nb.ETag, "size", nb.Size, "spool_file", f.ID())
	return true, p.record(f, t, j, nb)
}

// record records that S3 holds [0, nb.Size) of the file (j is the journal
// the publication started from).
func (p *Publisher) record(f *spool.File, t File, j spool.Journal, nb Base) error {
	pressure := p.sp.DiskFull() || !p.sp.Fits(1)
	// A first publication that created the object leaves a look at the
	// name's other form to take (forms.go).
	check := p.formCheckDue(j)
	// Published [0, to): the file continues as an append of that base.
	err := f.Update(func(jj *spool.Journal) {
		jj.Kind = spool.KindAppend
		jj.Exists, jj.BaseSize, jj.BaseETag = true, nb.Size, nb.ETag
		jj.Pending, jj.PendingTag, jj.Conflict, jj.Dirty, jj.Base = 0, "", "", false, spool.BaseOwn
		if check != "" {
			jj.FormCheck = check
		}
	})
	if err != nil {
		return err
	}
	t.Published(nb.Size, j.BaseETag, nb.ETag)
	// Bytes S3 now has and that will be composed server-side from now on
	// need not stay on local disk (unless they may have to be published
	// again in the other form: the look is still to come).
	if (nb.Size >= s3store.MinPartSize && check == "") || pressure {
		jj := f.Journal()
		// (Not bytes still to compare with S3: mapped.go.)
		if jj.LocalStart < nb.Size && jj.MapCheck == nil {
			_ = f.Punch(jj.LocalStart, nb.Size-jj.LocalStart)
		}
	}
	return nil
}

// rebase: another writer extended (or replaced) the object. Our unpublished
// bytes move to after whatever S3 holds now, so both writers' lines
// survive. Writers are held off while offsets move.
func (p *Publisher) rebase(ctx context.Context, f *spool.File, t File) error {
	j := f.Journal()
	info, err := p.st.Head(ctx, j.Key)
	exists := true
	if errors.Is(err, s3store.ErrNotFound) {
		exists, err = false, nil
	}
	if err != nil {
		return err
	}
	p.log.Info("object changed by another writer: appending after it", "key", j.Key, "remote_size", info.Size, "exists", exists, "our_base", j.BaseSize)
	return p.rebaseOnto(f, t, info, exists)
}

// errEdited: a whole file changed here cannot be rebased.
var errEdited = errors.New("the file is being edited whole: its changes are not appended to another writer's object")

// rebaseOnto moves f's unpublished bytes after the object S3 holds now
// (info; none if !exists). A whole file not changed here continues as an
// append of that object, as after a publication.
func (p *Publisher) rebaseOnto(f *spool.File, t File, info s3store.ObjectInfo, exists bool) error {
	defer t.HoldWriters()()
	j := f.Journal()
	if j.Kind == spool.KindWhole && j.Dirty {
		return fmt.Errorf("%s: %w", j.Key, errEdited)
	}
	remote := info.Size
	if !exists {
		remote = 0
	}
	if j.LocalStart < j.BaseSize && exists {
		// Local copies of the old base are no longer the object's bytes.
		if err := f.Punch(j.LocalStart, j.BaseSize-j.LocalStart); err != nil {
			return err
		}
		j = f.Journal()
	}
	delta := remote - j.BaseSize
	return t.Rebased(exists, remote, info.ETag, info.Attrs, func() error {
		return f.Update(func(jj *spool.Journal) {
			jj.Kind = spool.KindAppend
			jj.Shift += delta
			jj.LocalStart = remote
			jj.Size += delta
			jj.BaseSize = remote
			jj.BaseETag = info.ETag
			jj.Exists = exists
			jj.Pending = 0
		})
	})
}

// Settle asks S3 whether the publication the journal has in flight (its
// tag) is the object now. If so it is recorded as published; if not, it
// never happened and the next publication starts anew. did: it was ours.
// A HEAD that fails leaves it unsettled (err): publishing again without
// knowing could put the same bytes in twice. unchanged: nothing was
// written since the publication started; else a whole file is published
// again over the settled object (its bytes may have changed since).
func (p *Publisher) Settle(ctx context.Context, f *spool.File, t File, unchanged bool) (did bool, err error) {
	j := f.Journal()
	if j.MapCheck != nil && (j.PendingTag != "" || j.Pending > j.BaseSize) {
		// Settling may free or move the bytes the check compares.
		if err := p.checkMapped(ctx, f, t); err != nil {
			return false, err
		}
		j = f.Journal()
	}
	if p.express != nil && j.Kind == spool.KindAppend && j.Exists && j.BaseSize > 0 {
		// Express appends keep the object's first tag: a lost append is
		// told by its bytes (AlreadyOurs).
		if j.Pending <= j.BaseSize {
			return false, nil
		}
		if err := p.AlreadyOurs(ctx, f, t); err != nil {
			return false, fmt.Errorf("cannot tell whether the last publication landed: %w", err)
		}
		if f.Journal().BaseSize != j.BaseSize {
			return true, nil
		}
		// S3 does not have it: it never happened. The journal must not
		// keep its end (a truncate below it would leave a journal that
		// recovery refuses).
		return false, f.Update(func(jj *spool.Journal) { jj.Pending, jj.PendingTag, jj.PendingSince = 0, "", 0 })
	}
	if j.PendingTag == "" {
		return false, nil
	}
	info, err := p.st.Head(ctx, j.Key)
	switch {
	case errors.Is(err, s3store.ErrNotFound):
	case err != nil:
		return false, fmt.Errorf("cannot tell whether the last publication landed: %w", err)
	case info.Tag == j.PendingTag && p.express != nil && j.Kind == spool.KindAppend && j.Pending > j.BaseSize && info.Size > j.Pending && j.Size >= j.Pending:
		// A directory bucket's appends keep the object's tag: our
		// publication landed and another host appended after it. Taking
		// the whole object for ours would drop our next lines below its
		// end, and leave theirs to be written over.
		p.log.Info("a publication whose answer was lost is in S3, another writer's bytes after it", "key", j.Key, "ours", j.Pending, "size", info.Size)
		return true, p.oursThenTheirs(f, t, j.Pending, info)
	case info.Tag == j.PendingTag:
		p.log.Info("a publication whose answer was lost is in S3", "key", j.Key, "size", info.Size)
		nb := Base{Exists: true, Size: info.Size, ETag: info.ETag}
		if j.Kind == spool.KindAppend || unchanged {
			return true, p.record(f, t, j, nb)
		}
		err := f.Update(func(jj *spool.Journal) {
			jj.Exists, jj.BaseSize, jj.BaseETag = true, nb.Size, nb.ETag
			jj.Pending, jj.PendingTag, jj.PendingSince = 0, "", 0
		})
		t.Wrote(nb.Size, j.BaseETag, nb.ETag)
		return false, err
	case j.Kind == spool.KindAppend && j.Pending > j.BaseSize && info.Size >= j.Pending && info.ETag != j.BaseETag:
		// Another tag: our append may have landed and another host
		// appended to it since (its publication carries its own tag).
		// Our pending bytes where we put them tell; appending them
		// again after the other host's would publish them twice.
		if err := p.AlreadyOurs(ctx, f, t); err != nil {
			return false, fmt.Errorf("cannot tell whether the last publication landed: %w", err)
		}
		if f.Journal().BaseSize != j.BaseSize {
			return true, f.Update(func(jj *spool.Journal) { jj.Pending, jj.PendingTag, jj.PendingSince = 0, "", 0 })
		}
	}
	return false, f.Update(func(jj *spool.Journal) { jj.Pending, jj.PendingTag, jj.PendingSince = 0, "", 0 })
}

// oursThenTheirs records that S3 holds the file's [0, ours) (a log's
// publication whose answer was lost) followed by another writer's bytes,
// up to info.Size: our unpublished bytes move to after theirs, as in a
// rebase, with the writers held off and readers seeing the new object and
// the moved offsets together.
func (p *Publisher) oursThenTheirs(f *spool.File, t File, ours int64, info s3store.ObjectInfo) error {
	defer t.HoldWriters()()
	return t.Rebased(true, info.Size, info.ETag, info.Attrs, func() error {
		return f.Update(func(jj *spool.Journal) {
			delta := info.Size - ours
			jj.Shift += delta
			jj.Size += delta
			jj.LocalStart = info.Size
			jj.Exists, jj.BaseSize, jj.BaseETag = true, info.Size, info.ETag
			jj.Pending, jj.PendingTag, jj.PendingSince = 0, "", 0
		})
	})
}

// AlreadyOurs (S3 Express: appends keep the object's first tag, so Settle
// cannot tell; elsewhere: another host appended after a publication whose
// answer was lost, and its tag replaced ours) handles a crash between S3 accepting a publication
// and the journal recording it: if the object's bytes past our base are
// our own pending bytes, they are published already and must not be
// appended twice.
func (p *Publisher) AlreadyOurs(ctx context.Context, f *spool.File, t File) error {
	j := f.Journal()
	if j.Pending <= j.BaseSize {
		return nil // nothing was in flight
	}
	if err := p.checkMapped(ctx, f, t); err != nil {
		return err // before our bytes' offsets move
	}
	j = f.Journal()
	info, theirs, err := p.bytesAfterBase(ctx, j)
	if err != nil || theirs == nil {
		return err
	}
	m := int64(len(theirs))
	ours := make([]byte, m)
	if _, err := f.ReadAt(ours, j.BaseSize); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if !bytes.Equal(theirs, ours) {
		return nil // someone else's bytes: publish will rebase
	}
	p.log.Info("recovered spool file: S3 already has its first bytes", "key", j.Key, "bytes", m)
	if ours := j.BaseSize + m; info.Size > ours {
		// Another host appended after our bytes: our unpublished bytes
		// move after theirs (the writers held off).
		return p.oursThenTheirs(f, t, ours, info)
	}
	if err := f.Update(func(jj *spool.Journal) {
		jj.BaseSize += m
		jj.Exists = true
		jj.Pending = 0
		jj.BaseETag = info.ETag
	}); err != nil {
		return err
	}
	// Extended by our bytes: published, as a publication whose answer came
	// (then an Express write's mtime, which the append did not store,
	// becomes due; before, the file went clean without it and a later HEAD
	// brought S3's older mtime back, seed 918382892).
	t.Published(info.Size, j.BaseETag, info.ETag)
	return nil
}

// bytesAfterBase reads what S3 holds where j's pending bytes went (as
// many as both have), pinned to the object the HEAD saw. Another host
// appending between the HEAD and the read moves the object: ask again
// (bounded; each round is one HEAD and one GET). theirs is nil when the
// object is still the base or no longer than it.
func (p *Publisher) bytesAfterBase(ctx context.Context, j spool.Journal) (s3store.ObjectInfo, []byte, error) {
	const rounds = 4
	for round := 1; ; round++ {
		info, err := p.st.Head(ctx, j.Key)
		if errors.Is(err, s3store.ErrNotFound) {
			// The object went (deleted, or moved by a rename whose
			// outcome was not known): nothing of ours is there, and
			// the next publication starts it anew (as Settle's tag
			// check decides on other buckets).
			return info, nil, nil
		}
		if err != nil || info.ETag == j.BaseETag || info.Size <= j.BaseSize {
			return info, nil, err
		}
		m := min(info.Size-j.BaseSize, j.Size-j.BaseSize, j.Pending-j.BaseSize)
		rc, err := p.st.Get(ctx, j.Key, j.BaseSize, m, info.ETag)
		if err == nil {
			theirs, rerr := io.ReadAll(rc)
			rc.Close()
			return info, theirs, rerr
		}
		if !errors.Is(err, s3store.ErrPrecondition) || round == rounds {
			return info, nil, err
		}
	}
}

// AbortUploads aborts the multipart uploads a crash or a lost answer left:
// the journal's own (an abort that failed), and, when lostSince is set (a
// CreateMultipartUpload sent after it may have been applied with its
// answer lost, or a crash cut the publication that began then), the
// uploads of the key initiated while that publication could have created
// one. Another host's uploads of
// the same key, started at other times, are left alone: S3 cannot tell
// whose an upload is, and aborting another host's in-flight upload makes
// its publication fail. A lost upload holds no parts (parts are sent only
// once its id is journaled), so one left behind costs no storage; a bucket
// lifecycle rule (AbortIncompleteMultipartUpload) removes it. It returns
// what it could not do: the uploads whose abort failed, and the window
// whose uploads could not be listed (abortLost keeps both in the journal).
func (p *Publisher) AbortUploads(j spool.Journal, lostSince time.Time) (failed []string, unlisted *spool.UploadWindow) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if j.UploadID != "" {
		_ = p.st.AbortMultipart(ctx, j.Key, j.UploadID)
	}
	if lostSince.IsZero() {
		return nil, nil
	}
	from, to := uploadWindow(lostSince, time.Now())
	w := spool.UploadWindow{From: from.UnixNano(), To: to.UnixNano()}
	failed, err := p.abortInWindows(ctx, j, []spool.UploadWindow{w})
	if err != nil {
		p.log.Warn("cannot list multipart uploads to abort (looked for again before the next publication)", "key", j.Key, "err", err)
		return nil, &w
	}
	return failed, nil
}

// abortInWindows aborts the key's uploads (other than the journal's own)
// initiated inside one of ws and returns those whose abort failed.
func (p *Publisher) abortInWindows(ctx context.Context, j spool.Journal, ws []spool.UploadWindow) ([]string, error) {
	ups, err := p.st.ListMultipartUploads(ctx, j.Key)
	if err != nil {
		return nil, err
	}
	var failed []string
	for _, u := range ups {
		if u.Key != j.Key || u.UploadID == j.UploadID {
			continue
		}
		at := u.Initiated.UnixNano()
		if !slices.ContainsFunc(ws, func(w spool.UploadWindow) bool { return at >= w.From && at <= w.To }) {
			continue
		}
		if err := p.st.AbortMultipart(ctx, u.Key, u.UploadID); err != nil && !errors.Is(err, s3store.ErrNoSuchUpload) {
			failed = append(failed, u.UploadID)
		}
	}
	return failed, nil
}

// abortLost is AbortUploads for a publication of f, keeping in f's
// journal what it could not do (before, a failed listing forgot the
// upload a lost answer may have left).
func (p *Publisher) abortLost(f *spool.File, lostSince time.Time) {
	failed, unlisted := p.AbortUploads(f.Journal(), lostSince)
	if len(failed) == 0 && unlisted == nil {
		return
	}
	_ = f.Update(func(j *spool.Journal) {
		j.AbortUploads = keepAborts(append(slices.Clip(j.AbortUploads), failed...))
		if unlisted != nil {
			j.LostUploads = append(slices.Clip(j.LostUploads), *unlisted)
			if len(j.LostUploads) > maxAbortUploads {
				j.LostUploads = j.LostUploads[len(j.LostUploads)-maxAbortUploads:]
			}
		}
	})
}

// S3's clock (an upload's Initiated) may differ from ours by this much.
const clockSkew = time.Minute

// createWithin bounds how long after a publication began its
// CreateMultipartUpload is sent (settling, the SDK's retries).
const createWithin = 5 * time.Minute

// uploadWindow is when, by S3's clock, a publication that began at start
// may have initiated an upload, now being no later.
func uploadWindow(start, now time.Time) (from, to time.Time) {
	end := start.Add(createWithin)
	if now.Before(end) {
		end = now
	}
	return start.Add(-clockSkew), end.Add(clockSkew)
}

// createWatch is a Store that remembers whether a CreateMultipartUpload
// failed: S3 may have made the upload and the answer with its id been lost.
type createWatch struct {
	s3store.Store
	failed atomic.Bool
}

// lostSince is began if a CreateMultipartUpload failed, else zero.
func (w *createWatch) lostSince(began time.Time) time.Time {
	if w.failed.Load() {
		return began
	}
	return time.Time{}
}

func (w *createWatch) CreateMultipart(ctx context.Context, key string, c s3store.Cond) (string, error) {
	id, err := w.Store.CreateMultipart(ctx, key, c)
	if err != nil {
		w.failed.Store(true)
	}
	return id, err
}

// StartStream starts the streaming upload of f, a whole file being
// written sequentially. The journal names the upload's tag before it
// exists: a crash right after CreateMultipartUpload leaves recovery a
// reason to look for the upload and abort it.
func (p *Publisher) StartStream(ctx context.Context, f *spool.File, attrs *s3store.Attrs) (*Stream, error) {
	if p.Compressed(f.Journal().Key) {
		return nil, errNoStream
	}
	cfg := p.cfg
	cfg.Attrs = attrs
	cfg.Tag = f.ID() + ":stream:" + strconv.FormatInt(time.Now().UnixNano(), 36)
	p.journalUpload(f, &cfg)
	if err := f.Update(func(j *spool.Journal) { j.PendingTag, j.PendingSince = cfg.Tag, time.Now().UnixNano() }); err != nil {
		return nil, err
	}
	st, began := &createWatch{Store: p.st}, time.Now()
	s, err := StartStream(ctx, st, f.Journal().Key, cfg)
	if err != nil {
		p.abortLost(f, st.lostSince(began))
	}
	return s, err
}

// attrsTag is the tag of an attributes copy of the object at etag
// (SetAttrs): unique to the attempt, and naming the version it copied.
func attrsTag(etag string) string { return fmt.Sprintf("attrs:%s:%d", etag, time.Now().UnixNano()) }

// AttrsCopyOf reports whether info is an attributes copy (SetAttrs, this
// host's or another's) of the object of size bytes at etag: the same
// bytes under a new ETag.
func AttrsCopyOf(info s3store.ObjectInfo, etag string, size int64) bool {
	return etag != "" && info.ETag != etag && info.Size == size && strings.HasPrefix(info.Tag, "attrs:"+etag+":")
}

// ownBaseRecopied: a publication of f was refused because the object is
// no longer at the journal's base ETag — but S3 holds an attributes copy
// of that very version (SetAttrs: the same bytes, its tag names the base;
// one whose answer was lost while the HEAD that would have told failed
// too, seeds 978711719, 288941320). The base moves to the copy and it
// reports true; before, a whole file's publication gave up as if another
// writer had changed it (EIO, data kept in the spool).
func (p *Publisher) ownBaseRecopied(ctx context.Context, f *spool.File, t File) bool {
	j := f.Journal()
	if !j.Exists {
		return false
	}
	to, ok := p.AttrsCopy(ctx, f, j.Key, j.BaseETag, j.BaseSize)
	if !ok {
		return false
	}
	p.log.Info("the object is an attributes copy of the file's base (an answer lost): publishing over it", "key", j.Key)
	t.Recopied(j.BaseETag, to)
	t.Wrote(j.BaseSize, j.BaseETag, to)
	return true
}

// AttrsCopy: something pinned to the object of size bytes at etag (a
// publication's base, a reader, an edit's fetch) was refused, and S3 may
// hold an attributes copy of that version instead (SetAttrs' copy onto
// itself whose answer and the HEAD after it were both lost). If so it
// returns the copy's ETag, and f's base (f not nil) moves to it; the
// caller moves the file. The copy's bytes are the version's, so nothing
// read changes. The attributes set here are not taken as stored: the copy
// may be another host's chmod; ours, still due, are copied again onto it.
func (p *Publisher) AttrsCopy(ctx context.Context, f *spool.File, key, etag string, size int64) (string, bool) {
	if etag == "" {
		return "", false
	}
	info, err := p.st.Head(ctx, key)
	if err != nil || !AttrsCopyOf(info, etag, size) {
		return "", false
	}
	if f != nil {
		if err := f.Update(func(j *spool.Journal) {
			if j.BaseETag == etag {
				j.BaseETag = info.ETag
			}
		}); err != nil {
			return "", false
		}
	}
	return info.ETag, true
}

// SetAttrs stores new attributes (t.Attrs) with an object that has nothing
// else to publish: a copy onto itself, pinned to etag, that replaces its
// metadata. A copy whose answer was lost is told by its tag. If another
// writer changed the object first, the attributes set here are applied to
// its version, as a rebase applies unpublished bytes (the mount learns
// its size and ETag; the copy keeps its bytes); only if the object is
// gone is the change dropped, with a log line. f, when not nil, is the
// file's spool file, whose base moves to the copy.
func (p *Publisher) SetAttrs(ctx context.Context, f *spool.File, key, etag string, size int64, t File) (Result, error) {
	start := time.Now()
	var res Result
	for attempt := 0; ; attempt++ {
		tag := attrsTag(etag)
		info, err := Copy(ctx, p.st, key, etag, size, key, s3store.Cond{Tag: tag, Attrs: t.Attrs()})
		if err == nil {
			return res, p.attrsStored(f, t, etag, info.ETag, size, start, &res)
		}
		h, herr := p.st.Head(ctx, key)
		switch {
		case herr == nil && h.Tag == tag && h.Size != size:
			// Applied, its answer lost, and another host appended
			// since (a directory bucket's append keeps the tag and the
			// metadata): ours are stored with their bytes.
			if rerr := p.attrsRebase(f, t, h); rerr != nil {
				return res, rerr
			}
			res.Rebases++
			t.Published(h.Size) // (theirs: no ETag of ours)
			res.Published, res.Took = true, time.Since(start)
			return res, nil
		case herr == nil && h.Tag == tag:
			return res, p.attrsStored(f, t, etag, h.ETag, size, start, &res) // applied; the answer was lost
		case errors.Is(herr, s3store.ErrNotFound) && (errors.Is(err, s3store.ErrPrecondition) || errors.Is(err, s3store.ErrNotFound)):
			p.log.Warn("attributes not stored: another writer removed the object first", "key", key, "err", err)
			t.Published(size) // nothing of ours is left to store
			return res, nil
		case herr == nil && (errors.Is(err, s3store.ErrPrecondition) || errors.Is(err, s3store.ErrNotFound)) && h.ETag != etag:
			res.Conflicts++
			if attempt >= maxRebases {
				return res, fmt.Errorf("storing attributes of %s: %v (lost %d rebase races in a row)", key, err, attempt+1)
			}
			p.log.Info("object changed by another writer: storing the attributes set here with its version", "key", key, "remote_size", h.Size)
			if rerr := p.attrsRebase(f, t, h); rerr != nil {
				return res, rerr
			}
			res.Rebases++
			etag, size = h.ETag, h.Size
		// (A refusal is not the file's error: not ESTALE to the caller,
		// tried again later.)
		case herr != nil:
			return res, fmt.Errorf("storing attributes of %s: %v (and the object cannot be looked at: %w)", key, err, herr)
		case errors.Is(err, s3store.ErrPrecondition) || errors.Is(err, s3store.ErrNotFound):
			return res, fmt.Errorf("storing attributes of %s: %v", key, err)
		default:
			return res, fmt.Errorf("storing attributes of %s: %w", key, err)
		}
	}
}

// attrsStored records SetAttrs' copy: S3 holds at ETag to the size bytes
// it held at etag, with the attributes set here.
func (p *Publisher) attrsStored(f *spool.File, t File, etag, to string, size int64, start time.Time, res *Result) error {
	t.Recopied(etag, to)
	if f != nil {
		if err := f.Update(func(j *spool.Journal) {
			if j.BaseETag == etag {
				j.BaseETag = to
			}
		}); err != nil {
			return err
		}
	}
	t.Published(size, etag, to)
	res.Published, res.Took = true, time.Since(start)
	return nil
}

// attrsRebase: another writer changed the object whose attributes
// SetAttrs stores; the file is now its version (info). A spool file's
// bytes move as a publication's rebase moves them; one being edited whole
// that has changed bytes is not rebased (its publication is refused).
func (p *Publisher) attrsRebase(f *spool.File, t File, info s3store.ObjectInfo) error {
	if f == nil {
		return t.Rebased(true, info.Size, info.ETag, info.Attrs, func() error { return nil })
	}
	if f.Journal().MapCheck != nil {
		// Bytes to compare with S3 first: the data publication does
		// that, and rebases (the file is published again meanwhile).
		return fmt.Errorf("storing attributes of %s: the object changed and the file's bytes are to be compared with S3 first", f.Journal().Key)
	}
	return p.rebaseOnto(f, t, info, true)
}

// journalUpload sets cfg's OnUpload and OnAbortFailed for a publication
// of f: the journal names its multipart upload while it runs, and keeps
// one whose abort failed in AbortUploads (aborted again before each
// publication and at recovery; before, it was forgotten and its parts
// stayed billed with nothing naming them).
func (p *Publisher) journalUpload(f *spool.File, cfg *Config) {
	cfg.OnUpload = func(id string) { _ = f.Update(func(j *spool.Journal) { j.UploadID = id }) }
	cfg.OnAbortFailed = func(id string, err error) {
		key := ""
		_ = f.Update(func(j *spool.Journal) {
			key = j.Key
			j.UploadID = ""
			j.AbortUploads = keepAborts(append(j.AbortUploads, id))
		})
		p.log.Warn("cannot abort a multipart upload of a failed publication: its parts stay billed until an abort succeeds (retried before each publication)", "key", key, "upload_id", id, "err", err)
	}
}

// maxAbortUploads bounds a journal's list of uploads to abort (past it the
// oldest are forgotten: a lifecycle rule removes them).
const maxAbortUploads = 64

func keepAborts(ids []string) []string {
	if len(ids) > maxAbortUploads {
		ids = ids[len(ids)-maxAbortUploads:]
	}
	return ids
}

// AbortLeftUploads aborts the multipart uploads f's journal keeps for a
// later abort (AbortUploads) and looks again for those a lost answer left
// whose listing failed (LostUploads); what fails again stays.
func (p *Publisher) AbortLeftUploads(ctx context.Context, f *spool.File) {
	j := f.Journal()
	if len(j.AbortUploads) == 0 && len(j.LostUploads) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	var left []string
	for _, id := range j.AbortUploads {
		err := p.st.AbortMultipart(ctx, j.Key, id)
		if err != nil && !errors.Is(err, s3store.ErrNoSuchUpload) {
			left = append(left, id)
		}
	}
	lost := j.LostUploads
	if len(lost) > 0 {
		failed, err := p.abortInWindows(ctx, j, lost)
		if err == nil {
			left, lost = append(left, failed...), nil
		}
	}
	_ = f.Update(func(jj *spool.Journal) { jj.AbortUploads, jj.LostUploads = keepAborts(left), lost })
}

// RecoverUploads is recovery's abort, for a spool file a previous run
// left (no publication of it runs): the journal's upload (the crash cut
// its publication), the ones kept for a later abort, and, when lostSince
// is set, the key's uploads its cut publication may have created
// (AbortUploads).
func (p *Publisher) RecoverUploads(f *spool.File, lostSince time.Time) {
	j := f.Journal()
	if j.UploadID != "" {
		_ = f.Update(func(jj *spool.Journal) {
			jj.AbortUploads = keepAborts(append(jj.AbortUploads, jj.UploadID))
			jj.UploadID = ""
		})
	}
	p.AbortLeftUploads(context.Background(), f)
	if !lostSince.IsZero() {
		p.abortLost(f, lostSince)
	}
}
