package vfs

// The model and crash-point tests with --compress (coreOptions.Compress):
// the core runs over the compressed view (internal/zstore) and the runner
// reads and writes S3 as another host would — decompressing the objects
// s3mount wrote (and checking each is a valid stream whose mark, or on a
// directory bucket whose trailer, tells its uncompressed size), and
// writing compressed objects as an s3mount host with the same options
// does. Files whose names start with "d" are not compressed: renames
// between the two kinds are exercised too.

import (
	"bytes"
	stdgzip "compress/gzip"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
)

// modelCompressGlobs: every name but those starting with "d".
var modelCompressGlobs = []string{"[^d]*"} // [^d] negates in the shell's syntax and path.Match's alike

func compressedName(name string) bool {
	for _, g := range modelCompressGlobs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// zkey is name's compressed object's key.
func (r *runner) zkey(name string) string { return name + r.opt.Compress.Ext() }

// marked: S3 holds name's compressed object (with s3mount's mark).
func (r *runner) marked(name string) (s3store.ObjectInfo, bool) {
	info, ok := r.mem.Info(r.zkey(name))
	return info, ok && info.Encoding != nil
}

// callOn: a store call on name's object, either form.
func (r *runner) callOn(c memstore.Call, name string) bool {
	if c.Key == name || c.Src == name {
		return true
	}
	return r.opt.Compress != "" && (c.Key == r.zkey(name) || c.Src == r.zkey(name))
}

// keys: the files S3 holds (a compressed object counts as its file).
// A file held both plain and compressed is a failure: a reader cannot
// tell which is the file.
func (r *runner) keys() ([]string, *failure) {
	raw := r.mem.Keys()
	if r.opt.Compress == "" {
		return raw, nil
	}
	ext := r.opt.Compress.Ext()
	seen := map[string]bool{}
	var out []string
	for _, k := range raw {
		name := k
		if strings.HasSuffix(k, ext) {
			if _, ok := r.marked(strings.TrimSuffix(k, ext)); ok {
				name = strings.TrimSuffix(k, ext)
			} else if _, _, ok := r.mem.Object(k); !ok {
				continue // deleted since the listing (a late delete)
			}
		}
		if seen[name] && !r.formsDue(name) {
			_, _, plain := r.mem.Object(name)
			_, _, comp := r.mem.Object(r.zkey(name))
			if plain && comp { // (not one deleted since the listing)
				return nil, fail("twice", "S3 holds %q both plain and compressed", name)
			}
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	return out, nil
}

// formsDue: a spool file of name has a look at the name's other form or
// a give-up of its object due (journal FormCheck, Yielding;
// publish.settleForms), left by a store failure after its first write, or
// that first write's outcome is unknown (its answer lost, and the HEAD
// that would tell failed: the look follows once it is settled): until its
// job finishes it (the publication failed, so the job tries again), S3 may
// hold the name in both forms. So may a file renamed over a file of the
// name stored in the other form while that object's delete is due.
func (r *runner) formsDue(name string) bool {
	paths, _ := filepath.Glob(filepath.Join(r.c.fs.sp.Dir(), "*.json"))
	for _, p := range paths {
		j, err := spool.ReadJournal(p)
		if err == nil && j.Key == name && !j.Unlinked && (j.FormCheck != "" || j.Yielding != nil || (!j.Exists && j.PendingTag != "")) {
			return true
		}
		if r.leftForm(name) != "" {
			return true // a renamed file replaced the name's other form, its delete due
		}
	}
	return false
}

// leftForm is the raw key of name's object in the other form that a
// file renamed over it replaced and could not delete yet (a journal's
// LeftKeys), or "".
func (r *runner) leftForm(name string) string {
	paths, _ := filepath.Glob(filepath.Join(r.c.fs.sp.Dir(), "*.json"))
	for _, p := range paths {
		j, err := spool.ReadJournal(p)
		if err != nil {
			continue
		}
		for _, k := range j.LeftKeys {
			if k.Key == name && k.Object != "" {
				return k.Object
			}
		}
	}
	return ""
}

// otherFormLeft: a file renamed over name replaced its object in the
// other form, whose delete is still due. Another host looking name up
// may find that object (it looks in the form its globs give first) and
// write to it: it is then theirs, and S3 keeps the name in both forms
// (README; TestRenameOverTheOtherFormJoinedByAnotherHost).
func (r *runner) otherFormLeft(name string) bool {
	return r.opt.Compress != "" && r.leftForm(name) != ""
}

// ownObject is name's bytes in the form this mount stores it in: while
// the other form's object is a leftover still to delete, not that one
// (which another host would read first, until the delete).
func (r *runner) ownObject(name string) ([]byte, bool) {
	if r.opt.Compress != "" && r.leftForm(name) == r.zkey(name) {
		b, _, ok := r.mem.Object(name)
		return b, ok
	}
	return r.object(name)
}

// zobject is name's bytes as another host reads them: its compressed
// object decompressed, else its plain object.
func (r *runner) zobject(name string) ([]byte, bool) {
	info, ok := r.marked(name)
	if !ok {
		b, _, ok := r.mem.Object(name)
		return b, ok
	}
	data, etag, _ := r.mem.Object(r.zkey(name))
	if c, ok := r.objCache[name]; ok && c.etag == etag {
		return c.data, true
	}
	raw, err := r.unpack(data, info)
	if err != nil {
		if r.zerr == nil {
			r.zerr = fail("compressed", "%s: %v", r.zkey(name), err)
		}
		return nil, false
	}
	r.objCache[name] = cachedObject{etag, raw}
	return raw, true
}

// unpack decompresses a compressed object with decoders other than the
// core's (Go's compress/gzip, multistream; zstd's DecodeAll) and checks
// that its mark or trailer says its uncompressed size.
func (r *runner) unpack(data []byte, info s3store.ObjectInfo) ([]byte, error) {
	c := r.opt.Compress
	if info.Encoding.Name != string(c) {
		return nil, fmt.Errorf("marked %q, the mount writes %s", info.Encoding.Name, c)
	}
	var raw []byte
	var err error
	if c == compress.Zstd {
		var d *zstd.Decoder
		if d, err = zstd.NewReader(nil); err == nil {
			raw, err = d.DecodeAll(data, nil)
			d.Close()
		}
		if err == nil && len(data) == 0 {
			err = fmt.Errorf("empty object")
		}
	} else {
		var zr *stdgzip.Reader
		if zr, err = stdgzip.NewReader(bytes.NewReader(data)); err == nil {
			raw, err = io.ReadAll(zr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("not a valid %s stream (%d bytes): %v", c, len(data), err)
	}
	size := info.Encoding.Size
	if info.Encoding.Trailer {
		n := c.TrailerSize()
		t, ok := c.ParseTrailer(data[max(0, len(data)-n):])
		if !ok {
			return nil, fmt.Errorf("marked to end with a trailer, its last %d bytes are none", n)
		}
		size = t.Raw
	} else if r.opt.Express {
		return nil, fmt.Errorf("on a directory bucket the mark must say the size is in the trailer (appends cannot change it): %+v", *info.Encoding)
	}
	if size != int64(len(raw)) {
		return nil, fmt.Errorf("its mark or trailer says %d bytes, it holds %d", size, len(raw))
	}
	return raw, nil
}

// zbytes are data's members as a publication of [at.Raw, at.Raw+len)
// starting at at.Comp writes them (with its trailer on a directory
// bucket).
func (r *runner) zbytes(data []byte, at compress.Boundary) []byte {
	var b bytes.Buffer
	if _, _, err := r.opt.Compress.Encode(&b, bytes.NewReader(data), 0, int64(len(data))); err != nil {
		panic(err)
	}
	if r.opt.Express {
		b.Write(r.opt.Compress.AppendTrailer(nil, compress.Trailer{Raw: at.Raw + int64(len(data)), Pub: at}))
	}
	return b.Bytes()
}

func (r *runner) mark(size int64) *s3store.Encoding {
	if r.opt.Express {
		return &s3store.Encoding{Name: string(r.opt.Compress), Trailer: true}
	}
	return &s3store.Encoding{Name: string(r.opt.Compress), Size: size}
}

// remoteCompressed: another s3mount host would write name compressed (its
// object is, or there is none and the name matches).
func (r *runner) remoteCompressed(name string) bool {
	if r.opt.Compress == "" {
		return false
	}
	if _, ok := r.marked(name); ok {
		return true
	}
	_, plain := r.mem.Info(name)
	return !plain && compressedName(name)
}

// putRemote: another host replaces (or creates) name with data.
func (r *runner) putRemote(name string, data []byte) {
	if !r.remoteCompressed(name) {
		r.mem.PutObject(name, data)
		return
	}
	r.mem.PutWith(r.zkey(name), r.zbytes(data, compress.Boundary{}), s3store.Cond{Encoding: r.mark(int64(len(data)))})
}

// appendRemote: another host appends data to name (creating it).
func (r *runner) appendRemote(name string, data []byte) {
	if !r.remoteCompressed(name) {
		r.mem.AppendObject(name, data)
		return
	}
	// Read, then write while the object is still what was read: with
	// real timers the core publishes between two steps' calls too, and a
	// write on a stale read would mark the wrong size (or, a re-put,
	// drop the core's publication).
	for try := 0; ; try++ {
		old, ok := r.zobject(name)
		if !ok {
			r.putRemote(name, data)
			return
		}
		cur, etag, _ := r.mem.Object(r.zkey(name))
		if _, still := r.marked(name); !still {
			r.appendRemote(name, data) // no longer compressed: as it is now
			return
		}
		if c, ok := r.objCache[name]; !ok || c.etag != etag {
			continue // old is of another version: read again
		}
		add := r.zbytes(data, compress.Boundary{Comp: int64(len(cur)), Raw: int64(len(old))})
		var done bool
		if r.opt.Express {
			_, done = r.mem.AppendObjectIf(r.zkey(name), add, etag) // keeps the mark
		} else {
			_, done = r.mem.PutWithIf(r.zkey(name), append(cur, add...), s3store.Cond{Encoding: r.mark(int64(len(old) + len(data)))}, etag)
		}
		if done {
			return
		}
		if try == 1000 {
			panic("harness: another host's append to " + name + " lost 1000 races with the core")
		}
	}
}

// deleteRemote: another host deletes name.
func (r *runner) deleteRemote(name string) {
	r.mem.DeleteObject(name)
	if r.opt.Compress != "" {
		r.mem.DeleteObject(r.zkey(name))
	}
}

// TestModelCompressed is the model test with --compress: gzip and zstd,
// general-purpose and directory buckets, every operation of the model
// (appends, edits, renames between compressed and plain names, another
// host's writes, crashes, store faults).
//
//	go test -race -run TestModelCompressed ./internal/vfs/ [-model.steps=N] [-model.seed=N] [-model.random]
func TestModelCompressed(t *testing.T) {
	runModelSeeds(t, "compressed model test", "-run TestModelCompressed -model.seed=N", modelBudget(3000, 3), compressedModelRun)
}

// compressedModelRun is modelRun's sequence of seed with --compress: the
// codec alternates by seed, and every other sequence is on a directory
// bucket. Remote objects past the compose threshold are left out: once
// compressed they are far below it, and compressing 5 MiB on each (under
// the race detector, on a loaded host) would make steps slow, not test
// more.
func compressedModelRun(seed int64) (coreOptions, []op) {
	opt, ops := compressedRun(seed, modelRun)
	opt.Passthrough = (seed>>3)&1 == 0
	return opt, ops
}

// compressedRun is gen's sequence of seed over the compressed view: no
// remote object past the compose threshold, the codec, Express and
// content ETags chosen from the seed.
func compressedRun(seed int64, gen func(int64) (coreOptions, []op)) (coreOptions, []op) {
	opt, ops := gen(seed)
	for i := range ops {
		ops[i].Big = false
	}
	opt.Compress = compress.Gzip
	if seed%2 == 1 {
		opt.Compress = compress.Zstd
	}
	opt.Express = seed%4 < 2 && !avoiding("express")
	opt.ContentETags = (seed>>2)&1 == 0 && !opt.Express
	return opt, ops
}
