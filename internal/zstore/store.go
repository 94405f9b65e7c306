// Package zstore is the mount's view of compressed log objects
// (--compress): a Store that shows the object NAME.gz (or NAME.zst) that
// s3mount wrote as the file NAME, with its uncompressed size and bytes.
// The file system above it keeps working in file names and uncompressed
// offsets; publication writes the compressed objects through Raw (see
// internal/publish/compress.go). An object is taken for one of ours only
// when it carries the mark (s3store.Encoding); any other NAME.gz is shown
// as it is, under its own name.
package zstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
)

// Store wraps a raw store. Keys it is asked about are the files' keys;
// a compressed file's object is its key plus the codec's extension.
type Store struct {
	s3store.Store
	codec compress.Codec
	globs []string // in path.Match's syntax
	idx   *compress.Index
	// members: recently decompressed members; streams: the shared
	// decompression of each object version being read (get.go).
	members *memberCache

	mu sync.Mutex
	// state: true, the key's file is stored compressed; false, it is a
	// plain object (learned from S3: a cache, dropped when it grows).
	// Absent: the glob decides.
	state map[string]bool
	// kept: the form of a file not yet in S3, decided under another name
	// (Keep). No HEAD can tell it again, so it rules over state and stays
	// until the file is published or its name is gone (Unkeep, forget).
	kept map[string]bool
	// marks caches what a HEAD told of a listed object: its mark at an
	// ETag (a listing carries no metadata).
	marks   map[string]mark
	streams map[streamKey]*stream

	// sizes: the last known size of each compressed file's object and
	// the ETag it had then (status; publication skips a HEAD with it).
	sizes map[string]sized
	// trailers: the trailer of each directory-bucket object version read
	// (trailer.go).
	trailers map[string]trailerOf

	rawBytes, compBytes atomic.Int64
}

type sized struct {
	etag    string
	size    int64
	trailer bool // its mark says the uncompressed size is in its trailer
}

// Published records a publication of key: raw bytes compressed to comp,
// its object now objectSize bytes at etag (marked "size in the trailer"
// when trailer).
func (z *Store) Published(key, etag string, raw, comp, objectSize int64, trailer bool) {
	z.rawBytes.Add(raw)
	z.compBytes.Add(comp)
	z.stored(key, true)
	z.sized(key, sized{etag, objectSize, trailer})
}

func (z *Store) sized(key string, s sized) {
	z.mu.Lock()
	if len(z.sizes) > 1<<16 {
		z.sizes = map[string]sized{}
	}
	z.sizes[key] = s
	z.mu.Unlock()
}

// ObjectSize is the size of key's object at etag and whether its mark says
// the uncompressed size is in its trailer, if this view knows them.
func (z *Store) ObjectSize(key, etag string) (size int64, trailer, ok bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	s, ok := z.sizes[key]
	return s.size, s.trailer, ok && s.etag == etag
}

