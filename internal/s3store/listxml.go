package s3store

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	smithytime "github.com/aws/smithy-go/time"
)

// parseList decodes a ListObjectsV2 response body into the page List
// returns, without encoding/xml: the SDK's decoder makes a token, a copy
// and a pointer per element, ~1.9 MB of garbage for a page of 1,000 keys,
// which at 100,000 keys was half of what the daemon allocated during an
// `ls -l` and most of its GC work. It accepts only the plain XML S3
// servers write (no comments, CDATA, DOCTYPE or attributes below the root,
// element names in S3's own case) and returns errNotPlain on anything
// else, for the SDK's decoder to take the body as it would have: whatever
// parseList accepts, the SDK decodes to the same page (FuzzParseList).
//
// Keys and prefixes are URL-decoded when the response says
// EncodingType=url, which MinIO says after them (and versitygw, which
// ignores the request, never): parseList decodes them as urlGuess says
// and, when the response says otherwise, parses again the other way.
// The caller guesses as the server's last page said. The page keeps none
// of the body's bytes: every string is its own copy.
func parseList(body []byte, urlGuess bool, scratch *[]byte) (page ListPage, url bool, err error) {
	p := listParser{b: body, scratch: (*scratch)[:0], url: urlGuess}
	page, err = p.document()
	if err == errOtherEncoding {
		p = listParser{b: body, scratch: p.scratch, url: !urlGuess}
		page, err = p.document()
	}
	*scratch = p.scratch
	if err != nil {
		return ListPage{}, false, errNotPlain
	}
	return page, p.url, nil
}

// errNotPlain: the body is not XML parseList reads; the SDK's decoder
// takes it (and fails on it if it is not XML at all).
var errNotPlain = errors.New("s3store: list response is not plain XML")

// errOtherEncoding: the keys were decoded as the response did not encode
// them.
var errOtherEncoding = errors.New("s3store: list response encoded otherwise")

type listParser struct {
	b       []byte
	i       int
	scratch []byte // the text of the value last read, entities decoded
	url     bool   // keys are decoded as URL-encoded
	urlSaid bool   // the root's EncodingType said url
	badURL  bool   // a key did not URL-decode
	count   int    // KeyCount, for the page's capacity
}

func (p *listParser) document() (ListPage, error) {
	p.space()
	if bytes.HasPrefix(p.b[p.i:], []byte("<?xml")) {
		end := bytes.Index(p.b[p.i:], []byte("?>"))
		if end < 0 || !plainDeclaration(p.b[p.i:p.i+end+2]) {
			return ListPage{}, errNotPlain
		}
		p.i += end + 2
		p.space()
	}
	if !p.consume("<ListBucketResult") || !p.rootAttrs() {
		return ListPage{}, errNotPlain
	}
	var page ListPage
	var truncated bool
	var token string
	for {
		name, end, ok := p.child()
		if !ok {
			return ListPage{}, errNotPlain
		}
		if end {
			if name != "ListBucketResult" {
				return ListPage{}, errNotPlain
			}
			break
		}
		var err error
		switch name {
		case "Contents":
			var o ObjectInfo
			if o, err = p.object(); err == nil {
				if page.Objects == nil {
					// Bounded by what the body can hold.
					page.Objects = make([]ObjectInfo, 0, max(1, min(p.count, len(p.b)/32)))
				}
				page.Objects = append(page.Objects, o)
			}
		case "CommonPrefixes":
			var pre string
			var seen bool
			if pre, seen, err = p.commonPrefix(); err == nil && seen {
				page.Prefixes = append(page.Prefixes, pre)
			} else if err == nil {
				// The SDK keeps a CommonPrefix without a Prefix; List
				// would add "" for it. Not a page a server sends.
				err = errNotPlain
			}
		case "EncodingType":
			if err = p.value(name); err == nil {
				p.urlSaid = string(p.scratch) == "url"
			}
		case "IsTruncated":
			if err = p.value(name); err == nil {
				truncated, err = parseBool(p.scratch)
			}
		case "NextContinuationToken":
			if err = p.value(name); err == nil {
				token = string(p.scratch)
			}
		case "KeyCount", "MaxKeys":
			if err = p.value(name); err == nil {
				var n int64
				n, err = parseInt64(p.scratch)
				if name == "KeyCount" {
					p.count = int(max(0, min(n, 1<<20)))
				}
			}
		case "ContinuationToken", "Delimiter", "Name", "Prefix", "StartAfter":
			err = p.value(name)
		default:
			err = p.unknown(name, "CommonPrefixes", "Contents", "ContinuationToken", "Delimiter",
				"EncodingType", "IsTruncated", "KeyCount", "MaxKeys", "Name", "NextContinuationToken",
				"Prefix", "StartAfter")
		}
		if err != nil {
			return ListPage{}, errNotPlain
		}
	}
	p.space()
	switch {
	case p.i != len(p.b):
		return ListPage{}, errNotPlain
	case p.urlSaid != p.url:
		return ListPage{}, errOtherEncoding
	case p.badURL:
		return ListPage{}, errNotPlain // List's error to give, from the SDK's page
	}
	if truncated {
		page.NextToken = token
	}
	if page.Objects == nil {
		page.Objects = []ObjectInfo{} // as List makes it from the SDK's page
	}
	return page, nil
}

