package memstore

import (
	"context"

	"github.com/s3mount/s3mount/internal/s3store"
)

// Call is what a hook is told about one Store method call.
type Call struct {
	// Op is the S3 operation name as in s3store stats ("HeadObject",
	// "PutObject", ...); AppendAt is "PutObject" with Append set.
	Op  string
	Key string // the key written or read (Copy, Rename: the destination; List: the prefix)
	Src string // Copy, UploadPartCopy, Rename: the source key (an addition to the spec'd API)
	// Seq is this call's 1-based number among all calls made through the Store.
	Seq    int64
	Append bool
}

// Fault is a hook's verdict on one call.
type Fault int

const (
	Pass       Fault = iota // run normally
	Fail                    // do nothing, return a transient error (matches no sentinel)
	LoseAnswer              // apply the call fully, then return the same kind of error
	// Retried: apply the call, lose its answer, and answer what the SDK's
	// retry of the same request gets (the call applied again: a
	// conditional write the first attempt changed is refused, 412).
	Retried
)

// Hook decides the fate of each call.
type Hook func(c Call) Fault

// SetHook installs h (nil removes it). The hook runs without the store's
// lock held, so it may call PutObject/AppendObject/DeleteObject (a foreign
// writer acting between two calls) or sleep (a delay).
func (s *Store) SetHook(h Hook) {
	if h == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&h)
}

// Calls is the number of calls made so far. A Get of 0 bytes is not a
// call: the real store sends no request for it.
func (s *Store) Calls() int64 { return s.seq.Load() }

// do runs one call: numbers it, asks the hook, counts it in Stats, and
// applies it unless the hook says Fail or ctx is done. out is the request
// body size (Stats' BytesOut).
func (s *Store) do(ctx context.Context, c Call, out int64, apply func() error) error {
	c.Seq = s.seq.Add(1)
	s.count(c.Op, func(o *s3store.OpStats) { o.Requests++; o.BytesOut += out })
	f := Pass
	if h := s.hook.Load(); h != nil {
		f = (*h)(c)
	}
	var err error
	switch {
	case f == Fail:
		err = injected(c)
	case ctx.Err() != nil:
		err = transportErr(c.Op, c.Key, ctx.Err())
	default:
		err = apply()
		switch {
		case f == LoseAnswer:
			err = injected(c)
		case f == Retried && err == nil:
			err = apply()
		}
	}
	if err != nil {
		s.count(c.Op, func(o *s3store.OpStats) { o.Errors++ })
	}
	return err
}
