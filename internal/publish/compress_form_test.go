package publish

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
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

// The first object wins: a file not yet in S3 whose name another host
// created first in the other form (plain NAME where this host would write
// NAME.gz, or the reverse) takes that object's form, says so once, and
// joins the object: an append goes after their bytes, a whole file is a
// conflict (its data kept). S3 never holds the name in both forms. A twin
// that is another name's file (a plain NAME.gz of its own beside the plain
// file NAME) is no copy: the form stays. A plain file whose name the globs
// leave plain asks nothing (zstore.OtherForm).
func TestANewFileTakesTheFormOfTheObjectAnotherHostCreatedFirst(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		key  string
		form spool.Form
		kind spool.Kind
		// theirs: another host's object, created first: plain at key, or
		// marked at key.gz when marked; unmarked: a plain key.gz.
		theirs           string
		marked, unmarked bool
		wantObj, want    string
		wantForm         spool.Form // "": the form stays
		gaveUp           bool
	}{
		{name: "a log the globs compress, plain object first", key: "x.log", kind: spool.KindAppend,
			theirs: "theirs\n", wantObj: "x.log", want: "theirs\nours\n", wantForm: spool.FormPlain},
		{name: "a log renamed before its first publication keeps compressed, plain object first", key: "d", form: spool.FormCompressed, kind: spool.KindAppend,
			theirs: "theirs\n", wantObj: "d", want: "theirs\nours\n", wantForm: spool.FormPlain},
		{name: "a log renamed before its first publication keeps plain, compressed object first", key: "x.log", form: spool.FormPlain, kind: spool.KindAppend,
			theirs: "theirs\n", marked: true, wantObj: "x.log.gz", want: "theirs\nours\n", wantForm: spool.FormCompressed},
		{name: "a whole file, plain object first: a conflict", key: "x.log", kind: spool.KindWhole,
			theirs: "theirs\n", wantObj: "x.log", want: "theirs\n", wantForm: spool.FormPlain, gaveUp: true},
		{name: "a plain file beside a plain NAME.gz of its own", key: "y.log", form: spool.FormPlain, kind: spool.KindAppend,
			theirs: "another file\n", unmarked: true, wantObj: "y.log", want: "ours\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := memstore.New("b")
			switch {
			case c.marked:
				b := compress.Gzip.AppendMember(nil, []byte(c.theirs))
				cond := s3store.Cond{Encoding: &s3store.Encoding{Name: "gzip", Size: int64(len(c.theirs))}}
				if _, err := mem.Put(ctx, c.key+".gz", bytes.NewReader(b), int64(len(b)), cond); err != nil {
					t.Fatal(err)
				}
			case c.unmarked:
				mem.PutObject(c.key+".gz", []byte(c.theirs))
			default:
				mem.PutObject(c.key, []byte(c.theirs))
			}
			z := zstore.New(mem, compress.Gzip, []string{"*.log"})
			sp, f := newSpoolFile(t, spool.Journal{Key: c.key, Kind: c.kind, Form: c.form, Dirty: true}, "ours\n")
			var logs bytes.Buffer
			p := NewPublisher(z, nil, sp, Config{PartSize: 5 << 20}, slog.New(slog.NewTextHandler(&logs, nil)))
			_, err := p.Publish(ctx, f, &fakeFile{}, true)
			if c.gaveUp != errors.Is(err, ErrGaveUp) || (!c.gaveUp && err != nil) {
				t.Fatalf("Publish: %v (want a conflict: %v)", err, c.gaveUp)
			}
			keys := mem.Keys()
			if c.unmarked {
				if len(keys) != 2 {
					t.Fatalf("keys %v, want y.log and the other file y.log.gz", keys)
				}
			} else if len(keys) != 1 || keys[0] != c.wantObj {
				t.Fatalf("keys %v, want only %s (the name in one form)", keys, c.wantObj)
			}
			got, _, _ := mem.Object(c.wantObj)
			if c.wantObj == c.key+".gz" {
				got = []byte(gunzip(t, got))
			}
			if string(got) != c.want {
				t.Fatalf("%s holds %q, want %q", c.wantObj, got, c.want)
			}
			wantForm := c.form
			if c.wantForm != "" {
				wantForm = c.wantForm
			}
			if j := f.Journal(); j.Form != wantForm {
				t.Fatalf("journal's form %q, want %q", j.Form, wantForm)
			}
			switched := strings.Count(logs.String(), "another host created "+c.key+" first")
			if want := map[bool]int{true: 1, false: 0}[c.wantForm != ""]; switched != want {
				t.Fatalf("%d log lines about the form switch, want %d:\n%s", switched, want, logs.String())
			}
		})
	}
}

// The object in the other form may be one a rename on this host moved
// away, its delete still due (spool.Spool.Leaving): the new file takes its
// form and replaces it, and its log line says whose the object is rather
// than "another host created it".
func TestANewFileBesideThisHostsRenameLeftoverSaysWhoseItIs(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New("b")
	b := compress.Gzip.AppendMember(nil, []byte("rotated\n"))
	left, err := mem.Put(ctx, "x.log.gz", bytes.NewReader(b), int64(len(b)), s3store.Cond{Encoding: &s3store.Encoding{Name: "gzip", Size: 8}})
	if err != nil {
		t.Fatal(err)
	}
	z := zstore.New(mem, compress.Gzip, []string{"*.log"})
	sp, f := newSpoolFile(t, spool.Journal{Key: "x.log", Kind: spool.KindAppend, Form: spool.FormPlain, Dirty: true}, "ours\n")
	// The renamed file: x.log -> x.log.1, the old object's delete due.
	if _, err := sp.Create(spool.Journal{Key: "x.log.1", Kind: spool.KindAppend, Exists: true, BaseSize: 8, BaseETag: "\"copied\"", LocalStart: 8, Size: 8,
		RenamedFrom: "x.log", RenamedFromETag: left.ETag}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	p := NewPublisher(z, nil, sp, Config{PartSize: 5 << 20}, slog.New(slog.NewTextHandler(&logs, nil)))
	if _, err := p.Publish(ctx, f, &fakeFile{}, true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "another host") {
		t.Fatalf("the log blames another host for this host's own rename leftover:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "the object a rename on this host moved away from x.log") {
		t.Fatalf("no log line says the object is this host's rename leftover:\n%s", logs.String())
	}
	if keys := mem.Keys(); len(keys) != 1 || keys[0] != "x.log.gz" {
		t.Fatalf("keys %v, want only x.log.gz", keys)
	}
	got, _, _ := mem.Object("x.log.gz")
	if s := gunzip(t, got); s != "ours\n" {
		t.Fatalf("x.log.gz holds %q, want the new file's %q (it replaces the leftover)", s, "ours\n")
	}
}
