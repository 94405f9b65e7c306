package publish

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/s3mount/s3mount/internal/s3store"
)

// Stream is a multipart upload that runs while a large file is still being
// written sequentially (dd, cp of a big file): each full part is uploaded as
// soon as the writer has passed it, so close only sends the last part and
// completes. A stream is for files published whole (atomic semantics).
type Stream struct {
	m        *multipart
	partSize int64

	mu       sync.Mutex
	next     int64 // bytes handed to uploads so far
	num      int32
	parts    []s3store.Part
	err      error
	ended    bool // completed or aborted: S3 and OnUpload are not touched again
	inflight sync.WaitGroup
	sem      chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
}

// errEnded stops a stream that was completed or aborted.
var errEnded = errors.New("publish: the stream has ended")

// StartStream creates the multipart upload for key, tagged cfg.Tag, and
// tells cfg.OnUpload its id (and "" once, when the stream is completed or
// aborted). The tag is fixed here, before the final size is known.
func StartStream(ctx context.Context, st s3store.Store, key string, cfg Config) (*Stream, error) {
	cfg.defaults()
	m, err := startUpload(ctx, st, key, cfg)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &Stream{m: m, partSize: cfg.PartSize, num: 1, sem: make(chan struct{}, cfg.Concurrency), ctx: sctx, cancel: cancel}, nil
}

// Tag is the publication tag the stream's object will carry.
func (s *Stream) Tag() string { return s.m.cfg.Tag }

// Uploaded is the number of bytes handed to part uploads.
func (s *Stream) Uploaded() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// Advance starts uploads of every full part below written (the writer's
// contiguous high-water mark). It does not wait for them.
func (s *Stream) Advance(src Source, written int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.err == nil && written-s.next >= s.partSize && int(s.num) < s3store.MaxParts {
		off, num := s.next, s.num
		s.next += s.partSize
		s.num++
		s.startPart(src, num, off, s.partSize)
	}
}

// startPart runs one part upload in the background. Called with s.mu held.
func (s *Stream) startPart(src Source, num int32, off, size int64) {
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		select {
		case s.sem <- struct{}{}:
		case <-s.ctx.Done():
			s.fail(s.ctx.Err())
			return
		}
		defer func() { <-s.sem }()
		p, err := s.m.st.UploadPart(s.ctx, s.m.key, s.m.id, num, src.Section(off, size), size)
		if err != nil {
			s.fail(fmt.Errorf("upload part %d of %s: %w", num, s.m.key, err))
			return
		}
		s.mu.Lock()
		s.parts = append(s.parts, p)
		s.mu.Unlock()
	}()
}

func (s *Stream) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// Finish uploads what is left of [0, size), waits for every part and
// completes the upload conditionally on base. On failure the upload is
// aborted.
func (s *Stream) Finish(ctx context.Context, src Source, size int64, base Base) (Base, error) {
	s.mu.Lock()
	if size < s.next {
		s.mu.Unlock()
		s.Abort()
		return Base{}, fmt.Errorf("publish %s: file shrank below the streamed parts", s.m.key)
	}
	for s.err == nil && s.next < size {
		n := min(s.partSize, size-s.next)
		if int(s.num) == s3store.MaxParts {
			n = size - s.next
		}
		s.startPart(src, s.num, s.next, n)
		s.next += n
		s.num++
	}
	s.mu.Unlock()
	s.inflight.Wait()
	s.mu.Lock()
	err := s.err
	parts := append([]s3store.Part(nil), s.parts...)
	s.mu.Unlock()
	if err == nil && len(parts) == 0 {
		err = fmt.Errorf("publish %s: empty stream", s.m.key)
	}
	if err != nil {
		s.Abort()
		return Base{}, err
	}
	if !s.end() {
		return Base{}, fmt.Errorf("publish %s: %w", s.m.key, errEnded)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	info, err := s.m.st.CompleteMultipart(ctx, s.m.key, s.m.id, parts, cond(base, s.m.cfg))
	s.cancel()
	if err != nil {
		s.m.abort()
		return Base{}, conflict(s.m.key, err)
	}
	s.m.done()
	return Base{Exists: true, Size: size, ETag: info.ETag}, nil
}

// Abort cancels the parts in flight and aborts the upload. It may be
// called more than once, and after Finish: only the first end of a stream
// aborts (or completes) the upload and clears OnUpload.
func (s *Stream) Abort() {
	s.cancel()
	s.inflight.Wait()
	if s.end() {
		s.m.abort()
	}
}

// end marks the stream ended and reports whether this call did it.
func (s *Stream) end() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false
	}
	s.ended = true
	if s.err == nil {
		s.err = errEnded // Advance and Finish start no more parts
	}
	return true
}
