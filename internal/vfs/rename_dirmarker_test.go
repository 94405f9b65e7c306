package vfs

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// markerRename makes directories w (mode 0750, owner 7:8) and x (mode
// 0700, owner 9:10) with POSIX metadata, x with files (files of its
// own, none for 0), and renames x over the empty w with the store's hook
// set to fault. It returns w's marker attributes before the rename, the
// file system (still mounted) and rename's error.
func markerRename(t *testing.T, mem *memstore.Store, files int, log *bytes.Buffer, fault memstore.Hook) (*s3store.Attrs, *FS, error) {
	t.Helper()
	ctx := context.Background()
	o := Options{AllowDelete: true, AllowOverwrite: true, PosixMetadata: true}
	if log != nil {
		o.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: log}, nil))
	}
	fs := memFS(t, mem, t.TempDir(), o)
	for _, d := range []struct {
		name     string
		mode     os.FileMode
		uid, gid uint32
	}{{"w", 0o750, 7, 8}, {"x", 0o700, 9, 10}} {
		n, err := fs.Mkdir(ctx, fs.Root(), d.name, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(d.uid) * time.Hour)
		if err := fs.Setattr(ctx, n, nil, SetAttr{Mode: &d.mode, UID: &d.uid, GID: &d.gid, Mtime: &mtime}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range files {
		mem.PutObject("x/"+string(rune('a'+i)), []byte("line\n"))
	}
	before, err := mem.Head(ctx, "w/")
	if err != nil {
		t.Fatal(err)
	}
	mem.SetHook(fault)
	err = fs.Rename(ctx, fs.Root(), "x", fs.Root(), "w", 0)
	mem.SetHook(nil)
	return before.Attrs, fs, err
}

// lockedWriter serializes a log's writes (the core logs from goroutines).
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A directory rename over an empty directory that fails after the
// source's marker was copied over the target's (its answer lost, or a
// later copy failing) puts the target's marker attributes back: the
// target keeps its mode, owner and mtime, as the failed rename tells.
// (Before, the target showed the source's: TestModelDirs seeds 461177419,
// the first case here.)
func TestFailedDirRenamePutsBackTheReplacedMarker(t *testing.T) {
	for _, c := range []struct {
		name  string
		files int
		fault func() memstore.Hook
	}{
		{"the marker copy's answer lost", 0, func() memstore.Hook {
			return func(c memstore.Call) memstore.Fault {
				if c.Op == "CopyObject" && c.Src == "x/" {
					return memstore.LoseAnswer
				}
				return memstore.Pass
			}
		}},
		{"a file's copy failing after the marker's", 2, func() memstore.Hook { return failOn("CopyObject", "w/b") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := memstore.New("b")
			want, fs, err := markerRename(t, mem, c.files, nil, c.fault())
			if err == nil {
				t.Fatal("rename succeeded with a store fault")
			}
			got, herr := mem.Head(context.Background(), "w/")
			if herr != nil || !sameAttrs(got.Attrs, want) {
				t.Fatalf("after the failed rename w's marker has %+v (%v); before it had %+v", got.Attrs, herr, want)
			}
			// What a later mount shows.
			fs2 := memFS(t, mem, t.TempDir(), Options{AllowDelete: true, AllowOverwrite: true, PosixMetadata: true})
			n, err := fs2.Lookup(context.Background(), fs2.Root(), "w")
			if err != nil {
				t.Fatal(err)
			}
			if a := n.Attr(); a.Mode.Perm() != 0o750 || a.UID != 7 || a.GID != 8 {
				t.Fatalf("w shows mode %v, owner %d:%d; want 0750, 7:8", a.Mode, a.UID, a.GID)
			}
			if x, err := fs.Lookup(context.Background(), fs.Root(), "x"); err != nil || x.Attr().Mode.Perm() != 0o700 {
				t.Fatalf("x after the failed rename: %v", err)
			}
		})
	}
}

// When the target's marker cannot be put back either, the rename fails
// and says so in an error line naming the key; the target then shows
// what its marker has (the source's mode), not what it had.
func TestFailedDirRenameThatCannotPutBackTheMarkerSaysSo(t *testing.T) {
	mem := memstore.New("b")
	var log bytes.Buffer
	_, fs, err := markerRename(t, mem, 2, &log, func(c memstore.Call) memstore.Fault {
		if c.Op == "CopyObject" && (c.Key == "w/b" || c.Src == "w/" && c.Key == "w/") {
			return memstore.Fail
		}
		return memstore.Pass
	})
	if err == nil {
		t.Fatal("rename succeeded with a store fault")
	}
	var line string
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.Contains(l, "level=ERROR") && strings.Contains(l, restoreFailedLog) {
			line = l
		}
	}
	if !strings.Contains(line, "key=w/") {
		t.Fatalf("no error line naming w/ in the log:\n%s", log.String())
	}
	n, err := fs.Lookup(context.Background(), fs.Root(), "w")
	if err != nil {
		t.Fatal(err)
	}
	if a := n.Attr(); a.Mode.Perm() != 0o700 || a.UID != 9 {
		t.Fatalf("w shows mode %v, owner %d; its marker has x's (0700, 9)", a.Mode, a.UID)
	}
}

// A directory of keys only (no marker: the mount's default mode) renamed
// over an empty directory with a marker keeps its attributes: the
// replaced directory's marker is deleted. (Before, it stayed, and the
// renamed directory showed that directory's mode after the next lookup.)
func TestDirRenameOverAMarkerKeepsTheSourcesAttributes(t *testing.T) {
	mem := memstore.New("b")
	ctx := context.Background()
	posix := Options{AllowDelete: true, AllowOverwrite: true, PosixMetadata: true}
	fs := memFS(t, mem, t.TempDir(), posix)
	w, err := fs.Mkdir(ctx, fs.Root(), "w", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	mode := os.FileMode(0o700)
	if err := fs.Setattr(ctx, w, nil, SetAttr{Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	mem.PutObject("x/a", []byte("a\n"))
	x, err := fs.Lookup(ctx, fs.Root(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if got := x.Attr().Mode.Perm(); got != 0o755 {
		t.Fatalf("x (keys only) shows mode %v; want the default 0755", got)
	}
	if err := fs.Rename(ctx, fs.Root(), "x", fs.Root(), "w", 0); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(mem.Keys(), " "); got != "w/a" {
		t.Fatalf("S3 holds %s after the rename, want w/a", got)
	}
	fs2 := memFS(t, mem, t.TempDir(), posix)
	n, err := fs2.Lookup(ctx, fs2.Root(), "w")
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Attr().Mode.Perm(); got != 0o755 {
		t.Fatalf("the renamed directory shows mode %v after a remount; it had 0755", got)
	}
}
