package vfs

import (
	"context"
	"sync"
	"time"
)

// learnParallel bounds the HEADs LearnTypes has in flight.
const learnParallel = 32

// LearnTypes asks S3, in parallel, what a listing could not tell about
// listed entries (metaKnownLocked): the type of objects small enough to be
// symlinks or special files, the attributes a directory's marker carries,
// and with --allow-other every file's attributes. One HEAD each; an entry
// whose HEAD fails stays unknown and its lookup asks again. Called before
// a listing is handed to the kernel, so that d_type and READDIRPLUS are
// right without one sequential HEAD per entry.
func (fs *FS) LearnTypes(ctx context.Context, entries []DirEntry) {
	if !fs.opt.PosixMetadata {
		return
	}
	sem := make(chan struct{}, learnParallel)
	var wg sync.WaitGroup
	for _, e := range entries {
		n := e.Node
		n.mu.Lock()
		need := !n.metaKnownLocked() && !n.hasLocalState() && n.state == stateInS3
		n.mu.Unlock()
		if !need {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if n.dir {
				fs.learnDirAttrs(ctx, n)
			} else {
				_ = fs.headFile(ctx, n)
			}
		}()
	}
	wg.Wait()
}

// headFile takes a file's type and attributes from a HEAD of its object
// (a file with local bytes keeps its own).
func (fs *FS) headFile(ctx context.Context, n *Node) error {
	asked := time.Now()
	info, err := fs.st.Head(ctx, fs.key(n.Path()))
	if err != nil {
		return err
	}
	n.mu.Lock()
	if n.file == nil {
		n.setRemoteLocked(info, asked, true)
	}
	n.mu.Unlock()
	return nil
}
