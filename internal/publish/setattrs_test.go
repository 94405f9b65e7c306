package publish

import (
	"context"
	"syscall"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
)

// A chmod stored after another host appended to the object (the mount
// pinned to the version it knew) is applied to the other host's version:
// its bytes stay, our mode is stored with them, and the file learns the
// new size. Before, the change was dropped and the chmod reverted.
func TestSetAttrsAfterAnotherWriterIsAppliedToItsVersion(t *testing.T) {
	for _, spooled := range []bool{false, true} {
		ctx := context.Background()
		mem := memstore.New("b")
		etag := mem.PutObject("app.log", []byte("a1\n"))
		var f *spool.File
		var sp *spool.Spool
		if spooled {
			// Published, nothing left: the spool file is a clean append.
			sp, f = newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend, Exists: true, BaseSize: 3, BaseETag: etag, LocalStart: 0, Size: 0}, "a1\n")
		}
		mem.AppendObject("app.log", []byte("other\n"))
		p := NewPublisher(mem, nil, sp, Config{PartSize: 5 << 20}, nil)
		ff := &fakeFile{attrs: &s3store.Attrs{Mode: syscall.S_IFREG | 0o600, UID: 33}}
		res, err := p.SetAttrs(ctx, f, "app.log", etag, 3, ff)
		if err != nil {
			t.Fatalf("spooled %v: %v", spooled, err)
		}
		got, _, _ := mem.Object("app.log")
		if string(got) != "a1\nother\n" {
			t.Fatalf("spooled %v: S3 holds %q", spooled, got)
		}
		info, err := mem.Head(ctx, "app.log")
		if err != nil || info.Attrs == nil || info.Attrs.Mode&0o7777 != 0o600 || info.Attrs.UID != 33 {
			t.Fatalf("spooled %v: S3's attributes %+v (%v), want mode 0600 uid 33", spooled, info.Attrs, err)
		}
		if !res.Published || res.Rebases != 1 || ff.rebased != 1 || len(ff.published) != 1 || ff.published[0] != int64(len(got)) {
			t.Fatalf("spooled %v: result %+v, rebased %d, published %v", spooled, res, ff.rebased, ff.published)
		}
		if spooled {
			if j := f.Journal(); j.BaseSize != int64(len(got)) || j.BaseETag != info.ETag || j.Size != j.BaseSize {
				t.Fatalf("journal after the copy: %+v; S3 holds %d bytes at %s", j, len(got), info.ETag)
			}
		}
	}
}

// A chmod of an object another host deleted first is dropped: the object
// stays deleted.
func TestSetAttrsOfADeletedObjectIsDropped(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	etag := mem.PutObject("app.log", []byte("a1\n"))
	mem.DeleteObject("app.log")
	p := NewPublisher(mem, nil, nil, Config{PartSize: 5 << 20}, nil)
	ff := &fakeFile{attrs: &s3store.Attrs{Mode: syscall.S_IFREG | 0o600}}
	res, err := p.SetAttrs(ctx, nil, "app.log", etag, 3, ff)
	if err != nil || res.Published || ff.rebased != 0 {
		t.Fatalf("result %+v, rebased %d, err %v", res, ff.rebased, err)
	}
	if _, _, ok := mem.Object("app.log"); ok {
		t.Fatal("the deleted object is back")
	}
}

// A copy that landed with its answer lost (the SDK's retry refused: the
// first attempt changed the ETag) is told by its tag: not taken for
// another writer's change and copied again.
func TestSetAttrsSettlesALostAnswer(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	etag := mem.PutObject("app.log", []byte("a1\n"))
	lost := true
	copies := 0
	mem.SetHook(func(c memstore.Call) memstore.Fault {
		if c.Op == "CopyObject" {
			copies++
			if lost {
				// The SDK's retry meets the first attempt's copy: 412.
				lost = false
				return memstore.Retried
			}
		}
		return memstore.Pass
	})
	p := NewPublisher(mem, nil, nil, Config{PartSize: 5 << 20}, nil)
	ff := &fakeFile{attrs: &s3store.Attrs{Mode: syscall.S_IFREG | 0o600}}
	res, err := p.SetAttrs(ctx, nil, "app.log", etag, 3, ff)
	if err != nil || !res.Published || res.Rebases != 0 || ff.rebased != 0 || copies != 1 {
		t.Fatalf("result %+v, rebased %d, copies %d, err %v", res, ff.rebased, copies, err)
	}
}