// object reads a Contents element's children, up to its end tag.
func (p *listParser) object() (ObjectInfo, error) {
	var o ObjectInfo
	for {
		name, end, ok := p.child()
		switch {
		case !ok:
			return o, errNotPlain
		case end:
			if name != "Contents" {
				return o, errNotPlain
			}
			return o, nil
		}
		var err error
		switch name {
		case "Key":
			if err = p.value(name); err == nil {
				o.Key, err = p.keyString()
			}
		case "Size":
			if err = p.value(name); err == nil {
				o.Size, err = parseInt64(p.scratch)
			}
		case "ETag":
			if err = p.value(name); err == nil {
				o.ETag = string(p.scratch)
			}
		case "LastModified":
			if err = p.value(name); err == nil {
				o.LastModified, err = parseDateTime(p.scratch)
			}
		case "StorageClass", "ChecksumAlgorithm", "ChecksumType":
			err = p.value(name)
		case "Owner":
			err = p.owner()
		default:
			// RestoreStatus too: it has a boolean and a date to check.
			err = p.unknown(name, "ChecksumAlgorithm", "ChecksumType", "ETag", "Key", "LastModified",
				"Owner", "RestoreStatus", "Size", "StorageClass")
		}
		if err != nil {
			return o, err
		}
	}
}

// commonPrefix reads a CommonPrefixes element's children; seen is false
// when it had no Prefix.
func (p *listParser) commonPrefix() (pre string, seen bool, err error) {
	for {
		name, end, ok := p.child()
		switch {
		case !ok:
			return "", false, errNotPlain
		case end:
			if name != "CommonPrefixes" {
				return "", false, errNotPlain
			}
			return pre, seen, nil
		}
		if name == "Prefix" {
			if err := p.value(name); err != nil {
				return "", false, err
			}
			if pre, err = p.keyString(); err != nil {
				return "", false, err
			}
			seen = true
			continue
		}
		if err := p.unknown(name, "Prefix"); err != nil {
			return "", false, err
		}
	}
}

func (p *listParser) owner() error {
	for {
		name, end, ok := p.child()
		switch {
		case !ok:
			return errNotPlain
		case end:
			if name != "Owner" {
				return errNotPlain
			}
			return nil
		}
		var err error
		if name == "DisplayName" || name == "ID" {
			err = p.value(name)
		} else {
			err = p.unknown(name, "DisplayName", "ID")
		}
		if err != nil {
			return err
		}
	}
}

// unknown skips an element the SDK skips: one whose name is none of known
// in any case (the SDK matches names case-insensitively).
func (p *listParser) unknown(name string, known ...string) error {
	for _, k := range known {
		if strings.EqualFold(name, k) {
			return errNotPlain
		}
	}
	return p.skip(name)
}

// keyString is the value last read as a key: URL-decoded when the
// response said so.
func (p *listParser) keyString() (string, error) {
	if !p.url || bytes.IndexAny(p.scratch, "%+") < 0 {
		return string(p.scratch), nil
	}
	// Decoded in place: the result is never longer.
	n, ok := queryUnescapeInPlace(p.scratch)
	if !ok {
		p.badURL = true
		return "", nil
	}
	return string(p.scratch[:n]), nil
}

// child reads the whitespace and the next tag after it: a start tag
// (end false) or an end tag (end true). A self-closing tag or one with
// attributes is not plain: ok is false.
func (p *listParser) child() (name string, end, ok bool) {
	p.space()
	if p.i >= len(p.b) || p.b[p.i] != '<' {
		return "", false, false
	}
	p.i++
	if p.i < len(p.b) && p.b[p.i] == '/' {
		p.i++
		end = true
	}
	name, ok = p.name()
	if !ok {
		return "", false, false
	}
	p.space()
	if p.i >= len(p.b) || p.b[p.i] != '>' {
		return "", false, false
	}
	p.i++
	return name, end, true
}