// ObjectOf is a compressed file's object key and its last known size
// (-1: not known yet); ok false for a file stored plain.
func (z *Store) ObjectOf(key string) (object string, size int64, ok bool) {
	object, ok = z.Compressed(key)
	if !ok {
		return key, 0, false
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if s, known := z.sizes[key]; known {
		return object, s.size, true
	}
	return object, -1, true
}

// CompressionStats: bytes published before and after compression.
func (z *Store) CompressionStats() (raw, comp int64) {
	return z.rawBytes.Load(), z.compBytes.Load()
}

type mark struct {
	etag string
	info s3store.ObjectInfo // the raw HEAD; Encoding nil: not ours
}

// New wraps raw: files whose base name matches one of globs (shell
// patterns, compress.Glob; one that is not never matches) are stored
// compressed with codec.
func New(raw s3store.Store, codec compress.Codec, globs []string) *Store {
	var pats []string
	for _, g := range globs {
		if p, err := compress.Glob(g); err == nil {
			pats = append(pats, p)
		}
	}
	return &Store{Store: raw, codec: codec, globs: pats, idx: compress.NewIndex(), members: newMemberCache(membersCacheSize),
		state: map[string]bool{}, kept: map[string]bool{}, marks: map[string]mark{}, streams: map[streamKey]*stream{}, sizes: map[string]sized{}, trailers: map[string]trailerOf{}}
}

// Raw is the store below the view.
func (z *Store) Raw() s3store.Store { return z.Store }

// Codec is the codec new objects are written with.
func (z *Store) Codec() compress.Codec { return z.codec }

// Index holds the member boundaries known per object version.
func (z *Store) Index() *compress.Index { return z.idx }

// Compressed reports whether key's file is stored compressed, and its
// object's key.
func (z *Store) Compressed(key string) (object string, ok bool) {
	z.mu.Lock()
	c, known := z.kept[key]
	if !known {
		c, known = z.state[key]
	}
	z.mu.Unlock()
	if !known {
		c = z.byName(key)
	}
	if !c {
		return key, false
	}
	return key + z.codec.Ext(), true
}

// byName: the form the globs give key's file.
func (z *Store) byName(key string) bool {
	return z.matches(key) && !strings.HasSuffix(key, "/") // directories' markers are not files
}

func (z *Store) matches(key string) bool {
	base := path.Base(key)
	for _, g := range z.globs {
		if ok, _ := path.Match(g, base); ok {
			return true
		}
	}
	return false
}

// learnedMax: forms learned from S3 that the view remembers; past it
// they are all dropped (re-learned by a HEAD when asked). Tests lower it.
var learnedMax = 1 << 16

func (z *Store) learn(key string, compressed bool) {
	z.mu.Lock()
	z.learnLocked(key, compressed)
	z.mu.Unlock()
}

// learnLocked records key's form, the table bounded. z.mu held.
func (z *Store) learnLocked(key string, compressed bool) {
	if len(z.state) > learnedMax {
		z.state = map[string]bool{}
	}
	z.state[key] = compressed
}

// learnUnknown learns key's form from a listing unless it is known: a
// HEAD or this host's own write tells better (a name S3 holds in both
// forms, one a leftover or another host's, must not switch the form of
// the file this host reads and writes).
func (z *Store) learnUnknown(key string, compressed bool) {
	z.mu.Lock()
	if _, known := z.state[key]; !known {
		z.learnLocked(key, compressed)
	}
	z.mu.Unlock()
}

// forget: key has no object any more (deleted, renamed away), so a new
// file of that name takes the form the globs give it, as on a fresh mount.
func (z *Store) forget(key string) {
	z.mu.Lock()
	delete(z.state, key)
	delete(z.kept, key)
	z.mu.Unlock()
}

// unlearn: S3 holds neither of key's objects (another host deleted it):
// a new file of that name takes the form the globs give it, as on a fresh
// mount and on the other hosts. A kept form stays: its file is not in S3
// yet.
func (z *Store) unlearn(key string) {
	z.mu.Lock()
	delete(z.state, key)
	z.mu.Unlock()
}

// Keep records the form of key's file, decided before it had its key (a
// file renamed before its first publication). A form the globs give
// anyway is only learned: dropping it loses nothing.
func (z *Store) Keep(key string, compressed bool) {
	if compressed == z.byName(key) {
		z.mu.Lock()
		delete(z.kept, key)
		z.mu.Unlock()
		z.learn(key, compressed)
		return
	}
	z.mu.Lock()
	z.kept[key] = compressed
	z.mu.Unlock()
}

// Unkeep ends key's kept form: its file was published (published true:
// its object tells the form from now on, learned here) or left the name
// before that (forgotten, as a deleted object's).
func (z *Store) Unkeep(key string, published bool) {
	if !published {
		z.forget(key)
		return
	}
	z.mu.Lock()
	c, ok := z.kept[key]
	z.mu.Unlock()
	if ok {
		z.stored(key, c)
	}
}

// stored: this mount wrote key's object in that form; a kept form of
// another file that was to have the name is over.
func (z *Store) stored(key string, compressed bool) {
	z.mu.Lock()
	delete(z.kept, key)
	z.mu.Unlock()
	z.learn(key, compressed)
}

// logical is what the file system is told of a compressed object.
func (z *Store) logical(key string, raw s3store.ObjectInfo) s3store.ObjectInfo {
	z.sized(key, sized{raw.ETag, raw.Size, raw.Encoding.Trailer})
	raw.Key = key
	raw.Size = raw.Encoding.Size
	return raw
}

// ours: a raw HEAD shows an object this codec's publications wrote.
func (z *Store) ours(info s3store.ObjectInfo) bool {
	return info.Encoding != nil && compress.Codec(info.Encoding.Name) == z.codec
}

// Head: a compressed file's object, else the plain one. A name that does
// not match the globs is also looked for compressed (a rotated
// access.log.1 whose object is access.log.1.gz), after the plain object.
func (z *Store) Head(ctx context.Context, key string) (s3store.ObjectInfo, error) {
	obj, comp := z.Compressed(key)
	if comp {
		info, err := z.headObject(ctx, key, obj)
		if err == nil && z.ours(info) {
			z.learn(key, true)
			return z.logical(key, info), nil
		}
		if err != nil && !errors.Is(err, s3store.ErrNotFound) {
			return info, err
		}
		pinfo, perr := z.rawHead(ctx, key)
		if perr == nil && z.aliasOf(key, pinfo) != "" {
			return s3store.ObjectInfo{}, z.alias(key, pinfo)
		}
		if perr == nil {
			z.learn(key, false) // a plain object: it stays plain
		}
		if errors.Is(err, s3store.ErrNotFound) && errors.Is(perr, s3store.ErrNotFound) {
			z.unlearn(key)
		}
		return pinfo, perr
	}
	info, err := z.rawHead(ctx, key)
	if err == nil && z.aliasOf(key, info) != "" {
		return s3store.ObjectInfo{}, z.alias(key, info)
	}
	if err == nil && !strings.HasSuffix(key, "/") {
		z.learn(key, false)
	}
	if !errors.Is(err, s3store.ErrNotFound) || strings.HasSuffix(key, "/") {
		return info, err
	}
	cinfo, cerr := z.headObject(ctx, key, key+z.codec.Ext())
	if cerr == nil && z.ours(cinfo) {
		z.learn(key, true)
		return z.logical(key, cinfo), nil
	}
	if errors.Is(cerr, s3store.ErrNotFound) {
		z.unlearn(key)
	}
	return info, err
}

// aliasOf is the file whose object key is, when info (key's raw HEAD)
// says one of our compressed files is stored there, else "".
func (z *Store) aliasOf(key string, info s3store.ObjectInfo) string {
	name, ok := z.codec.Twin(key, false)
	if !ok || !z.ours(info) {
		return ""
	}
	return name
}

// alias: NAME.gz that s3mount wrote is the file NAME, not a second file
// (a listing does not show it either).
func (z *Store) alias(key string, info s3store.ObjectInfo) error {
	return fmt.Errorf("HeadObject %s: the object of the file %s: %w", key, z.aliasOf(key, info), s3store.ErrNotFound)
}

// rawHead is a HEAD of the object key itself; of NAME.gz with its mark
// checked as NAME's view does (on a directory bucket, a marked object
// whose last bytes are no trailer comes back unmarked: not ours).
func (z *Store) rawHead(ctx context.Context, key string) (s3store.ObjectInfo, error) {
	if name, ok := z.codec.Twin(key, false); ok {
		return z.headObject(ctx, name, key)
	}
	return z.Store.Head(ctx, key)
}

// Holder is the other file whose object a new file at key would write
// over, or "": a plain file NAME.gz is stored where the compressed file
// NAME is; a compressed file NAME where the plain file NAME.gz is. S3 has
// one key for both, so the mount refuses the second name (EEXIST) rather
// than replace the first file's object. compressed: the new file is
// stored compressed (the globs, or a rename of a compressed file).
func (z *Store) Holder(ctx context.Context, key string, compressed bool) (string, error) {
	other, ok := z.codec.Twin(key, compressed)
	if !ok {
		return "", nil
	}
	obj := key // the object both names share: NAME.gz
	if compressed {
		obj = other
	}
	info, err := z.rawHead(ctx, obj)
	switch {
	case errors.Is(err, s3store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", err
	case compressed && !z.ours(info):
		return other, nil // the plain file NAME.gz
	case !compressed && z.ours(info):
		return other, nil // the compressed file NAME
	}
	return "", nil
}

// OtherForm reports whether S3 holds key's file in the other form than
// this view would write it in (another host created it: plain NAME where
// this host would write NAME.gz, or NAME.gz with s3mount's mark where it
// would write NAME), and that object's raw HEAD (its Key the object's
// key). A plain file whose name the globs leave plain costs no request
// unless it is a log (log): such files are many, and another host stores
// the name compressed only when its own globs, a rename of a log there or
// a form learned from S3 say so, which the mount's own globs cannot tell
// for a log. The twins of another name are no copy of key's file: a
// plain NAME.gz that is no compressed file's object (a file of its own,
// logrotate's compress) and a marked object at key itself (the
// compressed file key minus .gz: Holder and publish.ErrHeld rule on
// those).
func (z *Store) OtherForm(ctx context.Context, key string, log bool) (s3store.ObjectInfo, bool, error) {
	if !z.AsksOtherForm(key, log) {
		return s3store.ObjectInfo{}, false, nil
	}
	_, compressed := z.Compressed(key)
	obj := key
	if !compressed {
		obj = key + z.codec.Ext()
	}
	var info s3store.ObjectInfo
	var err error
	if compressed {
		info, err = z.rawHead(ctx, key)
	} else {
		info, err = z.headObject(ctx, key, obj)
	}
	info.Key = obj
	switch {
	case errors.Is(err, s3store.ErrNotFound):
		return info, false, nil
	case err != nil:
		return info, false, err
	case compressed:
		return info, z.aliasOf(key, info) == "", nil
	}
	return info, z.ours(info), nil
}

// AsksOtherForm reports whether OtherForm(key, log) asks S3.
func (z *Store) AsksOtherForm(key string, log bool) bool {
	_, compressed := z.Compressed(key)
	return compressed || log || z.byName(key)
}

// Learn makes sure the view knows in which form key's file is stored
// (one HEAD when it does not yet): a file recovered from the spool after a
// remount may be a plain object under a name the globs match (renamed
// there from a plain name), or a compressed one under a name they do not
// (access.log.1), and its publication must extend that object.
func (z *Store) Learn(ctx context.Context, key string) error {
	z.mu.Lock()
	_, known := z.state[key]
	_, kept := z.kept[key]
	z.mu.Unlock()
	if known || kept {
		return nil
	}
	_, err := z.Head(ctx, key)
	if errors.Is(err, s3store.ErrNotFound) {
		return nil
	}
	return err
}

// Stat is what publication needs to extend key's compressed object: the
// file's view of it (uncompressed size) and its stored size, at one ETag.
// ErrNotFound when the object is missing or not one of ours.
func (z *Store) Stat(ctx context.Context, key string) (info s3store.ObjectInfo, stored int64, err error) {
	obj, _ := z.Compressed(key)
	raw, err := z.headObject(ctx, key, obj)
	if err != nil {
		return raw, 0, err
	}
	if !z.ours(raw) {
		return s3store.ObjectInfo{}, 0, fmt.Errorf("HeadObject %s: not a compressed object s3mount wrote: %w", obj, s3store.ErrNotFound)
	}
	return z.logical(key, raw), raw.Size, nil
}

// List shows each marked NAME.gz as NAME with its uncompressed size. A
// listing carries no metadata: each such object costs one HEAD, once per
// ETag.
func (z *Store) List(ctx context.Context, prefix, delimiter, token string, max int32) (s3store.ListPage, error) {
	page, err := z.Store.List(ctx, prefix, delimiter, token, max)
	if err != nil {
		return page, err
	}
	var todo []int
	names := make([]string, len(page.Objects))
	for i, o := range page.Objects {
		if name, ok := z.codec.Twin(o.Key, false); ok {
			todo = append(todo, i)
			names[i] = name
		}
	}
	// The marks are asked for in parallel (a directory of rotated logs
	// has many).
	infos := make([]s3store.ObjectInfo, len(todo))
	errs := make([]error, len(todo))
	sem := make(chan struct{}, listHeads)
	var wg sync.WaitGroup
	for j, i := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			infos[j], errs[j] = z.markOf(ctx, names[i], page.Objects[i])
		}()
	}
	wg.Wait()
	compressed := map[string]bool{}
	for j, i := range todo {
		if errs[j] != nil {
			return s3store.ListPage{}, errs[j]
		}
		info := infos[j]
		if info.Encoding == nil || !z.ours(info) {
			continue
		}
		key := names[i]
		z.learnUnknown(key, true)
		compressed[key] = true
		page.Objects[i] = z.logical(key, info)
	}
	// A plain object of a name the globs compress (another host's,
	// written without --compress) is its file, as Head finds: reads of a
	// node the listing made must go to it, not to NAME.gz.
	for _, o := range page.Objects {
		if !compressed[o.Key] && z.byName(o.Key) && o.Encoding == nil {
			z.learnUnknown(o.Key, false)
		}
	}
	return page, nil
}

