package s3store

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithytime "github.com/aws/smithy-go/time"
)

// cannedStore is an S3 whose every response is body (status 200): List
// through it decodes body as a real response would be. Its SDK client is
// made once (the fuzz tests list thousands of bodies); the body is the
// one last given.
func cannedStore(body []byte, sdkOnly bool) *S3 {
	return cannedStoreWith(body, 200, 0, sdkOnly)
}

// cannedStoreWith: the response has this status, and its body fails
// after cut bytes when cut > 0.
func cannedStoreWith(body []byte, status, cut int, sdkOnly bool) *S3 {
	cannedMu.Lock()
	defer cannedMu.Unlock()
	cannedBody, cannedStatus, cannedCut = body, status, cut
	if cannedClient == nil {
		cannedClient = s3.New(s3.Options{
			Region:       "us-east-1",
			BaseEndpoint: aws.String("http://127.0.0.1:9"),
			UsePathStyle: true,
			Credentials:  aws.AnonymousCredentials{},
			Retryer:      aws.NopRetryer{},
			HTTPClient: httpFunc(func(r *http.Request) (*http.Response, error) {
				cannedMu.Lock()
				b, status, cut := cannedBody, cannedStatus, cannedCut
				cannedMu.Unlock()
				var body io.Reader = bytes.NewReader(b)
				if cut > 0 {
					body = io.MultiReader(bytes.NewReader(b[:cut]), errReader{io.ErrUnexpectedEOF})
				}
				return &http.Response{StatusCode: status, Header: http.Header{}, ContentLength: int64(len(b)),
					Body: io.NopCloser(body), Request: r}, nil
			}),
		})
	}
	return &S3{client: cannedClient, bucket: "b", opts: Options{SDKListDecoder: sdkOnly}, stats: newCounters()}
}

var (
	cannedMu     sync.Mutex
	cannedBody   []byte
	cannedStatus int
	cannedCut    int
	cannedClient *s3.Client
)

type httpFunc func(*http.Request) (*http.Response, error)

