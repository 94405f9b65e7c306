package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A write open beside a reader of an object's cache file, made while the
// spool's disk is full, cannot move that file into the spool (its journal
// meets ENOSPC); it gives the file back to the cache, so a write open
// made once the disk has room moves it, and the reader reads that write
// as soon as it returns. Before, the failed move had removed the file
// from the cache as well: no later open could move it, and the reader
// read the object as it was for as long as it stayed open (found by the
// model test, TestModel -model.seed=337268408).
func TestPassthroughCachedWriteAfterFullDisk(t *testing.T) {
	srv, b := setup(t)
	disk := tmpfsDisk(t, "8m")
	v := randBytes(97, 1<<20+77)
	srv.Put(t, b, "data.bin", v)
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	cache := filepath.Join(disk, "cache")
	m := mount(t, srv, b, "--spool-dir", filepath.Join(disk, "spool"), "--cache", cache,
		"--metrics-addr", addr, "--metadata-ttl", "minimal", "--allow-overwrite",
		"--upload-interval", "1s", "--close-delay", "200ms")
	if !strings.Contains(m.Stderr(), cachePassthroughOnLog) {
		t.Fatalf("no passthrough of cached objects with the cache beside the spool:\n%s", m.Stderr())
	}
	p := filepath.Join(m.Dir, "data.bin")
	r := openCachedReader(t, addr, cache, p, v)

	filler := fillDisk(t, disk) // another program fills the disk
	if w, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0); err == nil {
		w.Close()
		t.Fatalf("a write open on the full disk succeeded:\n%s", m.Stderr())
	} else if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a write open on the full disk: %v, want ENOSPC", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}

	w := appendLine(t, p, "one more line\n")
	defer w.Close()
	want := append(bytes.Clone(v), "one more line\n"...)
	if got := readFrom0(t, r); !bytes.Equal(got, want) {
		t.Fatalf("the cache file's reader after a write once the disk had room: %d bytes, want %d\n%s", len(got), len(want), m.Stderr())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	waitObject(t, srv, b, "data.bin", want)
}
