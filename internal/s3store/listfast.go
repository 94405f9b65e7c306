package s3store

import (
	"bytes"
	"context"
	"io"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// listDecoder sits right inside the SDK's ListObjectsV2 deserializer and
// reads a successful response's body first: when parseList takes it, the
// page goes to *dst and the SDK is handed an empty body (an empty output,
// at no cost); otherwise the SDK gets the body as it came and decodes it
// as it always does, errors included. Everything else (signing, retries,
// error responses, the counters) stays the SDK's.
type listDecoder struct {
	dst *ListPage
	ok  *bool // *dst holds this call's page
	// url: the server's last page was URL-encoded, parseList's guess.
	url *atomic.Bool
}

func (listDecoder) ID() string { return "s3storeListDecoder" }

func (d listDecoder) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error) {
	*d.ok = false // a retried attempt starts over
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	resp, isHTTP := out.RawResponse.(*smithyhttp.Response)
	if !isHTTP || resp.StatusCode < 200 || resp.StatusCode >= 300 || resp.Body == nil {
		return out, md, err
	}
	buf := listBufs.Get().(*listBuf)
	body, rerr := readBody(buf.body[:0], resp.Body, resp.ContentLength)
	resp.Body.Close()
	if rerr != nil {
		// The SDK meets the same error where it would have.
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{rerr}))
		return out, md, err
	}
	page, url, perr := parseList(body, d.url.Load(), &buf.scratch)
	if perr != nil {
		resp.Body = io.NopCloser(bytes.NewReader(body)) // the SDK's now: not pooled
		return out, md, err
	}
	*d.dst, *d.ok = page, true
	d.url.Store(url)
	buf.body = body
	if cap(buf.body) <= maxPooledListBody {
		listBufs.Put(buf)
	}
	resp.Body = http0{}
	return out, md, err
}

// listBuf is a response body and parseList's scratch, reused across pages.
type listBuf struct{ body, scratch []byte }

var listBufs = sync.Pool{New: func() any { return new(listBuf) }}

// maxPooledListBody: a page of 1,000 keys is ~0.3 MB; a larger buffer (a
// server with long keys) is left to the collector.
const maxPooledListBody = 4 << 20

// readBody reads r to its end into buf, sized by the Content-Length when
// the server sent one.
func readBody(buf []byte, r io.Reader, length int64) ([]byte, error) {
	if length > 0 && length < 64<<20 && int64(cap(buf)) < length+1 {
		buf = make([]byte, 0, length+1) // +1: the read that sees EOF
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// http0 is an empty response body.
type http0 struct{}

func (http0) Read([]byte) (int, error) { return 0, io.EOF }
func (http0) Close() error             { return nil }

// withListDecoder is the per-call option that adds listDecoder.
func withListDecoder(d listDecoder) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Deserialize.Insert(d, "OperationDeserializer", middleware.After)
		})
	}
}
