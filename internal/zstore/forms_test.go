package zstore

import (
	"fmt"
	"testing"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// A kept form (a file renamed before its first publication) is not in S3
// for a HEAD to tell again: it survives the view dropping the forms it
// learned when their number passes the limit. Learned ones are dropped.
func TestKeptFormsOutliveTheLearnedForms(t *testing.T) {
	defer func(n int) { learnedMax = n }(learnedMax)
	learnedMax = 4
	z := New(memstore.New("b"), compress.Gzip, []string{"*.log"})
	z.Keep("access.log.1", true) // rotated before its first publication
	z.Keep("tmp.log", false)     // kept plain under a name the globs match
	z.learn("learned.log.1", true)
	for i := 0; i <= 2*learnedMax; i++ {
		z.learn(fmt.Sprintf("f%d", i), false)
	}
	if _, c := z.Compressed("access.log.1"); !c {
		t.Error("access.log.1 lost its kept form (compressed): it would be published plain")
	}
	if _, c := z.Compressed("tmp.log"); c {
		t.Error("tmp.log lost its kept form (plain): it would be published compressed")
	}
	if _, c := z.Compressed("learned.log.1"); c {
		t.Error("learned.log.1 still known compressed: the learned forms were not dropped")
	}
	// Published: S3 holds the form now, a HEAD tells it again.
	z.Published("access.log.1", `"e"`, 1, 1, 1, false)
	z.Unkeep("tmp.log", true) // published plain
	z.mu.Lock()
	kept := len(z.kept)
	z.mu.Unlock()
	if kept != 0 {
		t.Errorf("%d kept forms after their files were published, want 0", kept)
	}
	if _, c := z.Compressed("tmp.log"); c {
		t.Error("tmp.log, published plain, is taken for compressed")
	}
}
