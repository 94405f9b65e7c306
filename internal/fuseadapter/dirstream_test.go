package fuseadapter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/readahead"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
	"github.com/s3mount/s3mount/internal/vfs"
)

// dirOver lists directory "d" of a memstore holding n objects in it,
// through a dirHandle as go-fuse would.
func dirOver(t *testing.T, n int) (*dirHandle, *memstore.Store) {
	t.Helper()
	mem := memstore.New("b")
	for i := range n {
		mem.PutObject(fmt.Sprintf("d/f%05d", i), []byte("x"))
	}
	sp, _, err := spool.Open(t.TempDir(), "memstore-bucket/", spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	v := vfs.New(mem, sp, nil, readahead.NewPool(mem, readahead.PoolOptions{}), vfs.Options{Logger: log, MetadataTTL: time.Hour})
	t.Cleanup(func() { v.Shutdown(context.Background()) })
	dir, err := v.Lookup(context.Background(), v.Root(), "d")
	if err != nil {
		t.Fatal(err)
	}
	d := &dirHandle{n: &node{a: &adapter{v: v, log: log}, v: dir}}
	t.Cleanup(func() { d.Releasedir(context.Background(), 0) })
	return d, mem
}

// readNames reads entries until the end or an error.
func readNames(d *dirHandle, max int) ([]string, syscall.Errno) {
	var names []string
	for len(names) < max {
		e, errno := d.Readdirent(context.Background())
		if errno != 0 || e == nil {
			return names, errno
		}
		if e.Off != uint64(d.idx) {
			return names, syscall.EBADMSG
		}
		names = append(names, e.Name)
	}
	return names, 0
}

func TestDirStreamWholeRewindSeek(t *testing.T) {
	const n = 2*listBatch + 500 // several batches, the last one partial
	d, _ := dirOver(t, n)
	names, errno := readNames(d, n+1)
	if errno != 0 || len(names) != n {
		t.Fatalf("listed %d entries, errno %v; want %d", len(names), errno, n)
	}
	for i, name := range names {
		if want := fmt.Sprintf("f%05d", i); name != want {
			t.Fatalf("entry %d is %s, want %s", i, name, want)
		}
	}
	// rewinddir lists again from the start.
	if e := d.Seekdir(context.Background(), 0); e != 0 {
		t.Fatal(e)
	}
	if got, _ := readNames(d, 3); fmt.Sprint(got) != "[f00000 f00001 f00002]" {
		t.Fatalf("after rewinddir: %v", got)
	}
	// seekdir to an offset the fresh listing has not reached yet.
	if e := d.Seekdir(context.Background(), listBatch+200); e != 0 {
		t.Fatal(e)
	}
	if got, _ := readNames(d, 1); fmt.Sprint(got) != fmt.Sprintf("[f%05d]", listBatch+200) {
		t.Fatalf("after seekdir(%d): %v", listBatch+200, got)
	}
	if e := d.Seekdir(context.Background(), n+1); e != syscall.EINVAL {
		t.Fatalf("seekdir past the end: %v, want EINVAL", e)
	}
}

func TestDirStreamFailureIsNotTheEnd(t *testing.T) {
	const n = 3 * listBatch
	d, mem := dirOver(t, n)
	lists := 0
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "ListObjectsV2" {
			if lists++; lists == 2 {
				return memstore.Fail // the second page
			}
		}
		return memstore.Pass
	})
	names, errno := readNames(d, n+1)
	if errno == 0 {
		t.Fatalf("a listing whose second page failed ended cleanly after %d entries", len(names))
	}
	if len(names) != listBatch {
		t.Errorf("%d entries before the failure, want the first page's %d", len(names), listBatch)
	}
	// It stays failed: never an end that looks complete.
	if e, errno := d.Readdirent(context.Background()); e != nil || errno == 0 {
		t.Errorf("after the failure: entry %v, errno %v; want the error again", e, errno)
	}
	// A rewind lists again, now whole.
	mem.SetHook(nil)
	if e := d.Seekdir(context.Background(), 0); e != 0 {
		t.Fatal(e)
	}
	if names, errno := readNames(d, n+1); errno != 0 || len(names) != n {
		t.Fatalf("after rewind: %d entries, errno %v; want %d", len(names), errno, n)
	}
}

// Nodes a listing made that the kernel was never handed are let go at
// releasedir.
func TestDirStreamReleaseLetsGoOfUnreceived(t *testing.T) {
	const n = 3 * listBatch
	d, mem := dirOver(t, n)
	if names, errno := readNames(d, 5); errno != 0 || len(names) != 5 {
		t.Fatalf("read %d entries, errno %v", len(names), errno)
	}
	taken := append([]vfs.DirEntry(nil), d.entries...)
	d.Releasedir(context.Background(), 0)
	v := d.n.a.v
	for _, e := range taken {
		if v.Node(e.Node.Ino()) == e.Node {
			t.Fatalf("%s: listed, never handed to the kernel, still kept after releasedir", e.Name)
		}
	}
	// The batches still in the pipe (or not yet listed) were never taken
	// either: a lookup of one of their names asks S3 again, where a node
	// kept from the listing would have answered (metadata TTL).
	name := fmt.Sprintf("f%05d", listBatch+1)
	var heads atomic.Int64
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "HeadObject" && c.Key == "d/"+name {
			heads.Add(1)
		}
		return memstore.Pass
	})
	if _, err := v.Lookup(context.Background(), d.n.v, name); err != nil {
		t.Fatal(err)
	}
	if heads.Load() == 0 {
		t.Errorf("%s: the lookup was answered by a node of the released listing", name)
	}
}