// value reads the text of an element whose start tag was just read, up
// to and including its end tag, into p.scratch. Only text: an element or
// anything else inside is not plain (the SDK's decoder fails on it).
func (p *listParser) value(name string) error {
	if err := p.text(); err != nil {
		return err
	}
	return p.endTag(name)
}

func (p *listParser) endTag(name string) error {
	if !p.consume("</") || !p.consume(name) {
		return errNotPlain
	}
	p.space()
	if !p.consume(">") {
		return errNotPlain
	}
	return nil
}

// skip reads past the end of the element whose start tag was just read:
// text and elements without attributes.
func (p *listParser) skip(name string) error {
	for {
		if err := p.text(); err != nil {
			return err
		}
		if p.i+1 < len(p.b) && p.b[p.i+1] == '/' {
			return p.endTag(name)
		}
		inner, end, ok := p.child()
		if !ok || end {
			return errNotPlain
		}
		if err := p.skip(inner); err != nil {
			return err
		}
	}
}

// text decodes character data up to the next '<' into p.scratch as
// encoding/xml does: the five named entities and character references,
// CR and CRLF read as LF; it is not plain when encoding/xml would refuse
// it (invalid UTF-8, a character XML does not allow, "]]>") or when it
// holds a character reference encoding/xml would turn into U+FFFD.
func (p *listParser) text() error {
	p.scratch = p.scratch[:0]
	b := p.b
	i := p.i
	for {
		// A run of plain ASCII: copied as it is.
		j := i
		for j < len(b) {
			c := b[j]
			if c < 0x20 || c >= 0x7f || c == '&' || c == '<' || c == '>' {
				break
			}
			j++
		}
		p.scratch = append(p.scratch, b[i:j]...)
		i = j
		if i >= len(b) {
			return errNotPlain // no end tag
		}
		c := b[i]
		switch {
		case c == '<':
			p.i = i
			return nil
		case c == '>':
			if i >= 2 && b[i-1] == ']' && b[i-2] == ']' {
				return errNotPlain
			}
			p.scratch = append(p.scratch, '>')
			i++
		case c == '&':
			r, n := charRef(b[i:])
			if n == 0 {
				return errNotPlain
			}
			p.scratch = utf8.AppendRune(p.scratch, r)
			i += n
		case c == '\r':
			p.scratch = append(p.scratch, '\n')
			i++
			if i < len(b) && b[i] == '\n' {
				i++
			}
		case c == '\t' || c == '\n':
			p.scratch = append(p.scratch, c)
			i++
		case c < 0x80: // other control characters, DEL
			if c < 0x20 {
				return errNotPlain
			}
			p.scratch = append(p.scratch, c)
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 || !xmlChar(r) {
				return errNotPlain
			}
			p.scratch = append(p.scratch, b[i:i+n]...)
			i += n
		}
	}
}