// listHeads: HEADs at once for the marks of one listing page.
const listHeads = 16

func (z *Store) markOf(ctx context.Context, key string, o s3store.ObjectInfo) (s3store.ObjectInfo, error) {
	z.mu.Lock()
	m, ok := z.marks[o.Key]
	z.mu.Unlock()
	if ok && m.etag == o.ETag {
		return m.info, nil
	}
	info, err := z.headObject(ctx, key, o.Key)
	if errors.Is(err, s3store.ErrNotFound) {
		return o, nil // gone since the listing: shown as listed
	}
	if err != nil {
		return o, err
	}
	z.mu.Lock()
	if len(z.marks) > 1<<16 {
		z.marks = map[string]mark{}
	}
	z.marks[o.Key] = mark{etag: info.ETag, info: info}
	z.mu.Unlock()
	return info, nil
}

// errUncompressed: a write path sent uncompressed bytes to a compressed
// file's object (a bug: publication compresses them, see publish).
var errUncompressed = errors.New("zstore: uncompressed bytes for a compressed object")

func (z *Store) refuse(key, op string) error {
	return fmt.Errorf("%s %s: %w", op, key, errUncompressed)
}

// Put of a compressed file's key is refused: its bytes must be compressed
// first (Raw).
func (z *Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, c s3store.Cond) (s3store.ObjectInfo, error) {
	if _, comp := z.Compressed(key); comp {
		if !special(c.Attrs) {
			return s3store.ObjectInfo{}, z.refuse(key, "PutObject")
		}
		z.stored(key, false) // a symlink, FIFO or device node stays plain
	}
	return z.Store.Put(ctx, key, body, size, c)
}

