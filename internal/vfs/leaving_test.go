package vfs

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
	"github.com/s3mount/s3mount/internal/zstore"
)

// renameInDoubt renames app.log to app.log.1 on fs with the first call
// op (the move: CopyObject, RenameObject) applied and its answer lost,
// and every HEAD failing until see is called: it must fail (EIO), the
// move having landed. Until see, the file's job (run at once to undo
// the move) cannot settle the doubt either.
func renameInDoubt(t *testing.T, fs *FS, mem *memstore.Store, op string) (see func()) {
	t.Helper()
	var lost, blind atomic.Bool
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		switch {
		case c.Op == op && !lost.Load():
			lost.Store(true)
			blind.Store(true)
			return memstore.LoseAnswer
		case c.Op == "HeadObject" && blind.Load():
			return memstore.Fail
		}
		return memstore.Pass
	})
	if err := fs.Rename(context.Background(), fs.Root(), "app.log", fs.Root(), "app.log.1", 0); Errno(err) != syscall.EIO {
		t.Fatalf("rename whose outcome S3 cannot tell: %v, want EIO", err)
	}
	if _, _, ok := mem.Object("app.log.1"); !ok {
		t.Fatal("the move did not land: the test does not test it")
	}
	return func() { blind.Store(false) }
}

// failDeletes makes every DeleteObject of key fail while on is set.
func failDeletes(mem *memstore.Store, key string, on *atomic.Bool) {
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "DeleteObject" && c.Key == key && on.Load() {
			return memstore.Fail
		}
		return memstore.Pass
	})
}

