// Package publish turns spooled bytes into S3 objects. Strategies (this
// file): whole-object PUT or multipart, compose-append (UploadPartCopy of the
// published object + UploadPart of the new bytes, completed with If-Match),
// re-put of small objects, and streaming multipart while a large file is still
// being written. Every write is conditional: If-None-Match for new objects,
// If-Match on the base we extend, so another writer is detected, never
// overwritten. scheduler.go decides when to publish.
package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/s3mount/s3mount/internal/s3store"
)

// Config tunes the strategies.
type Config struct {
	PartSize    int64 // --write-part-size
	Concurrency int   // parallel part uploads of one publication
	// ComposeMin: objects at least this large are extended by
	// UploadPartCopy; smaller ones are re-put whole. S3's minimum part.
	ComposeMin int64
	// OnUpload is told the id of each multipart upload as it starts and
	// "" once it is completed or aborted (journals record it).
	OnUpload func(uploadID string)
	// OnAbortFailed, when set, is told an upload whose abort failed (S3
	// down at that moment) in place of OnUpload(""): the caller keeps it
	// to abort later.
	OnAbortFailed func(uploadID string, err error)
	// Tag is written with the object by every strategy (user metadata
	// s3store.TagMetadataKey). Unique to a publication attempt, it lets
	// the caller tell, after a lost answer, whether the object S3 holds is
	// this publication: Head's Tag equals it exactly when it is. Express
	// appends cannot set it (see s3store.Express.AppendAt).
	Tag string
	// Attrs, when not nil, are the file's POSIX attributes, written with
	// the object by every strategy (an Express append keeps the ones the
	// object was created with).
	Attrs *s3store.Attrs
	// attrsOf, when set, gives Attrs when a strategy writes them
	// (takeAttrs): File.Attrs marks what it returns as carried, and an
	// append to a directory bucket's object keeps the object's metadata
	// (unless it compacts the object first), so a change of attributes
	// it does not carry stays due (Publisher.SetAttrs after it).
	attrsOf func() *s3store.Attrs
	// Encoding, when not nil, marks the object compressed (compress.go).
	Encoding *s3store.Encoding
	// Budget bounds the bytes publications hold in memory (budget.go);
	// past it they are kept in unlinked files in SpillDir. No SpillDir:
	// in memory, unbounded.
	Budget   *Budget
	SpillDir string
}

// takeAttrs sets Attrs from attrsOf (once) and returns them.
func (c *Config) takeAttrs() *s3store.Attrs {
	if c.attrsOf != nil {
		c.Attrs, c.attrsOf = c.attrsOf(), nil
	}
	return c.Attrs
}

