package vfs

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
)

// mapCheckSetup: a log published as "one\n", read directly by r; a
// read-write open rw beside it (which names the data file, so it may map
// it) appends "ours\n" and fsyncs it: S3 got bytes during the open, so its
// close leaves S3's bytes to compare (noteMapped). mapped: a write through
// rw's data file past the daemon, as a shared mapping's, changes them.
func mapCheckSetup(t *testing.T, st s3store.Store, dir string, mapped bool) (fs *FS, n *Node, w, r, rw *Handle) {
	t.Helper()
	ctx := context.Background()
	fs = memFS(t, st, dir, Options{AllowOverwrite: true})
	n, w, r, rw = openBesideReader(t, fs)
	mustWrite(t, rw, "ours\n")
	if err := rw.Fsync(ctx); err != nil {
		t.Fatal(err)
	}
	if mapped {
		fd, _ := rw.LocalFd()
		if _, err := syscall.Pwrite(fd, []byte("OURS"), 4); err != nil {
			t.Fatal(err)
		}
	}
	return fs, n, w, r, rw
}

// openBesideReader publishes a log "one\n" on fs (local reads on) and
// opens a direct reader r of it and a read-write open rw beside (which
// names the data file, so it may map it); w is its writer.
func openBesideReader(t *testing.T, fs *FS) (n *Node, w, r, rw *Handle) {
	t.Helper()
	ctx := context.Background()
	fs.SetLocalReads(true, "")
	n, w, err := fs.Create(ctx, fs.Root(), "a.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, "one\n")
	if err := w.Fsync(ctx); err != nil {
		t.Fatal(err)
	}
	r = openMode(t, fs, n, os.O_RDONLY)
	rw = openMode(t, fs, n, os.O_RDWR|os.O_APPEND)
	if r.IOMode() != IOLocal || rw.IOMode() != IOLocalWriter {
		t.Fatalf("reader %v, read-write open %v: want IOLocal and IOLocalWriter", r.IOMode(), rw.IOMode())
	}
	return n, w, r, rw
}

// failGets fails every GET of key while on, counting them.
func failGets(mem *memstore.Store, key string, on *atomic.Bool, count *atomic.Int64) {
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "GetObject" && c.Key == key && on.Load() {
			count.Add(1)
			return memstore.Fail
		}
		return memstore.Pass
	})
}

// The close of a read-write open beside a direct reader leaves the look
// at S3's bytes to the file's job. S3 failing at that look while another
// host appends: the job retries it (the file is not made a whole edit),
// and once S3 answers, the unchanged bytes let the log go on as an append
// after the other host's line. Before, the close's one GET failed and the
// file was published whole: refused as a conflict (EIO at the next fsync,
// the lines kept in the spool). A mapped change is found by the look and
// published whole.
func TestMapCheckIsTheJobs(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		mapped bool
		want   string
	}{
		{"unchanged, another host appends, S3 failing at the look", false, "one\nours\ntheirs\ntwo\n"},
		{"changed through the data file", true, "one\nOURS\ntwo\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := memstore.New("b")
			var failing atomic.Bool
			var gets atomic.Int64
			failing.Store(!c.mapped)
			failGets(mem, "a.log", &failing, &gets)
			fs, n, w, r, rw := mapCheckSetup(t, mem, t.TempDir(), c.mapped)
			rw.Release()
			mc := n.spoolFile().Journal().MapCheck
			if !c.mapped {
				if mc == nil || mc.From != 4 || mc.To != 9 {
					t.Fatalf("journal's map check after the close: %+v, want [4, 9)", mc)
				}
				mem.AppendObject("a.log", []byte("theirs\n"))
				// The job looks, and fails.
				waitFor(t, func() bool { err, _ := n.ws().job.Outcome(); return err != nil && gets.Load() > 0 })
				j := n.spoolFile().Journal()
				if j.MapCheck == nil || j.Kind != spool.KindAppend {
					t.Fatalf("after the failed look: kind %s, map check %+v; want an append still to compare", j.Kind, j.MapCheck)
				}
				failing.Store(false)
			}
			r.Release()
			mustWrite(t, w, "two\n")
			if err := w.Fsync(ctx); err != nil {
				t.Fatalf("fsync: %v", err)
			}
			w.Release()
			if got, _, _ := mem.Object("a.log"); string(got) != c.want {
				t.Fatalf("S3 holds %q, want %q", got, c.want)
			}
			if j := n.spoolFile(); j != nil && j.Journal().MapCheck != nil {
				t.Fatalf("map check left after the publication: %+v", j.Journal().MapCheck)
			}
			if err := fs.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A crash between the close and the job's look: the journal keeps the
// look due, and the next mount takes it before publishing (unchanged
// bytes: an append after another host's line; changed: whole). Before,
// the close had made the file a whole edit when S3 failed, and the next
// mount published it whole over the other host's line: a conflict.
func TestMapCheckAfterACrash(t *testing.T) {
	for _, c := range []struct {
		name         string
		mapped       bool
		theirs, tail string
		want         string
	}{
		{"unchanged, another host appends", false, "theirs\n", "two\n", "one\nours\ntheirs\ntwo\n"},
		{"unchanged, another host appends, nothing unpublished", false, "theirs\n", "", "one\nours\ntheirs\n"},
		{"changed through the data file", true, "", "", "one\nOURS\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := memstore.New("b")
			fc := newFence(mem)
			var failing atomic.Bool
			var gets atomic.Int64
			failing.Store(true)
			failGets(mem, "a.log", &failing, &gets)
			dir := filepath.Join(t.TempDir(), "spool")
			_, _, w, _, rw := mapCheckSetup(t, fc, dir, c.mapped)
			if c.tail != "" {
				mustWrite(t, w, c.tail)
			}
			rw.Release()
			// SIGKILL: the instance's store calls stop, its spool is as
			// it was.
			fc.kill(0, "")
			failing.Store(false)
			remountAfterCrash(t, mem, dir, c.theirs, func(mc *spool.MapCheck) bool { return mc != nil }, c.want)
		})
	}
}

// remountAfterCrash takes the spool dir a killed instance left, appends
// theirs to a.log in S3 (another host, if any), checks that the recovered
// journal's map check is one that due expects, and mounts it again: once
// unmounted, S3 must hold want.
func remountAfterCrash(t *testing.T, mem *memstore.Store, dir, theirs string, due func(*spool.MapCheck) bool, want string) {
	t.Helper()
	crashed := filepath.Join(t.TempDir(), "spool")
	if err := copySpool(dir, crashed); err != nil {
		t.Fatal(err)
	}
	if theirs != "" {
		mem.AppendObject("a.log", []byte(theirs))
	}
	sp, recovered, err := spool.Open(crashed, "test/", spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recovered) != 1 || !due(recovered[0].Journal().MapCheck) {
		t.Fatalf("recovered %d files; want one with its map check due", len(recovered))
	}
	sp.Close()
	fs := memFS(t, mem, crashed, Options{AllowOverwrite: true})
	if err := fs.Shutdown(context.Background()); err != nil {
		t.Fatalf("unmount after the crash: %v", err)
	}
	if got, _, _ := mem.Object("a.log"); string(got) != want {
		t.Fatalf("S3 holds %q, want %q", got, want)
	}
}
