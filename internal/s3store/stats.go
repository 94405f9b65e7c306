package s3store

import (
	"context"
	"io"
	"sync"
	"sync/atomic"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

type opCounters struct {
	requests, errors, bytesIn, bytesOut atomic.Int64
}

// counters holds one opCounters per S3 operation name.
type counters struct {
	mu      sync.RWMutex
	ops     map[string]*opCounters
	retries atomic.Int64
	// List pages parseList decoded, and those the SDK's decoder did.
	listPlain, listSDK atomic.Int64
}

func newCounters() *counters { return &counters{ops: map[string]*opCounters{}} }

func (c *counters) op(name string) *opCounters {
	c.mu.RLock()
	o := c.ops[name]
	c.mu.RUnlock()
	if o != nil {
		return o
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if o = c.ops[name]; o == nil {
		o = &opCounters{}
		c.ops[name] = o
	}
	return o
}

func (c *counters) snapshot() Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := make(Stats, len(c.ops))
	for name, o := range c.ops {
		s[name] = OpStats{
			Requests: o.requests.Load(),
			Errors:   o.errors.Load(),
			BytesIn:  o.bytesIn.Load(),
			BytesOut: o.bytesOut.Load(),
		}
	}
	return s
}

type attemptKey struct{}

// addMiddleware counts calls (Initialize: errors after retries) and attempts
// (Finalize, after the retry loop: once per request sent).
func (c *counters) addMiddleware(stack *middleware.Stack) error {
	err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("s3storeCalls",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			ctx = context.WithValue(ctx, attemptKey{}, new(int32))
			out, md, err := next.HandleInitialize(ctx, in)
			if err != nil {
				c.op(awsmiddleware.GetOperationName(ctx)).errors.Add(1)
			}
			return out, md, err
		}), middleware.Before)
	if err != nil {
		return err
	}
	return stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("s3storeAttempts",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			o := c.op(awsmiddleware.GetOperationName(ctx))
			o.requests.Add(1)
			if n, ok := ctx.Value(attemptKey{}).(*int32); ok {
				if atomic.AddInt32(n, 1) > 1 {
					c.retries.Add(1)
				}
			}
			if req, ok := in.Request.(*smithyhttp.Request); ok && req.ContentLength > 0 {
				o.bytesOut.Add(req.ContentLength)
			}
			return next.HandleFinalize(ctx, in)
		}), "Retry", middleware.After)
}

// countingBody counts response bytes as the caller reads them.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
