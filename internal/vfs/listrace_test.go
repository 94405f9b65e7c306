package vfs

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
)

// listThen is a store whose listings run then() after S3 answered,
// before the caller sees the page.
type listThen struct {
	s3store.Store
	then func()
}

func (l *listThen) List(ctx context.Context, prefix, delimiter, token string, max int32) (s3store.ListPage, error) {
	page, err := l.Store.List(ctx, prefix, delimiter, token, max)
	if l.then != nil {
		l.then()
	}
	return page, err
}

// A new file whose first publication lands while a listing is under way
// (S3 answered before the object was there, and the file's spool file
// is let go before the listing looks at this host's own files) is
// listed all the same: this host published it after asking. Before, it
// was missing from that listing (TestModelCompressed -model.random
// -model.seed=401231629, real timers: a new log's close published it
// during the model's check).
func TestListingRacingAFirstPublicationShowsTheFile(t *testing.T) {
	ctx := context.Background()
	st := &listThen{Store: memstore.New("b")}
	fs := memFS(t, st, t.TempDir(), Options{AllowDelete: true, AllowOverwrite: true})
	_, h, err := fs.Create(ctx, fs.Root(), "new", os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, h, "data\n")
	st.then = func() {
		st.then = nil
		if err := h.Flush(ctx); err != nil {
			t.Error(err)
		}
		h.Release()
	}
	names := listNames(t, fs)
	if n := h.Node(); n.spoolFile() != nil {
		t.Fatal("the published file kept its spool file: the test does not test the race")
	}
	if !slices.Contains(names, "new") {
		t.Fatalf("the listing shows %q, not the file published while it ran", names)
	}
	if names := listNames(t, fs); !slices.Equal(names, []string{"new"}) {
		t.Fatalf("the next listing shows %q", names)
	}
}
