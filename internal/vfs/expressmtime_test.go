package vfs

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A log's writer closes right before the unmount and the kernel drops its
// queued RELEASE when the unmount ends the connection: Shutdown finds the
// writer still counted. An append to a directory bucket's object keeps
// its metadata, so the writes' mtime is stored by a copy once the last
// writer closed (expressMtimeDueLocked), which never came: the unmount
// stored the lines but not their mtime, and the next mount showed the
// touch's. No handle writes once Shutdown runs: it stores the mtime all
// the same, whether the last lines are published at the unmount or were
// already (fsync).
func TestExpressMtimeStoredAtUnmountWithTheLastReleaseLost(t *testing.T) {
	for _, synced := range []bool{false, true} {
		ctx := context.Background()
		mem := memstore.NewExpress("b--use1-az4--x-s3")
		mem.PutObject("app.log", []byte("a1\n"))
		fs := memFS(t, mem, filepath.Join(t.TempDir(), "spool"), Options{AllowDelete: true, AllowOverwrite: true, PosixMetadata: true, Express: mem})
		n, err := fs.Lookup(ctx, fs.Root(), "app.log")
		if err != nil {
			t.Fatal(err)
		}
		touched := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
		if err := fs.Setattr(ctx, n, nil, SetAttr{Mtime: &touched}); err != nil {
			t.Fatal(err)
		}
		w := openLog(t, fs, n)
		if _, err := w.Write(ctx, []byte("a2\n"), 3); err != nil {
			t.Fatal(err)
		}
		if err := w.Fsync(ctx); err != nil { // the touch and the line stored
			t.Fatal(err)
		}
		if _, err := w.Write(ctx, []byte("a3\n"), 6); err != nil {
			t.Fatal(err)
		}
		if synced {
			if err := w.Fsync(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(ctx); err != nil { // close(2); no RELEASE follows
			t.Fatal(err)
		}
		want := n.Attr().Mtime
		if want.Equal(touched) {
			t.Fatalf("synced %v: stat shows the touch's mtime after a write", synced)
		}
		if err := fs.Shutdown(ctx); err != nil {
			t.Fatalf("synced %v: unmount: %v", synced, err)
		}
		info, ok := mem.Info("app.log")
		if !ok || info.Attrs == nil || !info.Attrs.Mtime.Equal(want) {
			t.Fatalf("synced %v: S3's attributes after the unmount: %+v; want the mtime stat showed, %v", synced, info.Attrs, want)
		}
		if got, _, _ := mem.Object("app.log"); string(got) != "a1\na2\na3\n" {
			t.Fatalf("synced %v: S3 holds %q", synced, got)
		}
	}
}
