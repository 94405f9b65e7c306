package spool

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// BenchmarkJournalUpdate: one journal update (what a publication does
// twice) in a spool directory of 2,000 files (a node's worth of logs:
// BenchmarkManyLogs), in place (a slot's pwrite and fdatasync) against a
// new journal file each time (the layout before: a temporary file written
// and fsynced, renamed, the directory fsynced). It reports the daemon's
// CPU per update (user + system) beside the time.
func BenchmarkJournalUpdate(b *testing.B) {
	for _, mode := range []string{"in place", "new file each update"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			s, _, err := Open(dir, testIdentity, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var fs []*File
			for i := range 1000 {
				f, err := s.Create(Journal{Key: fmt.Sprintf("log%04d.log", i), Kind: KindAppend})
				if err != nil {
					b.Fatal(err)
				}
				fs = append(fs, f)
			}
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := range b.N {
				f := fs[i%len(fs)]
				if mode != "in place" {
					f.mu.Lock()
					f.closeJournalFile()
					f.mu.Unlock()
				}
				if err := f.Update(func(j *Journal) { j.PubSeq++; j.PendingTag = fmt.Sprint(i) }); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime is the process's CPU time so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
