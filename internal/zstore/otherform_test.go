package zstore

import (
	"testing"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// OtherForm finds another host's copy of a name in the other form (the
// first object wins: publish.adoptForm), and only that: a twin that is
// another name's file is none, and a plain file whose name no glob
// matches costs no request unless it is a log.
func TestOtherFormIsAnotherHostsCopyOfTheName(t *testing.T) {
	for _, c := range []struct {
		name     string
		key      string
		keep     *bool // the file's kept form, else the globs'
		log      bool  // the file is a log
		plain    map[string]string
		marked   map[string]string
		want     bool
		wantHead int64
	}{
		{name: "compressed log, plain object", key: "a.log", plain: map[string]string{"a.log": "x\n"}, want: true, wantHead: 1},
		{name: "compressed log, nothing", key: "a.log", want: false, wantHead: 1},
		{name: "compressed log, its own object only", key: "a.log", marked: map[string]string{"a.log.gz": "x\n"}, want: false, wantHead: 1},
		{name: "kept compressed, plain object", key: "d", keep: ptr(true), plain: map[string]string{"d": "x\n"}, want: true, wantHead: 1},
		{name: "kept plain, marked object", key: "a.log", keep: ptr(false), marked: map[string]string{"a.log.gz": "x\n"}, want: true, wantHead: 1},
		{name: "kept plain, a plain NAME.gz of its own", key: "a.log", keep: ptr(false), plain: map[string]string{"a.log.gz": "x\n"}, want: false, wantHead: 1},
		{name: "kept compressed NAME.gz, the compressed NAME's object", key: "n.gz", keep: ptr(true), marked: map[string]string{"n.gz": "x\n"}, want: false, wantHead: 1},
		{name: "plain by the globs: not asked", key: "d", marked: map[string]string{"d.gz": "x\n"}, want: false, wantHead: 0},
		{name: "a log plain by the globs, marked object", key: "d", log: true, marked: map[string]string{"d.gz": "x\n"}, want: true, wantHead: 1},
		{name: "a log plain by the globs, nothing", key: "d", log: true, want: false, wantHead: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := memstore.New("b")
			z := New(mem, compress.Gzip, []string{"*.log"})
			for k, v := range c.plain {
				mem.PutObject(k, []byte(v))
			}
			for k, v := range c.marked {
				putMarked(t, mem, k, v)
			}
			if c.keep != nil {
				z.Keep(c.key, *c.keep)
			}
			heads := mem.Stats()["HeadObject"].Requests
			info, got, err := z.OtherForm(bg, c.key, c.log)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("OtherForm(%s) = %v, want %v", c.key, got, c.want)
			}
			if got && info.ETag == "" {
				t.Fatalf("OtherForm(%s) found the object but gave no ETag: %+v", c.key, info)
			}
			if n := mem.Stats()["HeadObject"].Requests - heads; n != c.wantHead {
				t.Fatalf("%d HEADs, want %d", n, c.wantHead)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