func (f httpFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// listBoth lists body through the SDK's decoder and through parseList.
func listBoth(t testing.TB, body []byte) (sdk ListPage, sdkErr error, plain ListPage, plainErr error) {
	t.Helper()
	sdk, sdkErr = cannedStore(body, true).List(context.Background(), "d/", "/", "", 1000)
	var scratch []byte
	plain, _, plainErr = parseList(body, false, &scratch)
	return
}

// checkSame: whatever parseList accepts, the SDK decodes to the same page.
func checkSame(t testing.TB, body []byte) (accepted bool) {
	t.Helper()
	sdk, sdkErr, plain, plainErr := listBoth(t, body)
	if plainErr != nil {
		return false
	}
	if sdkErr != nil {
		t.Fatalf("parseList takes a body the SDK refuses (%v):\n%q\nparseList: %+v", sdkErr, body, plain)
	}
	if !reflect.DeepEqual(sdk, plain) {
		t.Fatalf("parseList and the SDK differ on\n%q\n SDK:       %+v\n parseList: %+v", body, sdk, plain)
	}
	return true
}

func TestParseListServersResponses(t *testing.T) {
	for name, n := range map[string]int{"testdata/list-minio.xml": 5, "testdata/list-versitygw.xml": 4} {
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !checkSame(t, body) {
			t.Fatalf("%s: parseList does not read a response the server sent", name)
		}
		// And through List, with the middleware.
		st := cannedStore(body, false)
		page, err := st.List(context.Background(), "d/", "/", "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if plain, sdk := st.ListPagesDecoded(); plain != 1 || sdk != 0 || len(page.Objects) != n {
			t.Fatalf("%s: %d objects, pages decoded %d plain, %d by the SDK; want %d, 1, 0", name, len(page.Objects), plain, sdk, n)
		}
	}
}

// listDoc writes a ListObjectsV2 response for keys, each escaped by esc.
func listDoc(keys, prefixes []string, esc func(string) string, encoding string, truncated bool) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>d/</Prefix>`)
	fmt.Fprintf(&b, "<KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>%v</IsTruncated>", len(keys)+len(prefixes), truncated)
	if truncated {
		b.WriteString("<NextContinuationToken>1/abc+d==</NextContinuationToken>")
	}
	for i, k := range keys {
		fmt.Fprintf(&b, "<Contents><Key>%s</Key><LastModified>2026-12-0%dT09:11:00.1%02dZ</LastModified>"+
			"<ETag>&#34;9dd4e461268c8034f5c8564e155c67a%d&#34;</ETag><Size>%d</Size>"+
			"<Owner><ID>o</ID><DisplayName>n</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Contents>",
			esc(k), 1+i%9, i%100, i%10, 1000+i)
	}
	for _, p := range prefixes {
		fmt.Fprintf(&b, "<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>", esc(p))
	}
	if encoding != "" {
		fmt.Fprintf(&b, "<EncodingType>%s</EncodingType>", encoding)
	}
	b.WriteString("</ListBucketResult>")
	return []byte(b.String())
}

// xmlEscapes: ways servers write a key's text.
var xmlEscapes = map[string]func(string) string{
	"go": func(s string) string { // encoding/xml's EscapeText: &#34; &#xA; ...
		var b bytes.Buffer
		xml.EscapeText(&b, []byte(s))
		return b.String()
	},
	"named": func(s string) string {
		return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;", "\r", "&#13;").Replace(s)
	},
	"url": func(s string) string { return url.QueryEscape(s) },
}

func TestParseListEscapes(t *testing.T) {
	keys := []string{"d/a b", "d/a&b<c>d\"e'f", "d/ünï€😀", "d/nl\nx", "d/cr\rx", "d/crlf\r\nx", "d/tab\tx",
		"d/]]>x", "d/%41+%2B", "d/" + strings.Repeat("long-", 200)}
	prefixes := []string{"d/sub dir/", "d/&amp;/"}
	for name, esc := range xmlEscapes {
		for _, truncated := range []bool{false, true} {
			encoding := ""
			if name == "url" {
				encoding = "url"
			}
			body := listDoc(keys, prefixes, esc, encoding, truncated)
			if !checkSame(t, body) {
				t.Fatalf("%s escapes: parseList does not read\n%q", name, body)
			}
		}
	}
	// Keys as they were put, through the escapes that carry every byte.
	for _, name := range []string{"go", "url"} {
		encoding := map[string]string{"go": "", "url": "url"}[name]
		var scratch []byte
		page, _, err := parseList(listDoc(keys, prefixes, xmlEscapes[name], encoding, false), name == "go", &scratch)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range page.Objects {
			if o.Key != keys[i] {
				t.Errorf("%s escapes: key %q read as %q", name, keys[i], o.Key)
			}
		}
	}
}

// Bodies parseList leaves to the SDK, which decodes them (or refuses them)
// as it always did.
func TestParseListLeavesToSDK(t *testing.T) {
	plain := string(listDoc([]string{"d/a"}, nil, xmlEscapes["go"], "", false))
	encoded := string(listDoc([]string{"d/a"}, nil, xmlEscapes["url"], "url", false))
	for _, tc := range []struct{ name, from, to string }{
		{"comment", "<Key>", "<!-- c --><Key>"},
		{"CDATA", "<Key>d/a</Key>", "<Key><![CDATA[d/a]]></Key>"},
		{"attribute", "<Key>", `<Key a="1">`},
		{"self-closing", "<StorageClass>STANDARD</StorageClass>", "<StorageClass/>"},
		{"other case", "<Key>", "<key>"},
		{"restore status", "<StorageClass>", "<RestoreStatus><IsRestoreInProgress>false</IsRestoreInProgress></RestoreStatus><StorageClass>"},
		{"unknown entity", "<Key>d/a", "<Key>d/&nbsp;a"},
		{"surrogate reference", "<Key>d/a", "<Key>d/&#xD800;a"},
		{"NUL reference", "<Key>d/a", "<Key>d/&#0;a"},
		{"control character", "<Key>d/a", "<Key>d/\x01a"},
		{"invalid UTF-8", "<Key>d/a", "<Key>d/\xffa"},
		{"]]>", "<Key>d/a", "<Key>d/]]>a"},
		{"text between", "<Contents><Key>", "<Contents>x<Key>"},
		{"bad URL encoding", "<Key>d%2Fa</Key>", "<Key>d/%zz</Key>"},
		{"other encoding", `encoding="UTF-8"`, `encoding="ISO-8859-1"`},
		{"trailing", "</ListBucketResult>", "</ListBucketResult><x/>"},
		{"bad size", "<Size>1000</Size>", "<Size>1k</Size>"},
		{"bad date", "2026-12-01T", "2026-13-01T"},
		{"truncated body", "</Contents></ListBucketResult>", "</Contents>"},
	} {
		good := plain
		if !strings.Contains(good, tc.from) {
			good = encoded
		}
		body := []byte(strings.Replace(good, tc.from, tc.to, 1))
		if string(body) == good {
			t.Fatalf("%s: %q not in the document", tc.name, tc.from)
		}
		if checkSame(t, body) {
			t.Errorf("%s: parseList reads\n%q", tc.name, body)
		}
		// Through List, the SDK's answer is List's answer.
		sdk, sdkErr := cannedStore(body, true).List(context.Background(), "d/", "/", "", 1000)
		st := cannedStore(body, false)
		got, err := st.List(context.Background(), "d/", "/", "", 1000)
		if (err == nil) != (sdkErr == nil) || !reflect.DeepEqual(got, sdk) {
			t.Errorf("%s: List gives %+v, %v; the SDK %+v, %v", tc.name, got, err, sdk, sdkErr)
		}
		if plain, _ := st.ListPagesDecoded(); plain != 0 {
			t.Errorf("%s: List took the page as plain", tc.name)
		}
	}
}

// An error answer, or a body cut short, is the SDK's to report: List
// fails as it does.
func TestListDecoderLeavesErrors(t *testing.T) {
	good := listDoc([]string{"d/a"}, nil, xmlEscapes["go"], "", false)
	noBucket := []byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code><Message>no</Message></Error>`)
	for _, tc := range []struct {
		name        string
		body        []byte
		status, cut int
	}{
		{"no such bucket", noBucket, 404, 0},
		{"server error", noBucket, 500, 0},
		{"body cut short", good, 200, len(good) / 2},
	} {
		var errs [2]error
		for i, sdkOnly := range []bool{true, false} {
			st := cannedStoreWith(tc.body, tc.status, tc.cut, sdkOnly)
			_, errs[i] = st.List(context.Background(), "d/", "/", "", 1000)
			if plain, _ := st.ListPagesDecoded(); plain != 0 {
				t.Errorf("%s: List took the page as plain", tc.name)
			}
		}
		if errs[0] == nil || errs[1] == nil || errs[0].Error() != errs[1].Error() {
			t.Errorf("%s: List fails with %v; through the SDK's decoder alone, %v", tc.name, errs[1], errs[0])
		}
	}
	if _, err := cannedStoreWith(noBucket, 404, 0, false).List(context.Background(), "d/", "/", "", 1000); !errors.Is(err, ErrNoSuchBucket) {
		t.Errorf("404 NoSuchBucket: %v, want ErrNoSuchBucket", err)
	}
}