// charRef decodes the entity or character reference at the start of b;
// n is 0 when it is not one encoding/xml decodes to itself.
func charRef(b []byte) (r rune, n int) {
	end := bytes.IndexByte(b, ';')
	if end < 2 || end > 12 {
		return 0, 0
	}
	ref := b[1:end]
	switch string(ref) {
	case "lt":
		return '<', end + 1
	case "gt":
		return '>', end + 1
	case "amp":
		return '&', end + 1
	case "apos":
		return '\'', end + 1
	case "quot":
		return '"', end + 1
	}
	if ref[0] != '#' {
		return 0, 0
	}
	digits, base := ref[1:], uint64(10)
	if len(digits) > 0 && digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 || len(digits) > 8 {
		return 0, 0
	}
	var v uint64
	for _, c := range digits {
		var d uint64
		switch {
		case '0' <= c && c <= '9':
			d = uint64(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = uint64(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, 0
		}
		v = v*base + d
	}
	if v > utf8.MaxRune || !xmlChar(rune(v)) {
		return 0, 0
	}
	return rune(v), end + 1
}

// xmlChar: XML 1.0's Char production (encoding/xml's isInCharacterRange),
// surrogates excluded.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// name reads an element name: ASCII letters, digits, '_', '-', '.',
// not starting with a digit, '-' or '.'.
func (p *listParser) name() (string, bool) {
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' ||
			p.i > start && ('0' <= c && c <= '9' || c == '-' || c == '.') {
			p.i++
			continue
		}
		break
	}
	if p.i == start {
		return "", false
	}
	return internName(p.b[start:p.i]), true
}

// internName returns the names S3 sends without allocating.
func internName(b []byte) string {
	switch string(b) {
	case "Contents":
		return "Contents"
	case "Key":
		return "Key"
	case "LastModified":
		return "LastModified"
	case "ETag":
		return "ETag"
	case "Size":
		return "Size"
	case "StorageClass":
		return "StorageClass"
	case "CommonPrefixes":
		return "CommonPrefixes"
	case "Prefix":
		return "Prefix"
	case "Owner":
		return "Owner"
	case "ID":
		return "ID"
	case "DisplayName":
		return "DisplayName"
	case "ChecksumAlgorithm":
		return "ChecksumAlgorithm"
	case "ChecksumType":
		return "ChecksumType"
	}
	return string(b)
}

// rootAttrs reads the rest of the root's start tag: attributes (the
// namespace) with values of plain ASCII, no entities.
func (p *listParser) rootAttrs() bool {
	for {
		sp := p.space()
		if p.consume(">") {
			return true
		}
		if !sp {
			return false
		}
		start := p.i
		for p.i < len(p.b) && (isNameByte(p.b[p.i]) || p.b[p.i] == ':') {
			p.i++
		}
		if p.i == start || !isNameStart(p.b[start]) || !p.consume("=") {
			return false
		}
		if p.i >= len(p.b) || p.b[p.i] != '"' && p.b[p.i] != '\'' {
			return false
		}
		q := p.b[p.i]
		p.i++
		for p.i < len(p.b) && p.b[p.i] != q {
			if c := p.b[p.i]; c < 0x20 || c >= 0x7f || c == '<' || c == '&' {
				return false
			}
			p.i++
		}
		if p.i >= len(p.b) {
			return false
		}
		p.i++
	}
}

func isNameStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

func isNameByte(c byte) bool {
	return isNameStart(c) || '0' <= c && c <= '9' || c == '-' || c == '.'
}

// space skips XML whitespace; it reports whether there was any.
func (p *listParser) space() bool {
	start := p.i
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
			continue
		}
		break
	}
	return p.i > start
}

func (p *listParser) consume(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// plainDeclaration: an XML declaration encoding/xml reads as this
// parser does (version 1.0, UTF-8).
func plainDeclaration(d []byte) bool {
	switch string(d) {
	case `<?xml version="1.0" encoding="UTF-8"?>`, `<?xml version="1.0" encoding="utf-8"?>`,
		`<?xml version="1.0"?>`, `<?xml version='1.0' encoding='UTF-8'?>`:
		return true
	}
	return false
}

// parseBool is strconv.ParseBool without the string.
func parseBool(b []byte) (bool, error) {
	switch string(b) {
	case "1", "t", "T", "TRUE", "true", "True":
		return true, nil
	case "0", "f", "F", "FALSE", "false", "False":
		return false, nil
	}
	return false, errNotPlain
}

// parseInt64 is strconv.ParseInt(s, 10, 64) for plain decimal digits
// (an optional sign and at most 18 digits: no overflow to check); other
// forms go to strconv.
func parseInt64(b []byte) (int64, error) {
	d := b
	neg := false
	if len(d) > 0 && (d[0] == '-' || d[0] == '+') {
		neg, d = d[0] == '-', d[1:]
	}
	if len(d) == 0 || len(d) > 18 {
		return strconv.ParseInt(string(b), 10, 64)
	}
	var v int64
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, errNotPlain
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, nil
}

// parseDateTime is smithy's ParseDateTime (what the SDK decodes
// LastModified with), without allocating for the form S3 servers send:
// 2006-01-02T15:04:05Z with up to 9 digits of fraction.
func parseDateTime(b []byte) (time.Time, error) {
	if t, ok := plainDateTime(b); ok {
		return t, nil
	}
	return smithytime.ParseDateTime(string(b))
}

func plainDateTime(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' ||
		b[len(b)-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(s []byte) (int, bool) {
		v := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	minute, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(time.Month(month), year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		f, ok := num(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for k := len(frac) - 1; k < 9; k++ {
			f *= 10
		}
		nsec = f
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// queryUnescapeInPlace is url.QueryUnescape over b, in place; n is the
// decoded length, ok false where QueryUnescape fails.
func queryUnescapeInPlace(b []byte) (n int, ok bool) {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '%':
			if i+2 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) {
				return 0, false
			}
			b[n] = unhex(b[i+1])<<4 | unhex(b[i+2])
			i += 2
		case '+':
			b[n] = ' '
		default:
			b[n] = c
		}
		n++
	}
	return n, true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
