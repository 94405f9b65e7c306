package zstore

import (
	"bytes"
	"strings"
	"testing"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// An object that starts with an empty member (logrotate's create
// publishes the new empty file, then the log grows) reads back on a fresh
// view: members holding no bytes are no place to start a read from.
func TestViewReadsAfterEmptyMembers(t *testing.T) {
	for _, c := range []compress.Codec{compress.Gzip, compress.Zstd} {
		mem := memstore.New("b")
		want := strings.Repeat("line after an empty member\n", 1000)
		obj := c.AppendMember(nil, nil)
		obj = c.AppendMember(obj, []byte(want[:9000]))
		obj = c.AppendMember(obj, nil)
		obj = c.AppendMember(obj, []byte(want[9000:]))
		if _, err := mem.Put(bg, "a.log"+c.Ext(), bytes.NewReader(obj), int64(len(obj)), s3store.Cond{Encoding: &s3store.Encoding{Name: string(c), Size: int64(len(want))}}); err != nil {
			t.Fatal(err)
		}
		z := New(mem, c, []string{"*.log"})
		if got := readAll(t, z, "a.log"); got != want {
			t.Fatalf("%s: read %d bytes, want %d", c, len(got), len(want))
		}
	}
}
