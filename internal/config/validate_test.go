package config

import (
	"strconv"
	"strings"
	"testing"
)

// A prefix is a plain path below the bucket: "." and ".." components, empty
// components, NUL, a leading '/' and more than 1,024 bytes are refused with
// one clear line, from --prefix, -o prefix= and an s3:// URI alike.
func TestPrefixMustBeAPlainPath(t *testing.T) {
	long := strings.Repeat("a/", 512) + "b/"
	cases := []struct {
		prefix, why string
	}{
		{"../x/", `a prefix cannot have a ".." component`},
		{"../x", `a prefix cannot have a ".." component`},
		{"a/../b/", `a prefix cannot have a ".." component`},
		{"a/../../", `a prefix cannot have a ".." component`},
		{"../", `a prefix cannot have a ".." component`},
		{"./", `a prefix cannot have a "." component`},
		{"a/./b/", `a prefix cannot have a "." component`},
		{"a//b/", `a prefix cannot have an empty component ("//")`},
		{"a//", `a prefix cannot have an empty component ("//")`},
		{"a\x00b/", "a prefix cannot contain a NUL byte"},
		{"/a/", "a prefix does not start with '/'"},
		{long, "a prefix is at most 1024 bytes (S3's key length limit); this one has 1026"},
	}
	for _, c := range cases {
		for _, args := range [][]string{
			{"b-1", "/m", "--prefix", c.prefix},
			{"b-1", "/m", "-o", "prefix=" + c.prefix},
		} {
			_, err := Parse(args)
			want := "invalid value " + strconv.Quote(c.prefix) + " for --prefix: " + c.why
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Parse(%q): %v\nwant %s", args, err, want)
			} else if strings.Contains(err.Error(), "\n") {
				t.Errorf("Parse(%q): error is not one line: %q", args, err)
			}
		}
		if strings.HasPrefix(c.prefix, "/") {
			continue // s3://b-1//a/ has its own message, checked in TestErrors
		}
		uri := "s3://b-1/" + c.prefix
		_, err := Parse([]string{uri, "/m"})
		want := "invalid S3 URI " + strconv.Quote(uri) + ": " + c.why
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Parse(%q): %v\nwant %s", uri, err, want)
		}
	}
}

func TestPrefixAcceptsPlainPaths(t *testing.T) {
	for _, p := range []string{"logs/", "a/b/c/", "..a/b../", ".hidden/", "a b/é/", strings.Repeat("a/", 512)} {
		if o, err := Parse([]string{"b-1", "/m", "--prefix", p}); err != nil || o.Prefix != p {
			t.Errorf("--prefix %q: %v", p, err)
		}
		if o, err := Parse([]string{"s3://b-1/" + p, "/m"}); err != nil || o.Prefix != p {
			t.Errorf("s3://b-1/%s: %v", p, err)
		}
	}
}
