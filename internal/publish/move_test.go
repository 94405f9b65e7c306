package publish

import (
	"context"
	"errors"
	"testing"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
	"github.com/s3mount/s3mount/internal/zstore"
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

// On a directory bucket a RenameObject that S3 applied but whose answer
// was lost (or a request right after it that failed) is a move that
// happened: the journal keeps the new key, and the file's next
// publication appends there. Before, the journal went back to the old
// key, whose appends then failed for ever (NoSuchKey) and whose name came
// back after a remount.
func TestExpressRenameWithALostAnswerMoves(t *testing.T) {
	for _, c := range []struct {
		name string
		view bool
	}{{"plain", false}, {"compressed", true}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			mem := memstore.NewExpress(expressBucket)
			var st s3store.Store = mem
			obj := "app.log"
			if c.view {
				st = zstore.New(mem, compress.Gzip, []string{"*.log"})
				obj = "app.log.gz"
			}
			sp, f := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend}, "")
			p := NewPublisher(st, mem, sp, Config{PartSize: 5 << 20}, nil)
			appendAndPublish(t, p, f, "r1\n")
			j := f.Journal()
			loseOnce := true
			mem.SetHook(func(call memstore.Call) memstore.Fault {
				if call.Op == "RenameObject" && loseOnce {
					loseOnce = false
					return memstore.LoseAnswer
				}
				return memstore.Pass
			})
			if _, err := p.Move(ctx, f, "app.log", j.BaseETag, j.BaseSize, "app.log.1", nil); err != nil {
				t.Fatalf("a rename S3 applied, its answer lost: %v", err)
			}
			mem.SetHook(nil)
			if k := f.Journal().Key; k != "app.log.1" {
				t.Fatalf("the journal names %q after the rename, want app.log.1", k)
			}
			appendAndPublish(t, p, f, "r2\n")
			if _, _, ok := mem.Object(obj); ok {
				t.Fatalf("%s exists again after the rename", obj)
			}
			info, err := st.Head(ctx, "app.log.1")
			if err != nil || info.Size != 6 {
				t.Fatalf("app.log.1 after the next publication: %+v, %v; want 6 bytes", info, err)
			}
		})
	}
}
