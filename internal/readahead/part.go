package readahead

import (
	"context"
	"io"
	"sync"
)

// part is one ranged GET into a buffer charged to the pool's budget. Reads
// copy out of it as soon as their bytes arrived (filled), not when the whole
// GET is over, so a big part costs no more first-byte latency than a small
// one. Fields under "Reader.mu" belong to the reader's lock.
type part struct {
	off, n int64
	buf    []byte
	charge int64
	urgent bool // a read was waiting for it when it was scheduled
	done   chan struct{}
	err    error // valid once done is closed
	cancel context.CancelFunc

	fillMu sync.Mutex
	filled int64         // bytes of buf written so far; they never change again
	ended  bool          // the GET is over (err says how)
	wake   chan struct{} // closed once filled reaches want; nil while nobody waits
	want   int64         // the least fill a waiter waits for

	// Reader.mu
	refs     int   // reads copying out of it
	consumed int64 // bytes read out; a fully read part is dropped
	fetched  bool  // the GET is over: buf is no longer written
	removed  bool  // no longer in Reader.parts; release once unused
}

func (pt *part) end() int64 { return pt.off + pt.n }

// progress records that buf[:n] holds the object's bytes. It wakes the
// waiters only once one of them has its bytes: a body arrives in socket
// reads of a few KiB to a few hundred, and waking a reader at each one cost
// a goroutine switch per read for nothing.
func (pt *part) progress(n int64) {
	pt.fillMu.Lock()
	pt.filled = max(pt.filled, n)
	if pt.wake != nil && pt.filled >= pt.want {
		close(pt.wake)
		pt.wake = nil
	}
	pt.fillMu.Unlock()
}

// finish records the end of the GET.
func (pt *part) finish(err error) {
	pt.fillMu.Lock()
	pt.ended, pt.err = true, err
	if pt.wake != nil {
		close(pt.wake)
		pt.wake = nil
	}
	pt.fillMu.Unlock()
}

// wait returns once buf[:upto] is filled, or the error that ended the GET
// before it got there.
func (pt *part) wait(ctx context.Context, upto int64) error {
	for {
		pt.fillMu.Lock()
		if pt.filled >= upto {
			pt.fillMu.Unlock()
			return nil
		}
		if pt.ended {
			err := pt.err
			pt.fillMu.Unlock()
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if pt.wake == nil {
			pt.wake = make(chan struct{})
			pt.want = upto
		}
		pt.want = min(pt.want, upto)
		ch := pt.wake
		pt.fillMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (pt *part) filledBytes() int64 {
	pt.fillMu.Lock()
	defer pt.fillMu.Unlock()
	return pt.filled
}

// get reads len(buf) bytes of key at off, pinned to etag, straight into buf,
// calling progress (if not nil) with the bytes filled so far. It takes a GET
// slot and throughput tokens first.
func (p *Pool) get(ctx context.Context, key, etag string, off int64, buf []byte, urgent bool, progress func(int64)) error {
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
	if progress == nil {
		// A short body (io.ErrUnexpectedEOF) means the object is not the
		// size we were told: an error, never a silent short read.
		_, err = io.ReadFull(body, buf)
		return err
	}
	got := 0
	for got < len(buf) {
		k, err := body.Read(buf[got:])
		got += k
		if k > 0 {
			progress(int64(got))
		}
		if err == io.EOF && got < len(buf) {
			return io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}
