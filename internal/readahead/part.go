package readahead

import (
	"context"
	"io"
)

// part is one ranged GET into a buffer charged to the pool's budget. Its
// fields after done is closed are read without the reader's lock; the rest
// belong to Reader.mu.
type part struct {
	off, n int64
	buf    []byte
	charge int64
	urgent bool // a read was waiting for it when it was scheduled
	done   chan struct{}
	err    error // valid once done is closed
	cancel context.CancelFunc

	refs     int   // reads copying out of it
	consumed int64 // bytes read out; a fully read part is dropped
	fetched  bool  // the GET is over: buf is no longer written
	removed  bool  // no longer in Reader.parts; release once unused
}

func (pt *part) end() int64 { return pt.off + pt.n }

// get reads len(buf) bytes of key at off, pinned to etag, straight into buf.
// It takes a GET slot and throughput tokens first.
func (p *Pool) get(ctx context.Context, key, etag string, off int64, buf []byte, urgent bool) error {
	if p.throttle != nil {
		if err := p.throttle.wait(ctx, int64(len(buf))); err != nil {
			return err
		}
	}
	if err := p.threads.acquire(ctx, urgent); err != nil {
		return err
	}
	defer p.threads.release()
	body, err := p.store.Get(ctx, key, off, int64(len(buf)), etag)
	if err != nil {
		return err
	}
	defer body.Close()
	// A short body (io.ErrUnexpectedEOF) means the object is not the size
	// we were told: an error, never a silent short read.
	_, err = io.ReadFull(body, buf)
	return err
}
