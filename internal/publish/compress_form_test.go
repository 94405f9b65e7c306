package publish

import (
	"bytes"
	"context"
	"testing"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
	"github.com/s3mount/s3mount/internal/zstore"
)

// A file recovered from the spool by a new mount (a fresh view that has
// not looked it up) is published in the form its object is stored in: a
// plain object under a name the globs match stays plain, a compressed one
// under a name they do not stays compressed. An edited (whole) file's
// publication must not take the other form for another writer's change.
func TestRecoveredFilePublishesInItsObjectsForm(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	plainETag := mem.PutObject("app.log", []byte("plain\n"))
	gz := compress.Gzip.AppendMember(nil, []byte("rotated\n"))
	info, err := mem.Put(ctx, "app.log.1.gz", bytes.NewReader(gz), int64(len(gz)), s3store.Cond{Encoding: &s3store.Encoding{Name: "gzip", Size: 8}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ key, etag, data, obj string }{
		{"app.log", plainETag, "PLAIN\n", "app.log"},
		{"app.log.1", info.ETag, "ROTATED\n", "app.log.1.gz"},
	} {
		z := zstore.New(mem, compress.Gzip, []string{"*.log"})
		sp, f := newSpoolFile(t, spool.Journal{Key: c.key, Kind: spool.KindWhole, Exists: true, BaseSize: int64(len(c.data)), BaseETag: c.etag, Dirty: true}, c.data)
		p := NewPublisher(z, nil, sp, Config{PartSize: 5 << 20}, nil)
		if _, err := p.Publish(ctx, f, &fakeFile{}, true); err != nil {
			t.Fatalf("%s: %v", c.key, err)
		}
		got, _, _ := mem.Object(c.obj)
		if c.obj == "app.log.1.gz" {
			got = []byte(gunzip(t, got))
		}
		if string(got) != c.data {
			t.Fatalf("%s holds %q, want %q", c.obj, got, c.data)
		}
	}
	if keys := mem.Keys(); len(keys) != 2 {
		t.Fatalf("keys %v: a file was published in the other form", keys)
	}
}

// A new file keeps the form its journal gives it (spool.Journal.Form: a
// file renamed before its first publication is compressed when either
// name matched), not the one its name's globs give, even published by a
// view that was never told it (a fresh mount publishing a recovered
// file): the publication tells the view first.
func TestPublicationKeepsTheJournalsForm(t *testing.T) {
	for _, c := range []struct {
		key  string
		form spool.Form
		kind spool.Kind
		obj  string
	}{
		{"d1", spool.FormCompressed, spool.KindAppend, "d1.gz"},
		{"b", spool.FormCompressed, spool.KindWhole, "b.gz"},
		{"x.log", spool.FormPlain, spool.KindWhole, "x.log"},
		{"y.log", spool.FormPlain, spool.KindAppend, "y.log"},
	} {
		t.Run(c.key, func(t *testing.T) {
			mem := memstore.New("b")
			z := zstore.New(mem, compress.Gzip, []string{"*.log"})
			data := "a line of " + c.key + "\n"
			sp, f := newSpoolFile(t, spool.Journal{Key: c.key, Kind: c.kind, Form: c.form, Dirty: true}, data)
			p := NewPublisher(z, nil, sp, Config{PartSize: 5 << 20}, nil)
			if _, err := p.Publish(context.Background(), f, &fakeFile{}, true); err != nil {
				t.Fatal(err)
			}
			if keys := mem.Keys(); len(keys) != 1 || keys[0] != c.obj {
				t.Fatalf("keys %v, want only %s", keys, c.obj)
			}
			got, _, _ := mem.Object(c.obj)
			if c.form == spool.FormCompressed {
				got = []byte(gunzip(t, got))
			}
			if string(got) != data {
				t.Fatalf("%s holds %q, want %q", c.obj, got, data)
			}
		})
	}
}
