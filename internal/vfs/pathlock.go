package vfs

import (
	"hash/maphash"
	"slices"
	"sync"
)

// pathLockStripes is how many locks the names of a mount share.
const pathLockStripes = 64

var pathSeed = maphash.MakeSeed()

// lockPaths takes the name locks of paths (in stripe order, so that two
// renames never deadlock) and returns their release. A name lock orders the
// namespace changes of one name — create, rename, unlink — so that a create
// never lands between a rename's check of its target and the rename taking
// the name: one key then always has one node that publishes it. unlock may
// be called more than once. Name locks
// come before every other lock in the table (fs.go).
func (fs *FS) lockPaths(paths ...string) (unlock func()) {
	var idx []int
	for _, p := range paths {
		idx = append(idx, int(maphash.String(pathSeed, p)%pathLockStripes))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		fs.pathMu[i].Lock()
	}
	return sync.OnceFunc(func() {
		for _, i := range slices.Backward(idx) {
			fs.pathMu[i].Unlock()
		}
	})
}