// FuzzParseList: on any body, what parseList accepts the SDK decodes to
// the same page.
func FuzzParseList(f *testing.F) {
	for _, name := range []string{"testdata/list-minio.xml", "testdata/list-versitygw.xml"} {
		body, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	for _, esc := range xmlEscapes {
		f.Add(listDoc([]string{"d/a&b", "d/\r\n<x>"}, []string{"d/p/"}, esc, "url", true))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSame(t, body)
	})
}

// FuzzParseListKeys: any key a server lists, however it escapes it, reads
// back as the SDK reads it, and parseList takes every such page.
func FuzzParseListKeys(f *testing.F) {
	f.Add("d/a b&c", "d/p/", uint8(0), true)
	f.Add("d/\r\n\t<>\"'😀", "d/&/", uint8(1), false)
	f.Add("d/%2F+x", "d/ /", uint8(2), true)
	names := []string{"go", "named", "url"}
	f.Fuzz(func(t *testing.T, key, prefix string, how uint8, truncated bool) {
		name := names[int(how)%len(names)]
		if name != "url" && (!xmlText(key) || !xmlText(prefix)) {
			return // not a key XML can carry unencoded: servers encode it or send U+FFFD
		}
		encoding := ""
		if name == "url" {
			encoding = "url"
		}
		body := listDoc([]string{key}, []string{prefix}, xmlEscapes[name], encoding, truncated)
		if !checkSame(t, body) {
			t.Fatalf("%s escapes: parseList does not read\n%q", name, body)
		}
	})
}

