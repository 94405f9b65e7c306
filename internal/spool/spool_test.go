package spool

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testIdentity: a bucket with no prefix, so that any file key is the
// mount's (prefix_test.go tests a prefix).
const testIdentity = "bucket/"

// testLog sends the spool's log lines to the test's log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func open(t *testing.T, dir string, o Options) (*Spool, []*File) {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(testLog{t}, nil))
	}
	s, left, err := Open(dir, testIdentity, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, left
}

func write(t *testing.T, f *File, p []byte, off int64) {
	t.Helper()
	if err := f.sp.Reserve(context.Background(), f.Growth(off, int64(len(p)))); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(p, off); err != nil {
		t.Fatal(err)
	}
}

// What a crashed daemon left is found again: journal, and the data file as
// the authority on how much was written.
func TestRecoveryFindsUnpublishedBytes(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	f, err := s.Create(Journal{Key: "prefix/a.log", Kind: KindAppend, Exists: true, BaseSize: 100, BaseETag: `"e1"`, Shift: 100, LocalStart: 100, Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, []byte("line one\n"), 100)
	write(t, f, []byte("line two\n"), 109)
	if got := s.Used(); got != 18 {
		t.Fatalf("used %d, want 18", got)
	}
	// No journal update after the writes (as after SIGKILL, which also
	// drops the lock): reopen.
	s.Close()
	_, left := open(t, dir, Options{})
	if len(left) != 1 {
		t.Fatalf("recovered %d files", len(left))
	}
	j := left[0].Journal()
	if j.Size != 118 || j.BaseSize != 100 || j.BaseETag != `"e1"` || j.Key != "prefix/a.log" {
		t.Fatalf("recovered journal %+v", j)
	}
	got := make([]byte, 18)
	if _, err := left[0].ReadAt(got, 100); err != nil && !errors.Is(err, io.EOF) || string(got) != "line one\nline two\n" {
		t.Fatalf("recovered bytes %q (%v)", got, err)
	}
	if _, err := left[0].ReadAt(got, 50); err == nil {
		t.Fatal("a read below the local start succeeded")
	}
}

func TestForeignSpoolIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	s.Close()
	if _, _, err := Open(dir, "other/", Options{}); !errors.Is(err, ErrForeign) {
		t.Fatalf("foreign spool: %v", err)
	}
	open(t, dir, Options{}) // the refused Open let the lock go
}

// The bound: blocking waits for Release, in order of need; non-blocking
// refuses at once; Force goes over.
func TestBufferModes(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{MaxBuffer: 100, Mode: Blocking})
	ctx := context.Background()
	if err := s.Reserve(ctx, 80); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Reserve(ctx, 50) }()
	select {
	case err := <-done:
		t.Fatalf("blocking Reserve over the bound returned %v at once", err)
	case <-time.After(100 * time.Millisecond):
	}
	s.Release(60)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if err := s.Reserve(cctx, 90); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Reserve: %v", err)
	}

	nb, _ := open(t, t.TempDir(), Options{MaxBuffer: 100, Mode: NonBlocking})
	if err := nb.Reserve(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if err := nb.Reserve(ctx, 1); !errors.Is(err, ErrFull) {
		t.Fatalf("non-blocking over the bound: %v", err)
	}
	nb.Force(10)
	if nb.Used() != 110 {
		t.Fatalf("Force: used %d", nb.Used())
	}
	// A single write larger than the whole buffer fits an empty buffer.
	big, _ := open(t, t.TempDir(), Options{MaxBuffer: 10, Mode: NonBlocking})
	if err := big.Reserve(ctx, 1000); err != nil {
		t.Fatalf("oversized write into an empty buffer: %v", err)
	}
}

// Publication bookkeeping: Update releases what became published, Punch
// frees the data blocks and moves the local start, Remove deletes both
// files.
func TestUpdatePunchRemove(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	f, err := s.Create(Journal{Key: "k", Kind: KindAppend})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	write(t, f, data, 0)
	if s.Used() != int64(len(data)) {
		t.Fatalf("used %d", s.Used())
	}
	if err := f.Update(func(j *Journal) { j.Exists, j.BaseSize, j.BaseETag = true, 1<<19, `"e"` }); err != nil {
		t.Fatal(err)
	}
	if s.Used() != 1<<19 {
		t.Fatalf("after publishing half: used %d", s.Used())
	}
	if err := f.Punch(0, 1<<19); err != nil {
		t.Fatal(err)
	}
	if j := f.Journal(); j.LocalStart != 1<<19 {
		t.Fatalf("local start %d after punch", j.LocalStart)
	}
	got := make([]byte, 16)
	if _, err := f.ReadAt(got, 1<<19); err != nil || !bytes.Equal(got, data[1<<19:1<<19+16]) {
		t.Fatalf("bytes after the punched range: %q %v", got, err)
	}
	if err := f.Remove(); err != nil {
		t.Fatal(err)
	}
	if s.Used() != 0 || s.Files() != 0 {
		t.Fatalf("after remove: used %d files %d", s.Used(), s.Files())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.data")); len(left) != 0 {
		t.Fatalf("data files left: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, identityFile)); err != nil {
		t.Fatal(err)
	}
}

// Inspect (s3mount recover) sees what the spool holds and exports the
// local bytes.
func TestInspectAndExport(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	f, _ := s.Create(Journal{Key: "prefix/w.csv", Kind: KindWhole, Dirty: true, Conflict: "refused"})
	write(t, f, []byte("a,b\n1,2\n"), 0)
	es, err := Inspect(dir)
	if err != nil || len(es) != 1 || es[0].Journal.Key != "prefix/w.csv" || es[0].Unpublished() != 8 {
		t.Fatalf("inspect: %+v %v", es, err)
	}
	var out bytes.Buffer
	if _, err := es[0].Export(&out); err != nil || out.String() != "a,b\n1,2\n" {
		t.Fatalf("export %q %v", out.String(), err)
	}
	if _, err := Inspect(t.TempDir()); err == nil {
		t.Fatal("Inspect of a directory that is not a spool succeeded")
	}
}