func (z *Store) CreateMultipart(ctx context.Context, key string, meta s3store.Cond) (string, error) {
	if _, comp := z.Compressed(key); comp {
		return "", z.refuse(key, "CreateMultipartUpload")
	}
	return z.Store.CreateMultipart(ctx, key, meta)
}

func (z *Store) UploadPartCopy(ctx context.Context, key, uploadID string, num int32, srcKey, srcETag string, off, n int64) (s3store.Part, error) {
	if _, comp := z.Compressed(srcKey); comp {
		return s3store.Part{}, z.refuse(srcKey, "UploadPartCopy")
	}
	return z.Store.UploadPartCopy(ctx, key, uploadID, num, srcKey, srcETag, off, n)
}

// AbortMultipart and ListMultipartUploads follow a compressed file's key
// to its object's (publication's uploads are the object's).
func (z *Store) AbortMultipart(ctx context.Context, key, uploadID string) error {
	obj, _ := z.Compressed(key)
	return z.Store.AbortMultipart(ctx, obj, uploadID)
}

func (z *Store) ListMultipartUploads(ctx context.Context, prefix string) ([]s3store.Upload, error) {
	obj, comp := z.Compressed(prefix)
	ups, err := z.Store.ListMultipartUploads(ctx, obj)
	if comp {
		for i := range ups {
			if ups[i].Key == obj {
				ups[i].Key = prefix
			}
		}
	}
	return ups, err
}

