package publish

import (
	"testing"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
	"github.com/s3mount/s3mount/internal/zstore"
)

// On a directory bucket a log's first publication (a PUT with its tag)
// whose answer was lost, then another host's append (which keeps the
// tag), then our next lines: S3 holds ours, theirs, ours. Before, the
// settle took the whole object for ours (the tag matched): our next lines
// fell below its end, and the next publication wrote over theirs (found by
// TestModelCompressed -model.random -model.seed=737613196). Plain and
// compressed files.
func TestExpressLostFirstPublicationThenAnotherHostsAppend(t *testing.T) {
	for _, c := range []compress.Codec{"", compress.Gzip, compress.Zstd} {
		name := string(c)
		if c == "" {
			name = "plain"
		}
		t.Run(name, func(t *testing.T) {
			mem := memstore.NewExpress(expressBucket)
			var sta, stb s3store.Store = mem, mem
			obj := "app.log"
			if c != "" {
				sta, stb = zstore.New(mem, c, []string{"*.log"}), zstore.New(mem, c, []string{"*.log"})
				obj += c.Ext()
			}
			spa, fa := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend}, "")
			spb, fb := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend}, "")
			pa := NewPublisher(sta, mem, spa, Config{PartSize: 5 << 20}, nil)
			pb := NewPublisher(stb, mem, spb, Config{PartSize: 5 << 20}, nil)
			// A's PUT lands, its answer is lost; B appends before A asks
			// S3 what happened.
			stage := 0
			mem.SetHook(func(call memstore.Call) memstore.Fault {
				switch {
				case stage == 0 && call.Op == "PutObject":
					stage = 1
					return memstore.LoseAnswer
				case stage == 1 && call.Op == "HeadObject":
					stage = 2
					mem.SetHook(nil)
					appendAndPublish(t, pb, fb, "b1\n")
				}
				return memstore.Pass
			})
			appendAndPublish(t, pa, fa, "a1\n")
			mem.SetHook(nil)
			if stage != 2 {
				t.Fatalf("the other host's append did not run (stage %d)", stage)
			}
			appendAndPublish(t, pa, fa, "a2\n")
			data, _, _ := mem.Object(obj)
			want := "a1\nb1\na2\n"
			if c != "" {
				toolCheck(t, c, data, want)
			} else if string(data) != want {
				t.Fatalf("S3 holds %q, want %q", data, want)
			}
			if j := fa.Journal(); j.BaseSize != int64(len(want)) || j.Pending != 0 || j.PendingTag != "" {
				t.Fatalf("host a's journal: %+v", j)
			}
		})
	}
}