func (c *Config) defaults() {
	if c.PartSize <= 0 {
		c.PartSize = 8 << 20
	}
	if c.PartSize < s3store.MinPartSize {
		c.PartSize = s3store.MinPartSize
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.ComposeMin <= 0 {
		c.ComposeMin = s3store.MinPartSize
	}
}

// Base is the published object a spool file extends.
type Base struct {
	Exists bool
	Size   int64
	ETag   string
}

// Source yields logical bytes of a spooled file.
type Source interface {
	Section(off, n int64) *io.SectionReader
}

// ErrConflict wraps a refused conditional write: another writer changed the
// object. Callers rebase (append-only files) or keep the data (others).
var ErrConflict = errors.New("object changed by another writer")

// conflict maps a refused condition, and an object that someone deleted
// under us (NoSuchKey from the copy source, the GET of old bytes, or an
// If-Match write), to ErrConflict: both mean "S3 no longer holds our base",
// which retrying cannot fix; the caller rebases onto what S3 holds now.
func conflict(key string, err error) error {
	if s3store.IsConflict(err) || errors.Is(err, s3store.ErrNotFound) {
		return fmt.Errorf("%w: %s: %v", ErrConflict, key, err)
	}
	return err
}

// cond is the condition (with cfg's tag and attributes) of a write that
// replaces base.
func cond(b Base, cfg Config) s3store.Cond {
	if b.Exists {
		return s3store.Cond{IfMatch: b.ETag, Tag: cfg.Tag, Attrs: cfg.Attrs, Encoding: cfg.Encoding}
	}
	return s3store.Cond{IfNoneMatch: true, Tag: cfg.Tag, Attrs: cfg.Attrs, Encoding: cfg.Encoding}
}

// Whole publishes logical [0, size) of src as the entire object, on the
// condition that the object is still base (or absent if !base.Exists).
func Whole(ctx context.Context, st s3store.Store, key string, src Source, size int64, base Base, cfg Config) (Base, error) {
	cfg.defaults()
	segs := []segment{{src: src.Section(0, size), size: size}}
	return upload(ctx, st, key, segs, base, cfg)
}

// Append publishes logical [base.Size, to) of src after the published
// object base. localStart is the lowest logical offset src still holds; the
// old bytes below it are read from S3 when a re-put needs them.
func Append(ctx context.Context, st s3store.Store, key string, base Base, src Source, localStart, to int64, cfg Config) (Base, error) {
	cfg.defaults()
	if !base.Exists || base.Size == 0 {
		if localStart > 0 {
			return Base{}, fmt.Errorf("publish %s: nothing local below %d", key, localStart)
		}
		return Whole(ctx, st, key, src, to, base, cfg)
	}
	newBytes := src.Section(base.Size, to-base.Size)
	if base.Size >= cfg.ComposeMin {
		return compose(ctx, st, key, base, newBytes, to-base.Size, cfg)
	}
	// Small object: old bytes + new bytes in one PUT (or multipart if the
	// new bytes are large), conditional on the old ETag.
	var old io.ReadSeeker
	if localStart == 0 {
		old = src.Section(0, base.Size)
	} else {
		buf, err := fetchOld(ctx, st, key, base.Size, base.ETag, cfg)
		if err != nil {
			return Base{}, err
		}
		defer buf.release()
		old = buf.reader()
	}
	segs := []segment{{src: old, size: base.Size}, {src: newBytes, size: to - base.Size}}
	return upload(ctx, st, key, segs, base, cfg)
}

// compose: multipart = UploadPartCopy of the whole published object (pinned
// with copy-source-if-match, ≤ 5 GiB a part) + UploadPart of the new bytes,
// completed with If-Match on the old ETag.
func compose(ctx context.Context, st s3store.Store, key string, base Base, newBytes io.ReadSeeker, n int64, cfg Config) (Base, error) {
	up, err := startUpload(ctx, st, key, cfg)
	if err != nil {
		return Base{}, err
	}
	var jobs []partJob
	copies := (base.Size + s3store.MaxCopySize - 1) / s3store.MaxCopySize
	chunk := (base.Size + copies - 1) / copies
	num := int32(1)
	for off := int64(0); off < base.Size; off += chunk {
		size := min(chunk, base.Size-off)
		o := off
		jobs = append(jobs, partJob{num: num, run: func(ctx context.Context, num int32) (s3store.Part, error) {
			return st.UploadPartCopy(ctx, key, up.id, num, key, base.ETag, o, size)
		}})
		num++
	}
	jobs = append(jobs, up.bodyJobs(ctx, []segment{{src: newBytes, size: n}}, num, partSizeFor(n, cfg.PartSize, s3store.MaxParts-int(num)+1))...)
	return up.run(ctx, jobs, cond(base, cfg), base.Size+n)
}

// upload writes the concatenation of segs as the whole object: one PUT when
// it fits in a part, else multipart.
func upload(ctx context.Context, st s3store.Store, key string, segs []segment, base Base, cfg Config) (Base, error) {
	var total int64
	for _, s := range segs {
		total += s.size
	}
	if total <= cfg.PartSize {
		body := newConcat(segs)
		info, err := st.Put(ctx, key, body, total, cond(base, cfg))
		if err != nil {
			return Base{}, conflict(key, err)
		}
		return Base{Exists: true, Size: total, ETag: info.ETag}, nil
	}
	up, err := startUpload(ctx, st, key, cfg)
	if err != nil {
		return Base{}, err
	}
	jobs := up.bodyJobs(ctx, segs, 1, partSizeFor(total, cfg.PartSize, s3store.MaxParts))
	return up.run(ctx, jobs, cond(base, cfg), total)
}

// partSizeFor grows the part size so that n bytes fit in maxParts parts.
func partSizeFor(n, partSize int64, maxParts int) int64 {
	if maxParts < 1 {
		maxParts = 1
	}
	if need := (n + int64(maxParts) - 1) / int64(maxParts); need > partSize {
		return need
	}
	return partSize
}

type multipart struct {
	st  s3store.Store
	key string
	id  string
	cfg Config
}

type partJob struct {
	num int32
	run func(ctx context.Context, num int32) (s3store.Part, error)
}

func startUpload(ctx context.Context, st s3store.Store, key string, cfg Config) (*multipart, error) {
	id, err := st.CreateMultipart(ctx, key, s3store.Cond{Tag: cfg.Tag, Attrs: cfg.Attrs, Encoding: cfg.Encoding})
	if err != nil {
		return nil, err
	}
	if cfg.OnUpload != nil {
		cfg.OnUpload(id)
	}
	return &multipart{st: st, key: key, id: id, cfg: cfg}, nil
}

// bodyJobs cuts the concatenation of segs into UploadPart jobs.
func (m *multipart) bodyJobs(ctx context.Context, segs []segment, first int32, partSize int64) []partJob {
	all := newConcat(segs)
	var jobs []partJob
	num := first
	for off := int64(0); off < all.size; off += partSize {
		size := min(partSize, all.size-off)
		o := off
		jobs = append(jobs, partJob{num: num, run: func(ctx context.Context, num int32) (s3store.Part, error) {
			return m.st.UploadPart(ctx, m.key, m.id, num, io.NewSectionReader(all, o, size), size)
		}})
		num++
	}
	return jobs
}

// run uploads the parts in parallel and completes the upload conditionally;
// on any failure the upload is aborted, so none is left to accumulate.
func (m *multipart) run(ctx context.Context, jobs []partJob, c s3store.Cond, total int64) (Base, error) {
	parts := make([]s3store.Part, len(jobs))
	err := parallel(ctx, m.cfg.Concurrency, len(jobs), func(ctx context.Context, i int) error {
		p, err := jobs[i].run(ctx, jobs[i].num)
		parts[i] = p
		return err
	})
	if err == nil {
		var info s3store.ObjectInfo
		info, err = m.st.CompleteMultipart(ctx, m.key, m.id, parts, c)
		if err == nil {
			m.done()
			return Base{Exists: true, Size: total, ETag: info.ETag}, nil
		}
	}
	m.abort()
	return Base{}, conflict(m.key, err)
}

func (m *multipart) abort() {
	// Abort even when ctx is cancelled (unmount, interrupted fsync).
	err := m.st.AbortMultipart(context.WithoutCancel(context.Background()), m.key, m.id)
	if err != nil && !errors.Is(err, s3store.ErrNoSuchUpload) && m.cfg.OnAbortFailed != nil {
		m.cfg.OnAbortFailed(m.id, err)
		return
	}
	m.done()
}

func (m *multipart) done() {
	if m.cfg.OnUpload != nil {
		m.cfg.OnUpload("")
	}
}

// parallel runs fn(0..n-1) with at most width at once and returns the first
// error (the rest are cancelled).
func parallel(ctx context.Context, width, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, max(width, 1))
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}(i)
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return first
}

