package spool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
)

// smallDisk mounts a tmpfs of size bytes for a spool to fill.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs (the tests run as root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill appends chunks to f until the disk refuses one; it returns the
// file's size then.
func fill(t *testing.T, f *File, chunk int) int64 {
	t.Helper()
	p := make([]byte, chunk)
	for i := range p {
		p[i] = 'x'
	}
	for i := 0; ; i++ {
		off := f.Journal().Size
		f.sp.Force(f.Growth(off, int64(len(p))))
		if _, err := f.WriteAt(p, off); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("write: %v", err)
			}
			return off
		}
		if i > 1<<20 {
			t.Fatal("the disk never filled")
		}
	}
}

// A journal write that used the reserve on a full disk leaves room that
// data must not take: the next journal (the one that lets published bytes
// be punched) needs it. Otherwise a writer waiting for space refills the
// disk and nothing can free it again (a blocking writer hung for good).
func TestReserveRoomIsForJournalsOnly(t *testing.T) {
	dir := smallDisk(t, "1m")
	s, _ := open(t, dir, Options{MaxBuffer: 1 << 30})
	if s.reserveState() != reserveHeld {
		t.Fatalf("reserve not made on a fresh disk: state %d", s.reserveState())
	}
	f, err := s.Create(Journal{Key: "full.log", Kind: KindAppend})
	if err != nil {
		t.Fatal(err)
	}
	size := fill(t, f, 4096)
	if size == 0 {
		t.Fatal("nothing fitted")
	}
	// S3 took every byte: recording that needs a journal, and the disk
	// is full, so the reserve goes; the bytes released make it again.
	if err := f.Update(func(j *Journal) {
		j.Exists, j.BaseSize, j.BaseETag = true, size, `"e1"`
	}); err != nil {
		t.Fatal(err)
	}
	if f.unsaved {
		t.Fatal("the publication was not saved although the reserve was there for it")
	}
	if s.reserveState() != reserveHeld {
		t.Fatalf("reserve state %d after published bytes were released", s.reserveState())
	}
	// Another file's journal write uses it, and the writer of this one
	// comes first to the room it left (in the hang, a woken writer took
	// it before Release made the reserve again).
	if freed, done := s.takeReserve(); !freed {
		t.Fatal("no reserve to use")
	} else {
		done()
	}
	// The writer goes on: nothing of the reserve's room is data's, nor
	// a new file's.
	if more := fill(t, f, 4096); more != size {
		t.Fatalf("data took %d bytes of the room the reserve left", more-size)
	}
	for i := range 80 {
		if _, err := s.Create(Journal{Key: fmt.Sprintf("new%d.log", i), Kind: KindAppend}); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("a new file on a full disk whose reserve is used: %v, want ENOSPC", err)
		}
	}
	// So the journal that lets the published bytes go can be written.
	if err := f.Punch(0, size); err != nil {
		t.Fatalf("punching published bytes on a full disk: %v", err)
	}
	if s.reserveState() != reserveHeld {
		t.Fatalf("reserve state %d after bytes were freed", s.reserveState())
	}
	if fi, err := os.Stat(filepath.Join(dir, reserveFile)); err != nil || fi.Size() != reserveSize {
		t.Fatalf("RESERVE: %v %v", fi, err)
	}
	if more := fill(t, f, 4096); more <= size {
		t.Fatal("no data fitted after the published bytes were freed")
	}
	s.Close()
	_, left := open(t, dir, Options{MaxBuffer: 1 << 30})
	if len(left) != 1 || left[0].Journal().LocalStart != size || left[0].Journal().BaseSize != size {
		t.Fatalf("recovered %+v", left)
	}
}

