package vfs

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A plain NAME.gz (logrotate's gzip output) whose first put is refused by
// the compressed file NAME's object, which landed after the look that
// publications take first (checkHeld: the rotation's copy of NAME racing
// gzip), waits for NAME to go, as when the look sees it. Before, the put's
// 412 was another writer's change given up: gzip's close failed with EIO
// (e2e TestCompressLogrotateCompress, CI).
func TestPlainTwinRefusedByTheCompressedObjectWaits(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	c := compressedCore(t, mem)
	createWith(t, c, "a", "one\n", os.O_APPEND, true)
	c.tick()
	if err := c.settle(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	info, ok := mem.Info("a.gz")
	if !ok || info.Encoding == nil {
		t.Fatalf("premise: a is stored compressed as a.gz: %+v", info)
	}
	compressed, _, _ := mem.Object("a.gz")
	var once sync.Once
	mem.SetHook(func(call memstore.Call) memstore.Fault {
		if call.Op == "PutObject" && call.Key == "d.gz" {
			// The compressed file d's object lands first (a rename of
			// a to d, here another host's).
			once.Do(func() {
				mem.PutWith("d.gz", compressed, s3store.Cond{Encoding: info.Encoding, Attrs: info.Attrs})
			})
		}
		return memstore.Pass
	})
	_, h, err := c.fs.Create(ctx, c.fs.Root(), "d.gz", os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Write(ctx, []byte("plain\n"), 0); err != nil {
		t.Fatal(err)
	}
	err = h.Flush(ctx)
	h.Release()
	mem.SetHook(nil)
	if err != nil {
		t.Fatalf("close of the plain d.gz refused by d's object: %v; want it to wait for d to go", err)
	}
	if data, _, _ := mem.Object("d.gz"); string(data) != string(compressed) {
		t.Fatalf("d's object was replaced while d exists: %q", data)
	}
	mem.DeleteObject("d.gz") // d goes (its host unlinks it)
	plainPublished(t, c, mem)
}

// A plain NAME.gz written while the compressed file NAME exists here but
// is not in S3 yet (logrotate renamed a log whose last lines were not
// published, then gzip wrote NAME.gz) waits for NAME to go, as it does
// when NAME's object is in S3: the look before the publication asked S3
// only, the plain put landed on NAME's key, and NAME's own publication
// then met it.
func TestPlainTwinOfAnUnpublishedCompressedFileWaits(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	c := compressedCore(t, mem)
	createWith(t, c, "a", "one\n", os.O_APPEND, true)
	if err := c.fs.Rename(ctx, c.fs.Root(), "a", c.fs.Root(), "d", 0); err != nil {
		t.Fatal(err)
	}
	_, h, err := c.fs.Create(ctx, c.fs.Root(), "d.gz", os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Write(ctx, []byte("plain\n"), 0); err != nil {
		t.Fatal(err)
	}
	err = h.Flush(ctx)
	h.Release()
	if err != nil {
		t.Fatalf("close of the plain d.gz: %v; want it to wait for d to go", err)
	}
	if data, _, ok := mem.Object("d.gz"); ok {
		t.Fatalf("the plain d.gz took the key of d, which exists here: S3 holds %q", data)
	}
	c.tick()
	if err := c.settle(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if info, ok := mem.Info("d.gz"); !ok || info.Encoding == nil {
		t.Fatalf("d's publication: %+v", info)
	}
	if err := c.fs.Unlink(ctx, c.fs.Root(), "d"); err != nil {
		t.Fatal(err)
	}
	plainPublished(t, c, mem)
}

// plainPublished waits until S3's d.gz is the plain file d.gz's bytes
// ("plain\n"), once d went.
func plainPublished(t *testing.T, c *core, mem *memstore.Store) {
	t.Helper()
	c.tickUntil(t, func() bool {
		data, _, _ := mem.Object("d.gz")
		return string(data) == "plain\n"
	}, func() string {
		data, _, _ := mem.Object("d.gz")
		return fmt.Sprintf("the plain d.gz after d went: S3 holds %q", data)
	})
}