// segment is one piece of an upload body.
type segment struct {
	src  io.ReadSeeker
	size int64
}

// concat is a seekable, ReaderAt concatenation of segments (uploads need to
// seek to re-send and to sign).
type concat struct {
	segs []segment
	ras  []io.ReaderAt
	size int64
	pos  int64
}

func newConcat(segs []segment) *concat {
	c := &concat{segs: segs}
	for _, s := range segs {
		c.ras = append(c.ras, asReaderAt(s.src))
		c.size += s.size
	}
	return c
}

func asReaderAt(r io.ReadSeeker) io.ReaderAt {
	if ra, ok := r.(io.ReaderAt); ok {
		return ra
	}
	panic("publish: segment is not an io.ReaderAt")
}

func (c *concat) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	base := int64(0)
	for i, s := range c.segs {
		if len(p) == 0 {
			break
		}
		if off < base+s.size {
			in := off - base
			want := min(int64(len(p)), s.size-in)
			m, err := c.ras[i].ReadAt(p[:want], in)
			n += m
			off += int64(m)
			p = p[m:]
			if err != nil && !(errors.Is(err, io.EOF) && int64(m) == want) {
				return n, err
			}
		}
		base += s.size
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

func (c *concat) Read(p []byte) (int, error) {
	if c.pos >= c.size {
		return 0, io.EOF
	}
	if rem := c.size - c.pos; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := c.ReadAt(p, c.pos)
	c.pos += int64(n)
	if errors.Is(err, io.EOF) && n > 0 {
		err = nil
	}
	return n, err
}

func (c *concat) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += c.pos
	case io.SeekEnd:
		off += c.size
	}
	if off < 0 {
		return 0, errors.New("publish: negative seek")
	}
	c.pos = off
	return off, nil
}