// Options.NoSpace (the model test's full disk) fails what a full disk
// fails: data writes and new files with ENOSPC, the first journal write by
// giving up the reserve, whose room later journals use; once it reports
// room again, the reserve is made again and data fits.
func TestNoSpaceIsAFullDisk(t *testing.T) {
	var full atomic.Bool
	s, _ := open(t, t.TempDir(), Options{MaxBuffer: 1 << 30, NoSpace: full.Load})
	f, err := s.Create(Journal{Key: "a.log", Kind: KindAppend})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("one\n"), 0); err != nil {
		t.Fatal(err)
	}
	full.Store(true)
	if _, err := f.WriteAt([]byte("two\n"), 4); !errors.Is(err, syscall.ENOSPC) || !s.DiskFull() {
		t.Fatalf("a data write on a full disk: %v (disk full %v), want ENOSPC", err, s.DiskFull())
	}
	if _, err := s.Create(Journal{Key: "b.log", Kind: KindAppend}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a new file on a full disk: %v, want ENOSPC", err)
	}
	for i := range 2 {
		if err := f.Update(func(j *Journal) { j.Exists, j.BaseSize, j.BaseETag = true, 4, fmt.Sprintf(`"e%d"`, i) }); err != nil || f.unsaved {
			t.Fatalf("journal write %d on a full disk: %v (unsaved %v)", i, err, f.unsaved)
		}
	}
	if s.reserveState() != reserveUsed {
		t.Fatalf("reserve state %d, want used", s.reserveState())
	}
	full.Store(false)
	if _, err := f.WriteAt([]byte("two\n"), 4); err != nil {
		t.Fatalf("a data write once there is room: %v", err)
	}
	if s.reserveState() != reserveHeld {
		t.Fatalf("reserve state %d once there is room, want held", s.reserveState())
	}
}

// A record (a drop marker line no later write would carry) is written on a
// full disk in the room the reserve keeps, as a journal is; data still is
// not.
func TestRecordTakesTheReserveRoom(t *testing.T) {
	dir := smallDisk(t, "1m")
	s, _ := open(t, dir, Options{MaxBuffer: 1 << 30})
	f, err := s.Create(Journal{Key: "full.log", Kind: KindAppend})
	if err != nil {
		t.Fatal(err)
	}
	size := fill(t, f, 4096)
	rec := []byte("s3mount: dropped 10 bytes in 1 writes\n")
	if _, err := f.WriteAt(rec, size); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a data write on the full disk: %v, want ENOSPC", err)
	}
	if _, err := f.WriteRecordAt(rec, size); err != nil {
		t.Fatalf("a record on the full disk with its reserve: %v", err)
	}
	if s.reserveState() != reserveUsed || !s.DiskFull() {
		t.Fatalf("reserve state %d, disk full %v; want used, full", s.reserveState(), s.DiskFull())
	}
	got := make([]byte, len(rec))
	if _, err := f.ReadAt(got, size); err != nil || !bytes.Equal(got, rec) || f.Journal().Size != size+int64(len(rec)) {
		t.Fatalf("read back %q (%v), size %d", got, err, f.Journal().Size)
	}
	if more := fill(t, f, 4096); more != f.Journal().Size {
		t.Fatalf("data took %d bytes of the room the reserve left", more-size)
	}
}

// The room a record (or a journal) freed the reserve for stays its own
// until it has written: another file's data write that comes meanwhile
// does not make the reserve again in it. (Before, its restoreReserve took
// the room back and the record failed with ENOSPC, the reserve intact.)
func TestReserveNotMadeAgainUnderARecord(t *testing.T) {
	dir := smallDisk(t, "1m")
	s, _ := open(t, dir, Options{MaxBuffer: 1 << 30})
	f, err := s.Create(Journal{Key: "full.log", Kind: KindAppend})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Create(Journal{Key: "other.log", Kind: KindAppend})
	if err != nil {
		t.Fatal(err)
	}
	size := fill(t, f, 4096)
	var otherErr error
	calls := 0
	s.reserveTaken = func() {
		calls++
		p := make([]byte, 4096)
		s.Force(other.Growth(0, int64(len(p))))
		_, otherErr = other.WriteAt(p, 0)
	}
	rec := []byte("s3mount: dropped 10 bytes in 1 writes\n")
	if _, err := f.WriteRecordAt(rec, size); err != nil {
		t.Fatalf("a record on the full disk with its reserve, another file's write coming meanwhile: %v", err)
	}
	if calls != 1 {
		t.Fatalf("the record took the reserve's room %d times, want once", calls)
	}
	if !errors.Is(otherErr, syscall.ENOSPC) {
		t.Fatalf("another file's data write while the record had the reserve's room: %v, want ENOSPC", otherErr)
	}
	if s.reserveState() != reserveUsed {
		t.Fatalf("reserve state %d, want used", s.reserveState())
	}
}
