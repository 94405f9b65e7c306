package fuseadapter

import (
	"context"
	"time"

	"github.com/s3mount/s3mount/internal/vfs"
)

// listBatch entries (about one ListObjectsV2 page) go to the kernel
// together; listAhead batches may wait for it. The listing runs that far
// ahead of the kernel, so the pages of a large directory are fetched while
// the kernel takes the entries of the ones before: ls -l of 100,000 objects
// costs the paging plus the last page's entries, not the paging plus all of
// them.
const (
	listBatch = 1000
	listAhead = 4
)

// listing is one directory listing running in its own goroutine: vfs.ReadDir
// in batches, each batch's types learned (LearnTypes) before it is handed on.
type listing struct {
	more  chan []vfs.DirEntry // closed at the end
	err   error               // valid once more is closed
	stop  context.CancelFunc
	start time.Time
}

// startListing lists dir until it ends or stop is called. Its context is
// its own: the listing outlives the READDIR request that started it.
func startListing(v *vfs.FS, dir *vfs.Node) *listing {
	ctx, stop := context.WithCancel(context.Background())
	l := &listing{more: make(chan []vfs.DirEntry, listAhead), stop: stop, start: time.Now()}
	go func() {
		defer close(l.more)
		var batch []vfs.DirEntry
		send := func() bool {
			if len(batch) == 0 {
				return true
			}
			v.LearnTypes(ctx, batch)
			select {
			case l.more <- batch:
				batch = nil
				return true
			case <-ctx.Done():
				v.Unreceived(batch) // never handed on
				batch = nil
				return false
			}
		}
		err := v.ReadDir(ctx, dir, func(e vfs.DirEntry) bool {
			batch = append(batch, e)
			return len(batch) < listBatch || send()
		})
		if err == nil && !send() {
			err = ctx.Err()
		}
		v.Unreceived(batch) // what a failed listing had not handed on
		l.err = err
	}()
	return l
}

// next waits for the next batch; ok is false at the end (l.err tells how).
// It gives up with ctx's error when the request is interrupted.
func (l *listing) next(ctx context.Context) (batch []vfs.DirEntry, ok bool, err error) {
	select {
	case b, ok := <-l.more:
		return b, ok, nil
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}
