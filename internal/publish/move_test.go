package publish

import (
	"context"
	"errors"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
)

// A rename a crash cut before its copy landed, whose old object another
// writer then replaced or deleted, cannot be finished as journaled: the
// file becomes a conflict (its local bytes kept, one error line) instead
// of a publication retried for ever; the other writer's object is left
// alone and nothing appears under the new name.
func TestFinishRenameOvertakenIsAConflict(t *testing.T) {
	for _, c := range []struct {
		name    string
		replace bool
	}{{"old object replaced", true}, {"old object deleted", false}} {
		t.Run(c.name, func(t *testing.T) {
			mem := memstore.New("b")
			etag := mem.PutObject("app.log", []byte("a1\n"))
			sp, f := newSpoolFile(t, spool.Journal{Key: "app.log.1", Kind: spool.KindAppend, Exists: true,
				BaseSize: 3, BaseETag: etag, LocalStart: 3, Size: 3,
				RenamedFrom: "app.log", RenamedFromETag: etag, RenameTag: "f:rename:1"}, "b2\n")
			p := NewPublisher(mem, nil, sp, Config{PartSize: 5 * mib}, nil)
			if c.replace {
				mem.PutObject("app.log", []byte("theirs\n"))
			} else {
				mem.DeleteObject("app.log")
			}
			_, err := p.Publish(context.Background(), f, &fakeFile{}, true)
			if !errors.Is(err, ErrGaveUp) {
				t.Fatalf("publication after an overtaken rename: %v; want ErrGaveUp (not retried)", err)
			}
			if j := f.Journal(); j.Conflict == "" {
				t.Fatal("the journal names no conflict: status cannot show it")
			}
			if _, _, ok := mem.Object("app.log.1"); ok {
				t.Fatal("an object appeared under the new name")
			}
			if got, _, ok := mem.Object("app.log"); c.replace && (!ok || string(got) != "theirs\n") {
				t.Fatalf("the other writer's object: %q, %v", got, ok)
			}
			if got, err := f.ReadAt(make([]byte, 3), 3); err != nil || got != 3 {
				t.Fatalf("the local bytes are gone: %d, %v", got, err)
			}
		})
	}
}
