package spool

import (
	"context"
	"testing"
	"time"
)

// Freeing published bytes (Punch) frees disk space: a writer waiting for
// room because the disk was full (a write met ENOSPC) is woken. Before,
// only Release woke it: a write that met the full disk between a
// publication's journal update (Release) and its Punch waited for good,
// nothing left to publish (e2e TestSpoolDiskFull/blocking hung a
// fresh-clone CI run).
func TestPunchWakesAWriterWaitingOnAFullDisk(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{})
	f, err := s.Create(Journal{Key: "a.log", Kind: KindAppend})
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, []byte("one\ntwo\n"), 0)
	if err := f.Update(func(j *Journal) { j.Exists, j.BaseSize = true, 8 }); err != nil {
		t.Fatal(err)
	}
	s.markDiskFull() // a write met ENOSPC after the publication was recorded
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	woke := make(chan error, 1)
	go func() { woke <- s.WaitFits(ctx, 100) }()
	if err := f.Punch(0, 8); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Fatalf("a writer waiting for room after the punch freed the disk: %v (not woken)", err)
	}
}