// Delete removes a compressed file's object, only while it is one of
// ours: NAME.gz may since be another file's own object (logrotate's
// compress writes access.log.1.gz, then unlinks access.log.1).
func (z *Store) Delete(ctx context.Context, key string) error {
	obj, comp := z.Compressed(key)
	if !comp {
		err := z.Store.Delete(ctx, obj)
		if err == nil {
			z.forget(key)
		}
		return err
	}
	h, err := z.Store.Head(ctx, obj)
	if errors.Is(err, s3store.ErrNotFound) {
		z.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if !z.ours(h) {
		return nil
	}
	err = z.Store.Delete(ctx, obj)
	if err == nil {
		z.forget(key)
	}
	return err
}

// DeleteIf removes a file's object (NAME.gz for a compressed one) while
// it is still at etag: an ETag names one object, ours or not.
func (z *Store) DeleteIf(ctx context.Context, key, etag string) error {
	obj, _ := z.Compressed(key)
	err := z.Store.DeleteIf(ctx, obj, etag)
	if err == nil || errors.Is(err, s3store.ErrNotFound) {
		z.forget(key)
	}
	return err
}

// Copy (a rename) moves a compressed file's object to the new name's
// object, keeping its mark: access.log -> access.log.1 copies access.log.gz
// to access.log.1.gz. A plain file stays plain under any name.
func (z *Store) Copy(ctx context.Context, srcKey, srcETag, dstKey string, c s3store.Cond) (s3store.ObjectInfo, error) {
	obj, comp := z.Compressed(srcKey)
	if !comp {
		// A plain file stays plain under its new name; the compressed
		// object of a file it replaces goes after the copy (a rename
		// replaces its target): its ETag now (if ours), so that a late
		// delete takes only it.
		var replaced string
		dobj, dcomp := z.Compressed(dstKey)
		if dcomp {
			h, herr := z.Store.Head(ctx, dobj)
			switch {
			case herr == nil && z.ours(h):
				replaced = h.ETag
			case herr != nil && !errors.Is(herr, s3store.ErrNotFound):
				return s3store.ObjectInfo{}, herr // before the copy: nothing changed
			}
		}
		info, err := z.Store.Copy(ctx, srcKey, srcETag, dstKey, c)
		if err != nil {
			var ok bool
			if info, ok = z.copied(ctx, dstKey, c.Tag); !ok {
				return info, err
			}
		}
		z.stored(dstKey, false)
		if replaced != "" {
			if derr := z.deleteAt(ctx, dobj, replaced); derr != nil {
				return info, &s3store.LeftObjectError{Object: dobj, ETag: replaced, Err: derr}
			}
		}
		return info, nil
	}
	h, err := z.Store.Head(ctx, obj)
	if err != nil {
		return s3store.ObjectInfo{}, err
	}
	if srcETag != "" && h.ETag != srcETag {
		return s3store.ObjectInfo{}, fmt.Errorf("CopyObject %s: %w", obj, s3store.ErrPrecondition)
	}
	if c.Encoding == nil {
		c.Encoding = h.Encoding
	}
	if c.Tag == "" && c.Attrs == nil {
		c.Attrs = h.Attrs // a copy that replaces the metadata keeps these
		c.Tag = h.Tag
	}
	// The plain object of a file it replaces goes after the copy (else a
	// remount would find it first under a name the globs do not match);
	// its ETag now, so that a late delete takes only it.
	var replaced string
	if srcKey != dstKey {
		p, perr := z.Store.Head(ctx, dstKey)
		switch {
		case perr == nil:
			replaced = p.ETag
		case !errors.Is(perr, s3store.ErrNotFound):
			return s3store.ObjectInfo{}, perr // before the copy: nothing changed
		}
	}
	dst := dstKey + z.codec.Ext()
	var info s3store.ObjectInfo
	if h.Size > copyPartsAbove {
		c.IfMatch, c.IfNoneMatch = "", false
		info, err = s3store.CopyParts(ctx, z.Store, obj, h.ETag, h.Size, dst, c, 1<<30)
	} else {
		info, err = z.Store.Copy(ctx, obj, h.ETag, dst, c)
	}
	if err != nil {
		var ok bool
		if info, ok = z.copied(ctx, dst, c.Tag); !ok {
			return info, err
		}
	}
	z.stored(dstKey, true)
	z.idx.Move(srcKey, dstKey, h.ETag, info.ETag)
	z.sized(dstKey, sized{info.ETag, h.Size, h.Encoding != nil && h.Encoding.Trailer})
	info.Key = dstKey
	if replaced != "" {
		if derr := z.deleteAt(ctx, dstKey, replaced); derr != nil {
			return info, &s3store.LeftObjectError{Object: dstKey, ETag: replaced, Err: derr}
		}
	}
	return info, nil
}

// deleteAt deletes the raw object obj while it is still at etag; gone,
// or another object since, is done.
func (z *Store) deleteAt(ctx context.Context, obj, etag string) error {
	_, err := s3store.DeleteAtETag(ctx, z.Store, obj, etag)
	return err
}

// copyPartsAbove: objects larger than this are copied by parts (S3's
// limit for one CopyObject; tests lower it).
var copyPartsAbove int64 = s3store.MaxCopySize

// special: the attributes say the object is not a regular file (symlink,
// FIFO, device node: s3fs's form, stored as it is).
func special(a *s3store.Attrs) bool {
	if a == nil {
		return false
	}
	t := a.Mode & syscall.S_IFMT
	return t != 0 && t != syscall.S_IFREG
}

// copied reports whether a copy that reported a failure (its answer lost)
// landed. Then the object of the other kind under the new name must still
// go.
func (z *Store) copied(ctx context.Context, key, tag string) (s3store.ObjectInfo, bool) {
	return s3store.CopyLanded(ctx, z.Store, key, tag)
}