func listNames(t *testing.T, fs *FS) []string {
	t.Helper()
	var names []string
	if err := fs.ReadDir(context.Background(), fs.Root(), func(e DirEntry) bool {
		names = append(names, e.Name)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return names
}

// A rotation (rename app.log -> app.log.1) whose old key's delete fails
// leaves the old object at app.log until the file's next publication
// deletes it. Meanwhile that object is no file app.log: a writer
// reopening the name (logrotate's create, `echo >>`) starts a new file
// rather than appending to the rotated lines (which then were published
// twice, under both names), and its first publication replaces the old
// object (If-Match: no delete needed, a bucket may refuse them for good),
// which the renamed file's late delete then leaves alone (before, a HEAD
// then an unconditional DELETE could take the new lines). Also after a
// restart, the journal still naming the old key.
func TestRotationWhoseOldKeyIsDeletedLater(t *testing.T) {
	ctx := context.Background()
	for _, restart := range []bool{false, true} {
		name := "same run"
		if restart {
			name = "after a restart"
		}
		t.Run(name, func(t *testing.T) {
			mem := memstore.New("b")
			mem.PutObject("app.log", []byte("old 1\nold 2\n"))
			dir := t.TempDir()
			fs := lostFS(t, mem, dir)
			var failing atomic.Bool
			failing.Store(true)
			failDeletes(mem, "app.log", &failing)
			if err := fs.Rename(ctx, fs.Root(), "app.log", fs.Root(), "app.log.1", 0); err != nil {
				t.Fatalf("rename whose old key's delete fails: %v", err)
			}
			if _, _, ok := mem.Object("app.log"); !ok {
				t.Fatal("the old key is gone: the test's fault did not apply")
			}
			if restart {
				if err := fs.Shutdown(ctx); err == nil {
					t.Log("shutdown with the old key's delete failing reported no error")
				}
				fs = lostFS(t, mem, dir)
			}
			if n, err := fs.Lookup(ctx, fs.Root(), "app.log"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("lookup of the rotated name finds %v, %v: the renamed object is adopted", n, err)
			}
			if names := listNames(t, fs); len(names) != 1 || names[0] != "app.log.1" {
				t.Fatalf("listing shows %q, want only app.log.1", names)
			}
			_, h, err := fs.Create(ctx, fs.Root(), "app.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, h, "new 1\n")
			if err := h.Fsync(ctx); err != nil {
				t.Fatalf("the new file's first publication with the old object's delete failing: %v", err)
			}
			mustWrite(t, h, "new 2\n")
			if err := h.Flush(ctx); err != nil {
				t.Fatalf("close: %v", err)
			}
			h.Release()
			if err := fs.Shutdown(ctx); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			for key, want := range map[string]string{"app.log": "new 1\nnew 2\n", "app.log.1": "old 1\nold 2\n"} {
				if got, _, _ := mem.Object(key); string(got) != want {
					t.Errorf("S3 %s = %q, want %q", key, got, want)
				}
			}
		})
	}
}

// A file whose renames left old keys to delete later finishes those
// deletes before it is unlinked: the unlink would drop the journal's old
// keys, and their objects would stay under their old names for good (a
// file resurrected). While the deletes fail, it fails (EIO). A rename
// goes on meanwhile (the old key is handed on in the journal: logrotate's
// shift app.log.1 -> app.log.2 on a bucket that refuses deletes), also
// after a restart, and the old keys go once S3 takes deletes again.
func TestUnfinishedRenameIsFinishedFirst(t *testing.T) {
	ctx := context.Background()
	for _, then := range []string{"rename", "unlink"} {
		for _, restart := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/restart=%v", then, restart), func(t *testing.T) {
				mem := memstore.New("b")
				mem.PutObject("app.log", []byte("old\n"))
				dir := t.TempDir()
				fs := lostFS(t, mem, dir)
				var failing atomic.Bool
				failing.Store(true)
				mem.SetHook(func(c memstore.Call) memstore.Fault {
					if c.Op == "DeleteObject" && failing.Load() {
						return memstore.Fail
					}
					return memstore.Pass
				})
				if err := fs.Rename(ctx, fs.Root(), "app.log", fs.Root(), "app.log.1", 0); err != nil {
					t.Fatal(err)
				}
				if err := fs.Rename(ctx, fs.Root(), "app.log.1", fs.Root(), "app.log.2", 0); err != nil {
					t.Fatalf("a second rename while the first one's old key cannot be deleted: %v", err)
				}
				if restart {
					_ = fs.Shutdown(ctx) // reports the deletes still due
					fs = lostFS(t, mem, dir)
				}
				if names := listNames(t, fs); len(names) != 1 || names[0] != "app.log.2" {
					t.Fatalf("listing shows %q, want only app.log.2 (S3 holds %q)", names, mem.Keys())
				}
				for _, old := range []string{"app.log", "app.log.1"} {
					if n, err := fs.Lookup(ctx, fs.Root(), old); !errors.Is(err, ErrNotFound) {
						t.Fatalf("lookup of %s finds %v, %v: an object a rename moved away is adopted", old, n, err)
					}
				}
				if got := mem.Keys(); len(got) != 3 {
					t.Fatalf("S3 holds %q: the test's fault did not apply", got)
				}
				want := []string{"app.log.3"}
				if then == "rename" {
					if err := fs.Rename(ctx, fs.Root(), "app.log.2", fs.Root(), "app.log.3", 0); err != nil {
						t.Fatalf("a third rename: %v", err)
					}
				} else {
					if err := fs.Unlink(ctx, fs.Root(), "app.log.2"); Errno(err) != syscall.EIO {
						t.Fatalf("unlink while its old keys cannot be deleted: %v, want EIO", err)
					}
					want = []string{"app.log.2"}
				}
				failing.Store(false)
				// The old keys go by themselves (the job's retry), nothing
				// written, no file open.
				waitFor(t, func() bool { return len(mem.Keys()) == 1 })
				if then == "unlink" {
					if err := fs.Unlink(ctx, fs.Root(), "app.log.2"); err != nil {
						t.Fatalf("unlink: %v", err)
					}
					want = nil
				}
				if err := fs.Shutdown(ctx); err != nil {
					t.Fatal(err)
				}
				if got := mem.Keys(); !slices.Equal(got, want) {
					t.Fatalf("S3 holds %q, want %q", got, want)
				}
				if len(want) == 1 {
					if got, _, _ := mem.Object(want[0]); string(got) != "old\n" {
						t.Fatalf("S3 %s = %q", want[0], got)
					}
				}
			})
		}
	}
}

// A rename S3 applied whose answer was lost, with S3 not askable after
// it, fails (EIO): the file keeps its name. What S3 did is undone by the
// file's next publication: the copy under the new name is deleted (on a
// directory bucket the object moved back), and the file goes on under
// its name. Before, the new name showed a copy of the file for good (on
// a directory bucket the file's bytes split between the two names).
func TestRenameInDoubtIsUndone(t *testing.T) {
	ctx := context.Background()
	for _, express := range []bool{false, true} {
		t.Run(map[bool]string{false: "general", true: "directory bucket"}[express], func(t *testing.T) {
			mem := memstore.New("b")
			o := Options{AllowDelete: true, AllowOverwrite: true}
			move := "CopyObject"
			if express {
				mem = memstore.NewExpress("b--x-s3")
				o.Express = mem
				move = "RenameObject"
			}
			mem.PutObject("app.log", []byte("line 1\n"))
			fs := memFS(t, mem, t.TempDir(), o)
			renameInDoubt(t, fs, mem, move)()
			h := openAppend(t, fs, "app.log")
			mustWrite(t, h, "line 2\n")
			if err := h.Fsync(ctx); err != nil {
				t.Fatalf("fsync: %v", err)
			}
			h.Release()
			if err := fs.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if got, _, _ := mem.Object("app.log"); string(got) != "line 1\nline 2\n" {
				t.Errorf("S3 app.log = %q", got)
			}
			if keys := mem.Keys(); len(keys) != 1 {
				t.Errorf("S3 holds %q, want only app.log", keys)
			}
		})
	}
}

