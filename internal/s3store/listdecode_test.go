package s3store_test

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
)

// The hand-written ListObjectsV2 decoder and the SDK's read the server's
// listings of crafted keys to the same pages, and the hand-written one
// reads every page the server sends.
func TestListDecodersAgree(t *testing.T) {
	srv, b, fast := setup(t)
	sdk := srv.StoreWith(t, s3store.Options{Bucket: b, SDKListDecoder: true})
	ctx := context.Background()
	keys := []string{"c/plain", "c/a b", "c/a&b", "c/a<b>c", `c/q"'`, "c/ünï€😀", "c/nl\nx",
		"c/cr\rx", "c/crlf\r\nx", "c/tab\tx", "c/]]>x", "c/%41+%2B", "c/&amp;",
		// 814 bytes; a path segment longer than 255 bytes does not fit
		// the servers' file systems.
		"c/long/" + strings.Repeat(strings.Repeat("x", 200)+"/", 4) + "end",
		"c/dir one/x", "c/dir&/y", "c/dir<>/z", "c/sub/deeper/k", "c/sub/k"}
	if srv.Kind != "versitygw" {
		// versitygw lists control characters as U+FFFD (TestListKeysRoundTrip).
		keys = append(keys, "c/ctl\x01\x1f")
	}
	for _, k := range keys {
		if _, err := fast.Put(ctx, k, bytes.NewReader([]byte(k)), int64(len(k)), s3store.Cond{}); err != nil {
			t.Fatalf("the server refuses key %.60q: %.200v", k, err)
		}
		t.Cleanup(func() { fast.Delete(context.Background(), k) })
	}
	pages := func(st *s3store.S3, delimiter string, max int32) []s3store.ListPage {
		var ps []s3store.ListPage
		token := ""
		for {
			p, err := st.List(ctx, "c/", delimiter, token, max)
			if err != nil {
				t.Fatalf("List(delimiter %q, max %d): %v", delimiter, max, err)
			}
			token = p.NextToken
			// Tokens are the server's to make (MinIO's differ between
			// listings); both decoders must have one or none.
			if token != "" {
				p.NextToken = "more"
			}
			ps = append(ps, p)
			if token == "" {
				return ps
			}
		}
	}
	var listed int64
	for _, delimiter := range []string{"/", ""} {
		for _, max := range []int32{1000, 3} {
			got, want := pages(fast, delimiter, max), pages(sdk, delimiter, max)
			listed += int64(len(got))
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("delimiter %q, max %d: %s", delimiter, max, pageDiff(got, want))
			}
			n := 0
			for _, p := range got {
				n += len(p.Objects)
			}
			if delimiter == "" && n != len(keys) {
				t.Fatalf("listed %d keys, put %d", n, len(keys))
			}
		}
	}
	if plain, viaSDK := fast.ListPagesDecoded(); plain != listed || viaSDK != 0 {
		t.Fatalf("hand-written decoder read %d of %d pages (%d left to the SDK)", plain, listed, viaSDK)
	}
	if plain, viaSDK := sdk.ListPagesDecoded(); plain != 0 || viaSDK != listed {
		t.Fatalf("with SDKListDecoder, %d pages read by hand, %d by the SDK; want 0, %d", plain, viaSDK, listed)
	}
	// Every key as it was put, through the hand-written decoder.
	all := pages(fast, "", 1000)
	got := map[string]bool{}
	for _, o := range all[0].Objects {
		got[o.Key] = true
		if o.Size != int64(len(o.Key)) || o.ETag == "" || o.LastModified.IsZero() {
			t.Errorf("key %q: size %d (want %d), ETag %q, mtime %v", o.Key, o.Size, len(o.Key), o.ETag, o.LastModified)
		}
	}
	for _, k := range keys {
		if !got[k] {
			t.Errorf("key %q not listed as it was put", k)
		}
	}
}

// pageDiff names the first field where the hand-written decoder's pages
// (got) and the SDK's (want) differ.
func pageDiff(got, want []s3store.ListPage) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d pages, the SDK %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if len(g.Objects) != len(w.Objects) || !reflect.DeepEqual(g.Prefixes, w.Prefixes) || g.NextToken != w.NextToken {
			return fmt.Sprintf("page %d: %d objects, prefixes %q, token %q; the SDK %d, %q, %q",
				i, len(g.Objects), g.Prefixes, g.NextToken, len(w.Objects), w.Prefixes, w.NextToken)
		}
		for j := range g.Objects {
			if !reflect.DeepEqual(g.Objects[j], w.Objects[j]) {
				return fmt.Sprintf("page %d object %d: %#v; the SDK %#v", i, j, g.Objects[j], w.Objects[j])
			}
		}
	}
	return "no difference"
}
