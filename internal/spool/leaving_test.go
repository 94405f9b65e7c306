package spool

import (
	"slices"
	"testing"
	"time"
)

// The old keys of unfinished renames are known from the journals: set and
// cleared by Update, gone with Remove, found again after a restart.
func TestLeavingFollowsTheJournals(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	leaving := func(s *Spool, key string) []string {
		e := s.Leaving(key)
		slices.Sort(e)
		return e
	}
	_, err := s.Create(Journal{Key: "a.log.1", Kind: KindAppend, Exists: true, RenamedFrom: "a.log", RenamedFromETag: `"e1"`})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Create(Journal{Key: "b", Kind: KindAppend})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(func(j *Journal) { j.Key, j.RenamedFrom, j.RenamedFromETag = "a.log.2", "a.log", `"e2"` }); err != nil {
		t.Fatal(err)
	}
	if got := leaving(s, "a.log"); !slices.Equal(got, []string{`"e1"`, `"e2"`}) {
		t.Fatalf("Leaving(a.log) = %q", got)
	}
	now := time.Now()
	if !s.LeavingAt("a.log", `"e2"`, now) || s.LeavingAt("a.log", `"e3"`, now) || s.LeavingAt("b", `"e2"`, now) {
		t.Fatal("LeavingAt disagrees with Leaving")
	}
	s.Close()
	s, _ = open(t, dir, Options{})
	if got := leaving(s, "a.log"); !slices.Equal(got, []string{`"e1"`, `"e2"`}) {
		t.Fatalf("after a restart Leaving(a.log) = %q", got)
	}
	s.Close()
	s, left := open(t, dir, Options{})
	asked := time.Now()
	for _, f := range left {
		switch f.Journal().Key {
		case "a.log.1":
			if err := f.Update(func(j *Journal) { j.RenamedFrom, j.RenamedFromETag = "", "" }); err != nil {
				t.Fatal(err)
			}
		case "a.log.2":
			if err := f.Remove(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := s.Leaving("a.log"); len(got) != 0 {
		t.Fatalf("Leaving(a.log) = %q once both renames finished", got)
	}
	// An answer asked before the delete may still name its object; one
	// asked after names the same object at that key again (renamed
	// back). A removed file's old key was not deleted.
	if !s.LeavingAt("a.log", `"e1"`, asked) {
		t.Fatal("the object of a finished rename is forgotten at once")
	}
	if s.LeavingAt("a.log", `"e1"`, time.Now()) || s.LeavingAt("a.log", `"e2"`, asked) {
		t.Fatal("an object is hidden from answers asked after its delete, or a removed file's")
	}
}

// A file claims an object as its base: the journal of a new file that
// took over what a rename left at its key (not once it is unlinked).
func TestClaimed(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{})
	f, err := s.Create(Journal{Key: "a.log", Kind: KindAppend, Exists: true, BaseETag: `"e1"`})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Claimed("a.log", `"e1"`) || s.Claimed("a.log", `"e2"`) || s.Claimed("b.log", `"e1"`) {
		t.Fatal("Claimed disagrees with the journal")
	}
	if err := f.Update(func(j *Journal) { j.Unlinked = true }); err != nil {
		t.Fatal(err)
	}
	if s.Claimed("a.log", `"e1"`) {
		t.Fatal("an unlinked file still claims its object")
	}
}