// A new file that claimed the object a rename left under its name
// (publish.ClaimLeft) and is renamed away before its first publication
// deletes that object (the first rename's delete left it to the claim;
// while it cannot, the rename fails) and is published under its new name
// as a new file, in the form that name takes (compressed: it was stored
// plain).
func TestClaimingFileRenamedBeforeItsPublication(t *testing.T) {
	ctx := context.Background()
	for _, codec := range []compress.Codec{"", compress.Gzip} {
		for _, flags := range []int{os.O_WRONLY | os.O_APPEND, os.O_WRONLY} {
			name := map[int]string{os.O_WRONLY | os.O_APPEND: "append", os.O_WRONLY: "whole"}[flags]
			t.Run(string(codec)+" "+name, func(t *testing.T) {
				obj := "app.log" // the object of app.log
				if codec != "" {
					obj += codec.Ext()
				}
				mem := memstore.New("b")
				fs := timedFS(t, mem, t.TempDir(), codec, false, func(o *Options) {
					o.UploadInterval, o.CloseDelay, o.AllowDelete = time.Hour, time.Hour, true
				})
				_, h0, err := fs.Create(ctx, fs.Root(), "app.log", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				mustWrite(t, h0, "old\n")
				if err := h0.Fsync(ctx); err != nil {
					t.Fatal(err)
				}
				h0.Release()
				var failing atomic.Bool
				failing.Store(true)
				failDeletes(mem, obj, &failing)
				if err := fs.Rename(ctx, fs.Root(), "app.log", fs.Root(), "app.log.1", 0); err != nil {
					t.Fatal(err)
				}
				_, h, err := fs.Create(ctx, fs.Root(), "app.log", flags|os.O_CREATE, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				mustWrite(t, h, "new\n")
				// The first rename's delete, due: claimed, so left to
				// the claiming file (the rename is finished).
				h1 := openAppend(t, fs, "app.log.1")
				if err := h1.Fsync(ctx); err != nil {
					t.Fatalf("the first rename's publication: %v", err)
				}
				h1.Release()
				if err := fs.Rename(ctx, fs.Root(), "app.log", fs.Root(), "app.log.2", 0); Errno(err) != syscall.EIO {
					t.Fatalf("rename of the claiming file while the claimed object cannot be deleted: %v, want EIO", err)
				}
				failing.Store(false)
				if err := fs.Rename(ctx, fs.Root(), "app.log", fs.Root(), "app.log.2", 0); err != nil {
					t.Fatalf("rename of the claiming file before its publication: %v", err)
				}
				if err := h.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				h.Release()
				if err := fs.Shutdown(ctx); err != nil {
					t.Fatal(err)
				}
				want := map[string]string{"app.log.1": "old\n", "app.log.2": "new\n"}
				for key, w := range want {
					if got := string(readKey(t, mem, codec, key)); got != w {
						t.Errorf("S3 %s = %q, want %q", key, got, w)
					}
				}
				if keys := mem.Keys(); len(keys) != len(want) {
					t.Errorf("S3 holds %q", keys)
				}
			})
		}
	}
}

// A log renamed while open (logrotate before the daemon reopens its log)
// keeps being written under its new name while its old key cannot be
// deleted (S3 refusing deletes): its lines are published all the same —
// the delete still due does not hold them back — and a later
// publication never copies the old object over them again.
func TestRenamedLogPublishesWhileItsOldKeyCannotBeDeleted(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	mem.PutObject("app.log", []byte("line 1\n"))
	fs := lostFS(t, mem, t.TempDir())
	h := openAppend(t, fs, "app.log")
	var failing atomic.Bool
	failing.Store(true)
	failDeletes(mem, "app.log", &failing)
	if err := fs.Rename(ctx, fs.Root(), "app.log", fs.Root(), "app.log.1", 0); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"line 2\n", "line 3\n"} {
		mustWrite(t, h, line)
		if err := h.Fsync(ctx); err != nil {
			t.Fatalf("fsync of the renamed log while its old key cannot be deleted: %v", err)
		}
		if got, _, _ := mem.Object("app.log.1"); !strings.HasSuffix(string(got), line) {
			t.Fatalf("S3 app.log.1 = %q after fsync", got)
		}
	}
	// Once S3 takes deletes again, the old key goes on its own (a retry
	// with backoff, not the next write nor the hour-long interval), the
	// log still open.
	failing.Store(false)
	waitFor(t, func() bool { _, _, ok := mem.Object("app.log"); return !ok })
	h.Release()
	if err := fs.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := mem.Object("app.log.1"); string(got) != "line 1\nline 2\nline 3\n" {
		t.Fatalf("S3 app.log.1 = %q", got)
	}
	if keys := mem.Keys(); len(keys) != 1 {
		t.Fatalf("S3 holds %q, want only app.log.1 (the old key deleted once it could be)", keys)
	}
}

// A new log created where a rotation left the old object (its delete
// refused) and closed empty (logrotate's create, nothing logged yet)
// replaces that object with an empty one: the name is the new, empty
// file. Before, an append file with no bytes published nothing, its
// claim kept the late delete away, and S3 kept the rotated lines under
// the new file's name for good.
func TestEmptyLogOverAnOldKeyReplacesIt(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	mem.PutObject("app.log", []byte("old 1\nold 2\n"))
	dir := t.TempDir()
	fs := lostFS(t, mem, dir)
	var failing atomic.Bool
	failing.Store(true)
	failDeletes(mem, "app.log", &failing)
	if err := fs.Rename(ctx, fs.Root(), "app.log", fs.Root(), "app.log.1", 0); err != nil {
		t.Fatal(err)
	}
	_, h, err := fs.Create(ctx, fs.Root(), "app.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	h.Release()
	failing.Store(false)
	if err := fs.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"app.log": "", "app.log.1": "old 1\nold 2\n"} {
		if got, _, ok := mem.Object(key); !ok || string(got) != want {
			t.Errorf("S3 %s = %q (%v), want %q", key, got, ok, want)
		}
	}
	fs = lostFS(t, mem, dir)
	n, err := fs.Lookup(ctx, fs.Root(), "app.log")
	if err != nil {
		t.Fatal(err)
	}
	if a := n.Attr(); a.Size != 0 {
		t.Fatalf("after a remount app.log has %d bytes, want 0", a.Size)
	}
}

// A file renamed over one stored in the other form (a plain file over
// app.log, whose object is app.log.gz) while S3 refuses that object's
// delete: another host still appending to app.log writes to app.log.gz
// (it knows nothing of the rename). That object is then theirs, as an
// old key another host appended to is: the late delete leaves it (their
// lines stay, in S3 and readable), stops trying, and says in the log
// that S3 holds the name in both forms. Before, it stopped silently.
func TestRenameOverTheOtherFormJoinedByAnotherHost(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	globs := []string{"*.log"}
	var logA lockedBuf
	a := memFS(t, zstore.New(mem, compress.Gzip, globs), t.TempDir(), Options{AllowDelete: true, AllowOverwrite: true,
		Logger: slog.New(slog.NewTextHandler(&logA, nil))})
	b := memFS(t, zstore.New(mem, compress.Gzip, globs), t.TempDir(), Options{AllowDelete: true, AllowOverwrite: true})
	_, hb, err := b.Create(ctx, b.Root(), "app.log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	appendSynced := func(line string) {
		t.Helper()
		mustWrite(t, hb, line)
		if err := hb.Fsync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	appendSynced("b1\n")
	mem.PutObject("plain", []byte("a's file\n"))
	var refusing atomic.Bool
	refusing.Store(true)
	failDeletes(mem, "app.log.gz", &refusing)
	if err := a.Rename(ctx, a.Root(), "plain", a.Root(), "app.log", 0); err != nil {
		t.Fatal(err)
	}
	leftKeys := func() int {
		n := 0
		paths, _ := filepath.Glob(filepath.Join(a.sp.Dir(), "*.json"))
		for _, p := range paths {
			if j, err := spool.ReadJournal(p); err == nil {
				n += len(j.LeftKeys)
			}
		}
		return n
	}
	if leftKeys() != 1 {
		t.Fatalf("the refused delete of app.log.gz is not kept for later: %d left keys; S3 %v", leftKeys(), mem.Keys())
	}
	appendSynced("b2\n") // B appends to app.log.gz, still there
	refusing.Store(false)
	waitFor(t, func() bool { return leftKeys() == 0 })
	if got, _, _ := mem.Object("app.log"); string(got) != "a's file\n" {
		t.Fatalf("S3 app.log = %q, want the renamed file", got)
	}
	z, _, _ := mem.Object("app.log.gz")
	zr, err := stdgzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatalf("app.log.gz: %v", err)
	}
	if got, err := io.ReadAll(zr); err != nil || string(got) != "b1\nb2\n" {
		t.Fatalf("the other host's object holds %q (%v), want both of its lines (kept)", got, err)
	}
	if !strings.Contains(string(logA.bytes()), "S3 holds the name in both forms") {
		t.Fatalf("the object kept in the other form is not in the log:\n%s", logA.bytes())
	}
}