// xmlText: s is UTF-8 of characters XML 1.0 allows.
func xmlText(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !xmlChar(r) {
			return false
		}
	}
	return utf8.ValidString(s)
}

// FuzzPlainDateTime: the allocation-free form is smithy's ParseDateTime.
func FuzzPlainDateTime(f *testing.F) {
	for _, s := range []string{"2026-12-07T09:11:00.148Z", "2026-12-07T09:10:58Z", "2024-02-29T23:59:59.123456789Z",
		"2023-02-29T00:00:00Z", "2026-12-07T24:00:00Z", "0000-01-01T00:00:00.1Z", "2026-12-07T09:10:58.Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := plainDateTime([]byte(s))
		if !ok {
			return
		}
		want, err := smithytime.ParseDateTime(s)
		if err != nil || got != want {
			t.Fatalf("%q: plainDateTime %v, smithy %v, %v", s, got, want, err)
		}
	})
}

// FuzzQueryUnescape: the in-place decoder is url.QueryUnescape.
func FuzzQueryUnescape(f *testing.F) {
	for _, s := range []string{"d%2Fa+b", "%", "%4", "%zz", "%C3%BC", "+%2B%25"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		n, ok := queryUnescapeInPlace(b)
		want, err := url.QueryUnescape(s)
		if ok != (err == nil) || ok && string(b[:n]) != want {
			t.Fatalf("%q: %q, %v; url.QueryUnescape %q, %v", s, b[:n], ok, want, err)
		}
	})
}

func TestParseListAllocations(t *testing.T) {
	body := thousandKeys()
	var scratch []byte
	allocs := testing.AllocsPerRun(5, func() {
		if _, _, err := parseList(body, true, &scratch); err != nil {
			t.Fatal(err)
		}
	})
	// A key and an ETag per object, and a few per page (the slice, the
	// token, the counts parsed).
	if allocs > 2*1000+16 {
		t.Fatalf("%.0f allocations for a page of 1,000 keys, want at most 2,016", allocs)
	}
}

func BenchmarkParseList(b *testing.B) {
	body := thousandKeys()
	b.Run("parseList", func(b *testing.B) {
		var scratch []byte
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := parseList(body, true, &scratch); err != nil {
				b.Fatal(err)
			}
		}
	})
	// List through the SDK, with its decoder and with parseList.
	for name, sdkOnly := range map[string]bool{"SDK": true, "List": false} {
		b.Run(name, func(b *testing.B) {
			st := cannedStore(body, sdkOnly)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.List(context.Background(), "d/", "/", "", 1000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// thousandKeys is a page as BenchmarkListing's listing gets it.
func thousandKeys() []byte {
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("list/f%06d", i)
	}
	return listDoc(keys, nil, xmlEscapes["url"], "url", true)
}
