package vfs

import (
	"bytes"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// lingersInFlight: a publication of f in flight when its rename began (a
// full buffer's or full spool disk's kick, or a timer) finishes first —
// the rename waits for the file's job — and lands under the old name; the
// move copies that version, and when the bucket refuses the old key's
// delete, that version is what stays there until the file's next
// publication deletes it (the mount logs "the old key is deleted later").
// The model read S3 before the call, so it learns the version from S3
// after it, as long as it is one the file had (seed 47986395).
func (r *runner) lingersInFlight(f *mfile, name string, before []byte, present bool) {
	if r.injected.Load() == 0 {
		return
	}
	now, ok := r.object(name)
	if !ok || present && bytes.Equal(now, before) || !f.hadVersion(now) {
		return
	}
	r.m.lingering[name] = now
	r.count("renames whose old key took a publication in flight")
}

// hadVersion: s is one of the versions S3 may hold for f (a whole one,
// or for a log a line prefix of one), as checkS3 judges but without
// moving the file's history on.
func (f *mfile) hadVersion(s []byte) bool {
	for _, v := range f.hist {
		if bytes.Equal(s, v) || f.log && linePrefix(s, v) {
			return true
		}
	}
	return false
}

// A rename whose old key's delete the bucket refuses, begun while a
// publication of the file is in flight (the write that filled the buffer
// kicked it): the publication lands under the old name first (the rename
// waits for the file's job), the move copies it, and the old key keeps
// those bytes until the file's next publication deletes it — a version
// the model's read before the call had not seen, which it took for a
// resurrection (seed 47986395 of TestModelAttrs, one run in four). The
// publication is held in its store call until the model has read S3, so
// it lands there every time.
func TestRenameRefusedDeleteAfterAPublicationInFlight(t *testing.T) {
	r, err := newRunner(t, coreOptions{AllowDelete: true, AllowOverwrite: true}, modelStepTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer r.c.cleanup()
	steps := func(ops ...op) {
		t.Helper()
		for _, o := range ops {
			f := r.step(o)
			if f == nil {
				f = r.check()
			}
			if f != nil {
				t.Fatalf("%v: %v\n%s", o, f, r.c.log.Tail())
			}
		}
	}
	steps(op{ID: 1, Kind: opOpen, Slot: 0, Name: "b", Flags: os.O_RDWR | os.O_CREATE | os.O_APPEND},
		op{ID: 2, Kind: opWrite, Slot: 0, Where: atEnd, Len: 40},
		op{ID: 3, Kind: opTick},
		op{ID: 4, Kind: opWrite, Slot: 0, Where: atEnd, Len: 61})
	before, _, _ := r.mem.Object("b")

	// The next publication of "b" waits in its first write to the store,
	// and the bucket refuses to delete "b" until the model has judged what
	// the rename left (the rename has the file's job delete it at once).
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var refuse atomic.Bool
	refuse.Store(true)
	r.under = func(c memstore.Call) memstore.Fault {
		if writeOps[c.Op] && c.Key == "b" {
			once.Do(func() { close(entered); <-release })
		}
		if c.Op == "DeleteObject" && c.Key == "b" && refuse.Load() {
			r.injected.Add(1)
			return memstore.Fail
		}
		return memstore.Pass
	}
	r.mem.SetHook(r.under)
	r.c.fs.kick()
	select {
	case <-entered:
	case <-time.After(modelStepTimeout):
		t.Fatal("the kicked publication did not start")
	}
	r.midStep = func() { close(release) }
	steps(op{ID: 5, Kind: opRename, Name: "b", To: "d", Refuse: true})
	if r.midStep != nil {
		t.Fatal("the rename step did not release the publication")
	}
	old, _, ok := r.mem.Object("b")
	if !ok || bytes.Equal(old, before) {
		t.Fatalf("the old key holds %d bytes (present %v), want the in-flight publication's (not the %d before it): the case is not made\n%s", len(old), ok, len(before), r.c.log.Tail())
	}
	refuse.Store(false)

	// The next publication deletes the old key.
	steps(op{ID: 6, Kind: opTick})
	if _, _, ok := r.mem.Object("b"); ok {
		t.Fatalf("S3 still holds the old key \"b\" after the file's next publication\n%s", r.c.log.Tail())
	}
	steps(op{ID: 7, Kind: opClose, Slot: 0}, op{ID: 8, Kind: opTick})
}
