package spool

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// copyDir copies the spool directory's files as a crash at this instant
// would leave them (the tests' writes are all fsynced or in place).
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	names, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range names {
		if !e.Type().IsRegular() || e.Name() == reserveFile || e.Name() == lockFile {
			continue // made anew by Open
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// spoolDirOf is a new spool directory of identity, as Open leaves it,
// for journals to be planted in before the first Open.
func spoolDirOf(t *testing.T, identity string) string {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	if err := os.WriteFile(filepath.Join(dir, identityFile), []byte(identity+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// recovered opens a copy of a spool directory and returns the journals
// recovery found (and the log it wrote).
func recovered(t *testing.T, dir string) ([]Journal, string) {
	t.Helper()
	var log bytes.Buffer
	s, left, err := Open(dir, testIdentity, Options{Logger: bufLogger(&log)})
	if err != nil {
		t.Fatalf("recovery stopped: %v", err)
	}
	defer s.Close()
	var out []Journal
	for _, f := range left {
		out = append(out, f.Journal())
	}
	return out, log.String()
}

// journalSteps are updates of one file's journal: small ones (in place),
// one that outgrows its slot (a new file, renamed into place), small ones
// in the larger slots after it, and back.
var journalSteps = []func(j *Journal){
	func(j *Journal) { j.Pending, j.PendingTag, j.PubSeq = 6, "tag-1", 1 },
	func(j *Journal) {
		j.Exists, j.BaseSize, j.BaseETag, j.Pending, j.PendingTag = true, 6, `"e1"`, 0, ""
	},
	func(j *Journal) { j.Conflict = strings.Repeat("c", 3*slotAlign) },
	func(j *Journal) { j.Pending, j.PendingTag, j.PubSeq = 12, "tag-2", 2 },
	func(j *Journal) {
		j.BaseSize, j.BaseETag, j.Pending, j.PendingTag, j.Conflict = 12, `"e2"`, 0, "", ""
	},
	func(j *Journal) { j.AbortUploads = []string{"upload-1"} },
}

// A crash after any disk operation of a journal update (the data file's
// creation, the journal's temporary file, its rename, the directory
// fsync, a slot's write, its fdatasync) leaves a spool whose recovery
// finds the journal as the last update that returned left it, or as the
// update in progress makes it: never anything else, never no file once
// Create returned.
func TestJournalCrashPoints(t *testing.T) {
	dir := t.TempDir()
	type point struct {
		op, copy string
		done     int // updates returned: states[done] or states[done+1]
	}
	var points []point
	done := -1 // Create has not returned
	s, _ := open(t, dir, Options{Hook: func(op, _ string) {
		points = append(points, point{op: op, copy: copyDir(t, dir), done: done})
	}})
	f, err := s.Create(Journal{Key: "app.log", Kind: KindAppend})
	if err != nil {
		t.Fatal(err)
	}
	done = 0
	states := []Journal{f.Journal()}
	write(t, f, []byte("line1\nline2\n"), 0)
	states[0] = f.Journal()
	for _, step := range journalSteps {
		if err := f.Update(step); err != nil {
			t.Fatal(err)
		}
		states = append(states, f.Journal())
		done++
	}
	ops := map[string]int{}
	for _, p := range points {
		ops[p.op]++
		got, log := recovered(t, p.copy)
		if p.done < 0 {
			// Inside Create: nothing acknowledged yet; a file found is
			// the new one, empty.
			if len(got) > 1 || (len(got) == 1 && got[0].Key != "app.log") {
				t.Fatalf("crash after %s inside Create: recovered %+v", p.op, got)
			}
			continue
		}
		if len(got) != 1 {
			t.Fatalf("crash after %s in update %d: recovered %d files\n%s", p.op, p.done+1, len(got), log)
		}
		if !reflect.DeepEqual(got[0], states[p.done]) && !reflect.DeepEqual(got[0], states[p.done+1]) {
			t.Fatalf("crash after %s in update %d: recovered\n%+v\nneither the state before\n%+v\nnor after\n%+v", p.op, p.done+1, got[0], states[p.done], states[p.done+1])
		}
	}
	for _, op := range []string{OpJournalSlot, OpJournalSync, OpJournalWrite, OpJournalRename, OpDirSync} {
		if ops[op] == 0 {
			t.Fatalf("no crash point after %s: the steps miss a path (%v)", op, ops)
		}
	}
	t.Logf("%d crash points %v", len(points), ops)
}

// A crash tears a slot's write: any prefix of the record written, or any
// set of its 512-byte sectors. Recovery then finds the journal before the
// update or (only when all of it landed) after it, never a mix, and the
// next update and recovery go on from there.
func TestJournalTornSlotWrites(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	f, err := s.Create(Journal{Key: "app.log", Kind: KindAppend})
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, []byte("line1\nline2\n"), 0)
	jp := f.journalPath()
	rng := rand.New(rand.NewPCG(1, 2))
	torn := 0
	for i, step := range journalSteps {
		old, err := os.ReadFile(jp)
		if err != nil {
			t.Fatal(err)
		}
		before := f.Journal()
		if err := f.Update(step); err != nil {
			t.Fatal(err)
		}
		after := f.Journal()
		cur, err := os.ReadFile(jp)
		if err != nil {
			t.Fatal(err)
		}
		if len(cur) != len(old) {
			continue // a new file, renamed into place: TestJournalCrashPoints
		}
		// The bytes the update changed lie in one slot.
		lo, hi := 0, len(cur)
		for lo < hi && cur[lo] == old[lo] {
			lo++
		}
		for hi > lo && cur[hi-1] == old[hi-1] {
			hi--
		}
		if lo == hi {
			t.Fatalf("update %d changed no byte of the journal file", i+1)
		}
		if slot := len(cur) / 2; lo/slot != (hi-1)/slot {
			t.Fatalf("update %d wrote bytes %d..%d across both slots of %d", i+1, lo, hi, slot)
		}
		check := func(mixed []byte, what string) {
			t.Helper()
			torn++
			d := copyDir(t, dir)
			if err := os.WriteFile(filepath.Join(d, filepath.Base(jp)), mixed, 0o600); err != nil {
				t.Fatal(err)
			}
			got, log := recovered(t, d)
			if len(got) != 1 {
				t.Fatalf("update %d torn (%s): recovered %d files\n%s", i+1, what, len(got), log)
			}
			switch {
			case bytes.Equal(mixed, cur):
				if !reflect.DeepEqual(got[0], after) {
					t.Fatalf("update %d whole: recovered %+v, want %+v", i+1, got[0], after)
				}
			case bytes.Equal(mixed, old):
				if !reflect.DeepEqual(got[0], before) {
					t.Fatalf("update %d not written: recovered %+v, want %+v", i+1, got[0], before)
				}
			case !reflect.DeepEqual(got[0], before) && !reflect.DeepEqual(got[0], after):
				t.Fatalf("update %d torn (%s): recovered\n%+v\nneither before\n%+v\nnor after\n%+v", i+1, what, got[0], before, after)
			}
		}
		// Every prefix of the write landed, the rest not (of a long
		// record, 512 prefixes evenly spread).
		for c := lo; c <= hi; c += max(1, (hi-lo)/512) {
			mixed := append(append([]byte(nil), cur[:c]...), old[c:]...)
			check(mixed, fmt.Sprintf("bytes up to %d of %d..%d", c, lo, hi))
		}
		// Any set of sectors landed (all sets up to 2^8, else a sample).
		first, last := lo/512, (hi-1)/512
		n := last - first + 1
		sets := 1 << min(n, 8)
		for k := range sets {
			mask := uint64(k)
			if n > 8 {
				mask = rng.Uint64()
			}
			mixed := append([]byte(nil), old...)
			for sec := first; sec <= last; sec++ {
				if mask>>(sec-first)&1 == 1 {
					copy(mixed[sec*512:(sec+1)*512], cur[sec*512:(sec+1)*512])
				}
			}
			check(mixed, fmt.Sprintf("sectors %b of %d..%d", mask, first, last))
		}
	}
	if torn == 0 {
		t.Fatal("no update was in place: nothing was torn")
	}
	// From a torn update, the file goes on: recovery's state is updated
	// and recovered again.
	old, _ := os.ReadFile(jp)
	if err := f.Update(func(j *Journal) { j.PubSeq = 9 }); err != nil {
		t.Fatal(err)
	}
	cur, _ := os.ReadFile(jp)
	mixed := append([]byte(nil), cur...)
	for i := range mixed {
		if mixed[i] != old[i] {
			mixed[i] = old[i] // the first changed byte did not land
			break
		}
	}
	s.Close()
	if err := os.WriteFile(jp, mixed, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, left := open(t, dir, Options{})
	if len(left) != 1 || left[0].Journal().PubSeq == 9 {
		t.Fatalf("recovered %d files from a torn update", len(left))
	}
	if err := left[0].Update(func(j *Journal) { j.PubSeq = 10 }); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if got, log := recovered(t, copyDir(t, dir)); len(got) != 1 || got[0].PubSeq != 10 {
		t.Fatalf("after a torn update, the next one was not recovered: %+v\n%s", got, log)
	}
	t.Logf("%d torn writes recovered", torn)
}

// A journal file of the layout earlier versions wrote (the journal's JSON
// alone) recovers, and its first update makes it slotted.
func TestPlainJournalOfEarlierVersionRecovers(t *testing.T) {
	dir := spoolDirOf(t, testIdentity)
	// As the previous version wrote it (json.Marshal of its Journal).
	plain, err := os.ReadFile("testdata/journal-plain.json")
	if err != nil {
		t.Fatal(err)
	}
	const id = "20261207T080000-0123456789abcdef"
	plant(t, dir, id, plain, []byte("published line\nunpublished line\n"))
	got, log := recovered(t, dir)
	want := Journal{Key: "app/access.log", Kind: KindAppend, Exists: true, BaseSize: 15, BaseETag: `"9b2cf535f27731c974343645a3985328"`,
		Size: 32, Pending: 32, PendingTag: "1765094400000000000-3", PubSeq: 3, PendingSince: 1765094400000000000, Mode: 0o100644, Created: 1765094399000000000}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("recovered %+v\nwant %+v\n%s", got, want, log)
	}
	s, left := open(t, dir, Options{})
	if err := left[0].Update(func(j *Journal) { j.BaseSize, j.Pending, j.PendingTag = 32, 0, "" }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	b, _ := os.ReadFile(filepath.Join(dir, id+".json"))
	if !isSlotted(b) {
		t.Fatalf("journal still plain after an update: %.60q", b)
	}
	want.BaseSize, want.Pending, want.PendingTag = 32, 0, ""
	if got, log := recovered(t, dir); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("after the update, recovered %+v\nwant %+v\n%s", got, want, log)
	}
	if es, err := Inspect(dir); err != nil || len(es) != 1 || es[0].Journal.BaseSize != 32 {
		t.Fatalf("Inspect of the slotted journal: %+v, %v", es, err)
	}
}

// A slotted journal file with no whole record, or whose newest whole
// record is not a journal the spool could write, is damage: set aside as
// a damaged plain journal is (TestDamagedJournalIsSetAside), its data kept.
func TestDamagedSlottedJournalIsSetAside(t *testing.T) {
	slotted := func(recs ...[]byte) []byte {
		b := make([]byte, 2*slotAlign)
		for i, r := range recs {
			if r != nil {
				copy(b[i*slotAlign:], r)
			}
		}
		return b
	}
	good := []byte(`{"key":"a","kind":"whole","dirty":true,"size":4}`)
	badCRC := encodeRecord(1, good)
	badCRC[len(badCRC)-2] ^= 1
	cases := []struct {
		name string
		file []byte
	}{
		{"both slots empty", slotted()},
		{"the only record torn", slotted(nil, badCRC)},
		{"record in the wrong slot", slotted(encodeRecord(1, good))},
		{"newest record not JSON", slotted(encodeRecord(2, []byte("{not json")), encodeRecord(1, good))},
		{"newest record fails Check", slotted(encodeRecord(2, []byte(`{"key":"a","kind":"bogus","size":4}`)), encodeRecord(1, good))},
		{"length past the slot", slotted(func() []byte {
			r := encodeRecord(2, good)
			r[12], r[13] = 0xff, 0x7f
			return r
		}())},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := spoolDirOf(t, testIdentity)
			const id = "20260101T000000-crafted"
			plant(t, dir, id, c.file, userBytes)
			var log bytes.Buffer
			s, left, err := Open(dir, testIdentity, Options{Logger: bufLogger(&log)})
			if err != nil {
				t.Fatalf("Open stopped: %v", err)
			}
			s.Close()
			if len(left) != 0 {
				t.Fatalf("recovered %+v", left[0].Journal())
			}
			if b, err := os.ReadFile(filepath.Join(dir, id+".data")); err != nil || !bytes.Equal(b, userBytes) {
				t.Fatalf("data of the damaged journal: %q, %v", b, err)
			}
			if !exists(filepath.Join(dir, id+".json.corrupt")) || !strings.Contains(log.String(), id+".json") {
				t.Fatalf("damaged journal not set aside with a log line:\n%s", &log)
			}
		})
	}
	// The older record is taken when the newer one is torn.
	dir := spoolDirOf(t, testIdentity)
	torn := encodeRecord(2, []byte(`{"key":"b","kind":"whole","dirty":true,"size":4}`))
	torn[recordHeader+3] ^= 1
	plant(t, dir, "20260101T000000-torn", slotted(torn, encodeRecord(1, good)), []byte("data"))
	if got, log := recovered(t, dir); len(got) != 1 || got[0].Key != "a" || got[0].Size != 4 {
		t.Fatalf("recovered %+v\n%s", got, log)
	}
}
