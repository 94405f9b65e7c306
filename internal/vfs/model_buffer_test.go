package vfs

// The bounded buffer in the model test: sequences whose spool bound
// (--max-buffer-size) is small enough to fill, in either buffer mode, and
// stretches of steps on a full spool disk (spool.Options.NoSpace). What
// the model holds the core to:
//   - blocking mode: write() waits (for a publication, or for a full disk
//     to have room again) and then every byte is the file's, as ever;
//   - non-blocking mode, log writers (O_APPEND): a write either lands
//     whole or is dropped whole, counted (Stats) exactly; a dropped write
//     also takes back the head of its line an earlier write left open (no
//     part of a line is kept), and the next thing written to the file is a
//     marker line that counts exactly the bytes and writes dropped since the
//     last one (unless --no-drop-marker), so the gap is marked where the
//     lines are missing; by the last unmount every gap is marked (only a
//     crash loses the count of drops not yet marked);
//   - other writers, and files unlinked while open, are never dropped;
//   - a full disk: writes behave as on a full buffer (they wait or are
//     dropped, never fail); other calls may fail with ENOSPC; nothing
//     acknowledged is lost.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// smallBuffer is the bound of the sequences that fill their buffer: a few
// writes' worth.
const smallBuffer = 700

// seedHash mixes a seed (splitmix64), so that the choices taken from it
// do not follow the bits ContentETags and Passthrough use.
func seedHash(seed int64) uint64 {
	z := uint64(seed) + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// bufferOptions: one sequence in four fills a small buffer; half of those
// are non-blocking, a quarter of which without drop markers. Taken from
// the seed, not the generator: each seed's operations stay as they were.
func bufferOptions(seed int64, opt *coreOptions) {
	h := seedHash(seed)
	if h%4 != 0 {
		return
	}
	opt.MaxBuffer = smallBuffer
	opt.NonBlocking = h>>8&1 == 1
	if opt.NonBlocking {
		opt.MaxBuffer = smallBuffer / 3 // drops, not only a wait now and then
	}
	opt.NoDropMarker = opt.NonBlocking && h>>9%4 == 0
}

func (o coreOptions) bufferString() []string {
	var s []string
	if o.MaxBuffer > 0 {
		s = append(s, fmt.Sprintf("max-buffer-size=%d", o.MaxBuffer))
	}
	if o.NonBlocking {
		s = append(s, "non-blocking")
	}
	if o.NoDropMarker {
		s = append(s, "no-drop-marker")
	}
	return s
}

// diskFullWindows: in one faulty sequence in three, one stretch of 16
// steps in five runs on a full spool disk. By the seed and the IDs, so
// that a seed's operations stay as they were.
func diskFullWindows(seed int64, faults bool, ops []op) {
	if !faults || seedHash(seed)>>16%3 != 0 {
		return
	}
	for i := range ops {
		h := uint32(ops[i].ID/16)*2654435761 ^ uint32(seed)
		h ^= h >> 16
		ops[i].DiskFull = h%5 == 0
	}
}

// dropTally is what a log lost to drops not marked yet.
type dropTally struct{ bytes, writes int64 }

// startStep sets the spool disk full or not for the step.
func (r *runner) startStep(o op) {
	r.c.diskFull.Store(o.DiskFull)
	r.diskFullStep = o.DiskFull
	if o.DiskFull {
		r.count("steps on a full spool disk")
		// An open file unlinked or renamed over now may not get its
		// published bytes into the spool for its open handles (unlink.go
		// keepReadableLocked): their reads of them may fail.
		for _, name := range []string{o.Name, o.To} {
			if f := r.m.files[name]; f != nil && f.handles > 0 && (o.Kind == opUnlink || o.Kind == opRename && name == o.To) {
				r.maybeUnkept[f] = true
			}
		}
	}
}

// unkept: f, unlinked or renamed over on a full disk while open, may not
// be readable through its handles (by design, as beyond --max-edit-size).
func (r *runner) unkept(f *mfile) bool {
	if f.name == "" && r.maybeUnkept[f] {
		r.count("reads of a file unlinked while open on a full disk that failed")
		return true
	}
	return false
}

// droppable: a write through mh may be dropped (non-blocking mode, a log
// writer of a file still linked).
func (r *runner) droppable(mh *mhandle) bool {
	return r.opt.NonBlocking && mh.append && mh.f.name != ""
}

// doWrite writes through h. On a full disk, a write that waits for room
// (any but a droppable one) gets it once the spool met the full disk: an
// administrator freed space.
func (r *runner) doWrite(ctx context.Context, mh *mhandle, h *Handle, data []byte, off int64) (int, error) {
	if !r.c.diskFull.Load() || r.droppable(mh) {
		return h.Write(ctx, data, off)
	}
	type result struct {
		m   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := h.Write(ctx, data, off)
		done <- result{m, err}
	}()
	for {
		select {
		case res := <-done:
			return res.m, res.err
		case <-time.After(time.Millisecond):
		}
		if r.c.sp.DiskFull() {
			r.c.diskFull.Store(false)
			r.count("writes that waited for a full spool disk")
			res := <-done
			return res.m, res.err
		}
	}
}

// dropWatch is what the core showed before a droppable write.
type dropWatch struct {
	size  int64
	stats StatsSnapshot
}

func (r *runner) watchDrops(h *Handle) dropWatch {
	return dropWatch{size: int64(h.Node().Attr().Size), stats: r.c.fs.Stats()}
}

// markerRE is a drop marker line (write.go's dropMarker).
var markerRE = regexp.MustCompile(`^\n?s3mount: dropped (\d+) bytes in (\d+) writes between \S+ and \S+: buffer full\n$`)

// marker checks that b is one marker line counting exactly what the
// model's file lost since its last marker, and clears that tally.
func (r *runner) marker(f *mfile, b []byte, where string) *failure {
	d := r.drops[f]
	if r.opt.NoDropMarker {
		return fail("drop-marker", "%s: %q has %q; the mount has --no-drop-marker", where, f.name, clip(b))
	}
	m := markerRE.FindSubmatch(b)
	if m == nil {
		return fail("drop-marker", "%s: %q has %q where a drop marker line was due (dropped since the last marker: %d bytes in %d writes)", where, f.name, clip(b), d.bytes, d.writes)
	}
	nb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	nw, _ := strconv.ParseInt(string(m[2]), 10, 64)
	if nb != d.bytes || nw != d.writes {
		return fail("drop-marker", "%s: the marker in %q counts %d bytes in %d writes; %d bytes in %d writes were dropped there", where, f.name, nb, nw, d.bytes, d.writes)
	}
	delete(r.drops, f)
	r.markersSeen[string(bytes.TrimSpace(b))] = true
	r.count("drop markers checked")
	return nil
}

// wroteDroppable records a droppable write that returned success: the
// core's bytes since w say whether it landed (after a marker, maybe) or was
// dropped (after a marker, or taking back the head of an open line), and
// the drop counters must say the same.
func (r *runner) wroteDroppable(w dropWatch, h *Handle, mh *mhandle, data []byte) *failure {
	f := mh.f
	size := int64(h.Node().Attr().Size)
	st := r.c.fs.Stats()
	dBytes, dWrites := st.DroppedBytes-w.stats.DroppedBytes, st.DroppedWrites-w.stats.DroppedWrites
	var added []byte
	if size > w.size {
		b, err := r.coreRange(h.Node(), w.size, size)
		if err != nil {
			return fail("read", "reading what a write added to %q: %v", f.name, err)
		}
		added = b
	}
	landed := bytes.HasSuffix(added, data)
	if landed {
		added = added[:len(added)-len(data)]
	}
	cut := max(w.size-size, 0)
	switch {
	case dWrites == 0 && !landed:
		return fail("lost", "a write of %d bytes to %q returned success, is not in the file (size %d -> %d) and was not counted as dropped", len(data), f.name, w.size, size)
	case dWrites > 1 || dWrites == 1 && landed:
		return fail("drops", "a write to %q counted %d dropped writes (landed: %v)", f.name, dWrites, landed)
	case dWrites == 0 && dBytes != 0:
		return fail("drops", "a write to %q that landed counted %d dropped bytes", f.name, dBytes)
	case dWrites == 1 && dBytes != int64(len(data))+cut:
		return fail("drops", "a dropped write of %d bytes to %q, which took back %d bytes of its line, counted %d dropped bytes", len(data), f.name, cut, dBytes)
	}
	if cut > 0 {
		if f.lm != nil {
			return fail("drops", "a drop took back %d bytes of %q, whose lines are whole (line mode)", cut, f.name)
		}
		open := int64(len(f.data) - (bytes.LastIndexByte(f.data, '\n') + 1))
		if cut > open {
			return fail("drops", "a dropped write to %q took back %d bytes; only %d bytes of its last line were open", f.name, cut, open)
		}
		f.truncate(len(f.data) - int(cut))
		r.count("drops that took back the head of a line")
	}
	if r.opt.NoDropMarker {
		if len(added) > 0 {
			return r.marker(f, added, "a write")
		}
	} else if len(added) > 0 {
		if ff := r.marker(f, added, "a write"); ff != nil {
			return ff
		}
		r.addOurs(f, added)
	} else if landed && r.drops[f].writes > 0 {
		return fail("drop-marker", "%d bytes of %q's lines were dropped in %d writes, and a later write landed with no marker line before it", r.drops[f].bytes, f.name, r.drops[f].writes)
	}
	if landed {
		r.addOurs(f, data)
		return nil
	}
	d := r.drops[f]
	d.bytes += dBytes
	d.writes++
	if r.opt.NoDropMarker {
		d = dropTally{} // counted only (checked above)
	}
	if d.writes > 0 {
		r.drops[f] = d
	}
	r.count("log writes dropped (non-blocking mode)")
	return nil
}

// addOurs appends bytes written here to the model's file.
func (r *runner) addOurs(f *mfile, b []byte) {
	if f.lm != nil {
		f.lm.ours = append(f.lm.ours, splitLines(b)...)
		return
	}
	f.appendData(b)
}

// coreRange reads [from, to) of n through a new reader.
func (r *runner) coreRange(n *Node, from, to int64) ([]byte, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	h, err := r.c.fs.Open(ctx, n, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer h.Release()
	return readRange(ctx, h, from, to)
}

// absorbMarkers takes in the markers written since the last step for
// drops no write carried (the last writer's close, a publication): they
// end the file.
func (r *runner) absorbMarkers() *failure {
	for _, name := range r.m.names() {
		f := r.m.files[name]
		if r.drops[f].writes == 0 {
			continue
		}
		ctx, cancel := r.ctx()
		n, err := r.c.fs.Lookup(ctx, r.c.fs.Root(), name)
		cancel()
		if err != nil {
			return fail("read", "lookup %q: %v; the file exists", name, err)
		}
		size := int64(n.Attr().Size)
		from := int64(len(f.data))
		if f.lm != nil {
			from = max(size-4<<10, 0)
		}
		if size <= from {
			continue
		}
		b, err := r.coreRange(n, from, size)
		if Errno(err) == syscall.ESTALE {
			// A publication the drop set off (the buffer full: at once,
			// in the background) replaced the object under this new
			// reader: allowed for a pinned read. The marker is looked
			// for again after the next step, or in S3 at the unmount.
			r.count("reads of a file's end that met a publication (ESTALE)")
			continue
		}
		if err != nil {
			return fail("read", "reading the end of %q: %v", name, err)
		}
		if ff := r.absorbEnd(f, b, "the file's end"); ff != nil {
			return ff
		}
	}
	return nil
}

// absorbEnd takes in a marker that end (what follows the model's bytes;
// the file's tail in line mode) ends with.
func (r *runner) absorbEnd(f *mfile, end []byte, where string) *failure {
	if f.lm == nil {
		if ff := r.marker(f, end, where); ff != nil {
			return ff
		}
		f.appendData(end)
		return nil
	}
	ls := splitLines(end)
	if len(ls) == 0 || !markerRE.Match(ls[len(ls)-1]) {
		return nil // not there yet
	}
	last := ls[len(ls)-1]
	if n := len(f.lm.ours); n > 0 && bytes.Equal(f.lm.ours[n-1], last) || r.markersSeen[string(bytes.TrimSpace(last))] {
		// Taken in already (also one the file ended with before it
		// went into line mode: another host appended after it).
		return nil
	}
	if ff := r.marker(f, last, where); ff != nil {
		return ff
	}
	f.lm.ours = append(f.lm.ours, last)
	return nil
}

// absorbS3 takes in the markers S3 holds after a clean unmount, and checks
// that every gap was marked by then.
func (r *runner) absorbS3(f *mfile, s []byte) *failure {
	if f == nil || r.drops[f].writes == 0 {
		return nil
	}
	end := s
	if f.lm == nil {
		if !bytes.HasPrefix(s, f.data) || len(s) == len(f.data) {
			return fail("drop-marker", "after a clean unmount, %d bytes of %q dropped in %d writes are not marked (S3 holds %d bytes, the model %d)", r.drops[f].bytes, f.name, r.drops[f].writes, len(s), len(f.data))
		}
		end = s[len(f.data):]
	}
	if ff := r.absorbEnd(f, end, "S3 after a clean unmount"); ff != nil {
		return ff
	}
	if d := r.drops[f]; d.writes > 0 {
		return fail("drop-marker", "after a clean unmount, %d bytes of %q dropped in %d writes are not marked", d.bytes, f.name, d.writes)
	}
	return nil
}

// dropsLost: a crash loses the count of drops not marked yet (the log
// line of their burst is all that tells of them).
func (r *runner) dropsLost() {
	if len(r.drops) > 0 {
		r.count("drop counts lost to a crash")
	}
	clear(r.drops)
}

// bufferCases are modelCases() of the bounded buffer and the full disk.
func bufferCases() []modelCase {
	var out []modelCase
	add := func(name string, opt coreOptions, ops []op) { out = append(out, modelCase{name, opt, ops}) }
	// TestModel -model.random seed 325480793 (a harness gap): the marker
	// a clean unmount wrote for a drop ended the file; another host then
	// appended (the model's line mode) and a later drop was checked
	// against that old marker, taken for its own.
	add("a marker taken in before another host's append is not taken for a later drop's", coreOptions{Express: false, AllowDelete: true, AllowOverwrite: true, RealTimers: false, Compress: "", ContentETags: false, Passthrough: true, PosixMetadata: false, MaxBuffer: 233, NonBlocking: true, NoDropMarker: false},
		[]op{
			op{ID: 305, Kind: 11, Slot: 0, Name: "d", To: "", Flags: 0, Where: 0, Frac: 0, Len: 0, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 3, Refuse: false, DiskFull: false},
			op{ID: 306, Kind: 7, Slot: 0, Name: "", To: "", Flags: 0, Where: 0, Frac: 0, Len: 0, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 0, Refuse: false, DiskFull: false},
			op{ID: 307, Kind: 9, Slot: 0, Name: "b", To: "", Flags: 0, Where: 0, Frac: 0, Len: 7, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 0, Refuse: false, DiskFull: false},
			op{ID: 335, Kind: 0, Slot: 5, Name: "d", To: "", Flags: 1025, Where: 0, Frac: 0, Len: 0, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 0, Refuse: true, DiskFull: false},
			op{ID: 337, Kind: 0, Slot: 3, Name: "b", To: "", Flags: 1026, Where: 0, Frac: 0, Len: 0, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 0, Refuse: true, DiskFull: false},
			op{ID: 344, Kind: 2, Slot: 2, Name: "", To: "", Flags: 0, Where: 0, Frac: 13, Len: 93, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 0, Refuse: true, DiskFull: false},
			op{ID: 345, Kind: 2, Slot: 3, Name: "", To: "", Flags: 0, Where: 0, Frac: 0, Len: 8, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 0, Refuse: true, DiskFull: false},
			op{ID: 346, Kind: 5, Slot: 0, Name: "b", To: "d", Flags: 0, Where: 0, Frac: 0, Len: 0, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 0, Refuse: true, DiskFull: false},
			op{ID: 355, Kind: 2, Slot: 3, Name: "", To: "", Flags: 0, Where: 0, Frac: 0, Len: 80, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 0, Refuse: true, DiskFull: false},
			op{ID: 360, Kind: 13, Slot: 0, Name: "", To: "", Flags: 0, Where: 0, Frac: 0, Len: 0, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 0, Refuse: true, DiskFull: false},
			op{ID: 363, Kind: 0, Slot: 1, Name: "c", To: "", Flags: 1089, Where: 0, Frac: 0, Len: 0, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 0, Refuse: true, DiskFull: false},
			op{ID: 367, Kind: 0, Slot: 2, Name: "b", To: "", Flags: 66, Where: 0, Frac: 0, Len: 0, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 0, Refuse: true, DiskFull: false},
			op{ID: 377, Kind: 2, Slot: 2, Name: "", To: "", Flags: 0, Where: 1, Frac: 16, Len: 51, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 0, Refuse: true, DiskFull: false},
			op{ID: 378, Kind: 11, Slot: 0, Name: "d", To: "", Flags: 0, Where: 0, Frac: 0, Len: 0, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 2, Refuse: true, DiskFull: false},
			op{ID: 380, Kind: 0, Slot: 3, Name: "d", To: "", Flags: 1090, Where: 0, Frac: 0, Len: 0, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 0, Refuse: true, DiskFull: false},
			op{ID: 382, Kind: 4, Slot: 0, Name: "c", To: "", Flags: 0, Where: 0, Frac: 16, Len: 36, Partial: false, ByName: true, Big: false, Faults: 0, Nth: 0, Refuse: true, DiskFull: false},
			op{ID: 384, Kind: 9, Slot: 0, Name: "d", To: "", Flags: 0, Where: 0, Frac: 0, Len: 2, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 0, Refuse: false, DiskFull: false},
			op{ID: 385, Kind: 2, Slot: 2, Name: "", To: "", Flags: 0, Where: 0, Frac: 4, Len: 60, Partial: false, ByName: false, Big: false, Faults: 0, Nth: 0, Refuse: false, DiskFull: false},
			op{ID: 386, Kind: 2, Slot: 3, Name: "", To: "", Flags: 0, Where: 0, Frac: 0, Len: 53, Partial: true, ByName: false, Big: false, Faults: 0, Nth: 0, Refuse: false, DiskFull: false},
		})
	small := coreOptions{AllowDelete: true, AllowOverwrite: true, MaxBuffer: smallBuffer}
	add("a write after an open failed on a full disk does not wait once the disk has room", small, []op{
		// As found (-model.random): the open met ENOSPC creating its spool
		// file, which marked the disk full; once it had room again (freed
		// by another program), nothing cleared that mark, as only a
		// release or a reclaim did, and with nothing to publish the next
		// write waited for good.
		{ID: 11, Kind: opRemotePut, Name: "b", Len: 1},
		{ID: 16, Kind: opOpen, Slot: 4, Name: "b", Flags: os.O_WRONLY | os.O_APPEND, DiskFull: true},
		{ID: 33, Kind: opOpen, Slot: 1, Name: "a", Flags: os.O_WRONLY | os.O_CREATE},
		{ID: 34, Kind: opWrite, Slot: 1, Where: atInside, Frac: 4, Len: 30},
	})
	add("a write that rewrites bytes of an edit bigger than the buffer writes them", small, []op{
		// As found (-model.random seed 848300483): the edit of a 5 MiB
		// object holds more unpublished bytes than the whole buffer; a
		// write inside it adds none, but a reservation of 0 bytes did not
		// fit an over-full buffer, and its need of 0 ended the write
		// with 0 bytes written and no error.
		{ID: 21, Kind: opRemotePut, Name: "c", Len: 6, Big: true},
		{ID: 32, Kind: opOpen, Slot: 2, Name: "c", Flags: os.O_RDWR | os.O_CREATE},
		{ID: 33, Kind: opWrite, Slot: 2, Where: atInside, Frac: 12, Len: 102},
	})
	add("an edit whose fetch of published bytes failed on a full disk does not read zeros", coreOptions{AllowDelete: true, AllowOverwrite: true}, []op{
		// As found (-model.random seed 6454685): the writes waited for the
		// full disk, which published the file and freed its published
		// bytes (LocalStart 60); the truncate's edit set LocalStart to 0,
		// then its fetch of those bytes met ENOSPC and left it so: reads
		// (and any later edit, published whole) took the data file's
		// holes for the file's first bytes.
		{ID: 36, Kind: opOpen, Slot: 0, Name: "a", Flags: os.O_WRONLY | os.O_CREATE | os.O_EXCL},
		{ID: 44, Kind: opOpen, Slot: 2, Name: "a", Flags: os.O_WRONLY},
		{ID: 48, Kind: opWrite, Slot: 2, Where: atInside, Frac: 15, Len: 60, DiskFull: true},
		{ID: 49, Kind: opWrite, Slot: 2, Where: atBeyond, Frac: 4, Len: 96, DiskFull: true},
		{ID: 50, Kind: opTruncate, Slot: 2, Frac: 9, Len: 37, DiskFull: true},
	})
	add("a write that must fetch published bytes on a full disk waits for room", coreOptions{AllowDelete: true, AllowOverwrite: true, ContentETags: true}, []op{
		// As found (-model.random seed 86324010): the write inside
		// published bytes turned the file into a whole edit, whose fetch
		// of them met the full disk: write() failed with ENOSPC instead
		// of waiting for room as on a full buffer.
		{ID: 318, Kind: opOpen, Slot: 0, Name: "c", Flags: os.O_WRONLY | os.O_CREATE},
		{ID: 321, Kind: opOpen, Slot: 5, Name: "c", Flags: os.O_RDONLY | os.O_CREATE | os.O_APPEND, Refuse: true},
		{ID: 322, Kind: opWrite, Slot: 0, Where: atInside, Frac: 8, Len: 64, Refuse: true},
		{ID: 323, Kind: opTick, Faults: 1, Refuse: true},
		{ID: 347, Kind: opRename, Name: "c", To: "c", Refuse: true, DiskFull: true},
		{ID: 348, Kind: opWrite, Slot: 0, Where: atInside, Frac: 15, Len: 102, Refuse: true, DiskFull: true},
	})
	add("a write waiting for room held by unfinished lines of open logs goes over the bound", coreOptions{Express: true, AllowDelete: true, AllowOverwrite: true, MaxBuffer: smallBuffer, NonBlocking: true}, []op{
		{ID: 180, Kind: opOpen, Slot: 3, Name: "b", Flags: 1088},
		{ID: 181, Kind: opClose, Slot: 3},
		{ID: 182, Kind: opOpen, Slot: 5, Name: "b", Flags: 1025},
		{ID: 183, Kind: opWrite, Slot: 5, Len: 4},
		{ID: 185, Kind: opOpen, Slot: 1, Name: "b", Flags: 66},
		{ID: 186, Kind: opRename, Name: "b", To: "c"},
		{ID: 187, Kind: opOpen, Slot: 2, Name: "b", Flags: 1090},
		{ID: 188, Kind: opOpen, Slot: 3, Name: "c", Flags: 2},
		{ID: 189, Kind: opClose, Slot: 5, Faults: 3},
		{ID: 190, Kind: opWrite, Slot: 3, Where: 1, Frac: 16, Len: 72},
		{ID: 203, Kind: opWrite, Slot: 1, Where: 1, Frac: 5, Len: 19},
		{ID: 204, Kind: opWrite, Slot: 3, Where: 2, Frac: 16, Len: 31},
		{ID: 205, Kind: opWrite, Slot: 3, Frac: 15, Len: 38},
		{ID: 206, Kind: opUnlink, Name: "d"},
		{ID: 207, Kind: opTick},
		{ID: 208, Kind: opRaceTick, Name: "a", Nth: 3},
		{ID: 209, Kind: opOpen, Name: "c", Flags: 66},
		{ID: 210, Kind: opOpen, Slot: 2, Name: "b", Flags: 64},
		{ID: 211, Kind: opWrite, Where: 2, Frac: 8, Len: 9},
		{ID: 212, Kind: opOpen, Slot: 4, Name: "a", Flags: 2},
		{ID: 213, Kind: opWrite, Where: 2, Frac: 16, Len: 67, Partial: true},
	})
	add("a write into an edit that fills the buffer goes over the bound", coreOptions{AllowDelete: true, AllowOverwrite: true, MaxBuffer: smallBuffer, NonBlocking: true}, []op{
		{ID: 167, Kind: opCrash},
		{ID: 168, Kind: opOpen, Slot: 1, Name: "c", Flags: 65},
		{ID: 169, Kind: opWrite, Slot: 1, Where: 1, Frac: 7, Len: 14},
		{ID: 170, Kind: opWrite, Slot: 1, Where: 1, Frac: 13, Len: 109, Partial: true},
		{ID: 173, Kind: opWrite, Slot: 1, Where: 1, Frac: 15, Len: 37},
		{ID: 174, Kind: opRaceTick, Name: "c", Nth: 3},
		{ID: 175, Kind: opWrite, Slot: 1, Frac: 2, Len: 70},
		{ID: 176, Kind: opTick},
		{ID: 177, Kind: opRaceTick, Name: "c", Nth: 3},
		{ID: 178, Kind: opWrite, Slot: 1, Where: 2, Frac: 13, Len: 65, Partial: true},
		{ID: 183, Kind: opWrite, Slot: 1, Frac: 1, Len: 66},
		{ID: 184, Kind: opClose, Slot: 4},
		{ID: 185, Kind: opTick},
		{ID: 186, Kind: opWrite, Slot: 1, Where: 2, Frac: 4, Len: 17},
		{ID: 189, Kind: opWrite, Slot: 1, Where: 1, Frac: 15, Len: 68},
	})
	add("a write waiting for room held by an edit a log writer has open goes over the bound", coreOptions{AllowDelete: true, AllowOverwrite: true, ContentETags: true, Passthrough: true, MaxBuffer: smallBuffer, NonBlocking: true, NoDropMarker: true}, []op{
		{ID: 29, Kind: opTick},
		{ID: 30, Kind: opClose, Slot: 4},
		{ID: 31, Kind: opTick},
		{ID: 32, Kind: opWrite, Slot: 1, Len: 39},
		{ID: 33, Kind: opWrite, Slot: 1, Len: 57},
		{ID: 34, Kind: opWrite, Slot: 1, Len: 17},
		{ID: 35, Kind: opRemotePut, Name: "c", Len: 4},
		{ID: 43, Kind: opRestart},
		{ID: 44, Kind: opOpen, Name: "c", Flags: 66},
		{ID: 45, Kind: opRemoteDelete, Name: "a"},
		{ID: 46, Kind: opOpen, Slot: 1, Name: "c", Flags: 66},
		{ID: 47, Kind: opTick},
		{ID: 48, Kind: opWrite, Slot: 1, Where: 1, Frac: 15, Len: 81, Partial: true},
		{ID: 49, Kind: opWrite, Slot: 1, Where: 2, Frac: 12, Len: 66},
		{ID: 57, Kind: opWrite, Slot: 1, Where: 2, Frac: 10, Len: 21, Partial: true},
		{ID: 58, Kind: opWrite, Slot: 1, Frac: 3, Len: 51},
		{ID: 59, Kind: opWrite, Slot: 1, Where: 1, Frac: 16, Len: 24},
		{ID: 60, Kind: opWrite, Slot: 1, Frac: 10, Len: 54},
		{ID: 61, Kind: opOpen, Name: "c", Flags: 1090},
		{ID: 62, Kind: opFsync, Slot: 3},
		{ID: 63, Kind: opWrite, Slot: 1, Where: 1, Frac: 8, Len: 78},
		{ID: 92, Kind: opFsync, Slot: 5},
		{ID: 93, Kind: opClose, Slot: 2},
		{ID: 94, Kind: opTick},
		{ID: 95, Kind: opCrash},
		{ID: 96, Kind: opRemoteAppend, Name: "a", Len: 2},
		{ID: 97, Kind: opUnlink, Name: "b"},
		{ID: 98, Kind: opTruncate, Name: "a", Frac: 8, ByName: true},
		{ID: 99, Kind: opOpen, Slot: 2, Name: "d", Flags: 65},
		{ID: 100, Kind: opOpen, Slot: 4, Name: "b", Flags: 1026},
		{ID: 101, Kind: opWrite, Slot: 4, Len: 88},
		{ID: 102, Kind: opOpen, Slot: 1, Name: "c", Flags: 1089},
		{ID: 103, Kind: opRemoteAppend, Name: "a", Len: 3},
		{ID: 104, Kind: opRename, Name: "d", To: "d"},
		{ID: 105, Kind: opWrite, Slot: 2, Where: 2, Frac: 10, Len: 7},
		{ID: 106, Kind: opFsync, Slot: 1},
		{ID: 107, Kind: opWrite, Slot: 2, Frac: 16, Len: 55},
		{ID: 108, Kind: opTick},
		{ID: 109, Kind: opOpen, Slot: 3, Name: "c", Flags: 2},
		{ID: 110, Kind: opWrite, Slot: 4, Len: 82},
		{ID: 111, Kind: opWrite, Slot: 3, Where: 1, Frac: 13, Len: 27},
		{ID: 112, Kind: opWrite, Slot: 2, Frac: 9, Len: 81},
	})
	add("a read-write open beside a reader of the cache file, after one that met a full disk, reaches the reader", coreOptions{AllowDelete: true, AllowOverwrite: true, ContentETags: true, Passthrough: true, MaxBuffer: 700}, []op{
		// As found (TestModel -model.seed=337268408): the read-write open
		// on the full disk moved the cache file the reader reads into
		// the spool, met ENOSPC writing the journal and removed it: the
		// cache had forgotten it, so the next open, with room, could not
		// take it, and the reader never saw the writes. A failed take
		// now gives the file back to the cache.
		{ID: 347, Kind: opRemotePut, Name: "b", Len: 1, Refuse: true, DiskFull: true},
		{ID: 363, Kind: opOpen, Slot: 4, Name: "b", Flags: os.O_RDONLY, Refuse: true, DiskFull: true},
		{ID: 365, Kind: opOpen, Slot: 2, Name: "b", Flags: os.O_RDWR | os.O_APPEND, Refuse: true, DiskFull: true},
		{ID: 376, Kind: opOpen, Slot: 3, Name: "b", Flags: os.O_RDWR | os.O_APPEND, Refuse: true},
		{ID: 388, Kind: opWrite, Slot: 3, Len: 11},
	})
	return out
}
