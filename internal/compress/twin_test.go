package compress

import "testing"

// The other name stored under one S3 object: a compressed NAME and a
// plain NAME.gz (NAME.zst with zstd) share it; other plain names, and a
// name that is the extension alone, share it with nobody.
func TestTwin(t *testing.T) {
	for _, c := range []struct {
		codec      Codec
		key        string
		compressed bool
		other      string
		ok         bool
	}{
		{Gzip, "access.log", true, "access.log.gz", true},
		{Gzip, "logs/access.log", true, "logs/access.log.gz", true},
		{Gzip, "access.log.gz", true, "access.log.gz.gz", true},
		{Gzip, "access.log.gz", false, "access.log", true},
		{Gzip, "logs/access.log.1.gz", false, "logs/access.log.1", true},
		{Gzip, "access.log", false, "", false},
		{Gzip, "access.log.zst", false, "", false},
		{Gzip, ".gz", false, "", false},
		{Gzip, "logs/.gz", false, "", false},
		{Gzip, "logs.gz/x", false, "", false},
		{Gzip, "a.gz", false, "a", true},
		{Zstd, "access.log", true, "access.log.zst", true},
		{Zstd, "access.log.zst", false, "access.log", true},
		{Zstd, "access.log.gz", false, "", false},
		{Zstd, "logs/.zst", false, "", false},
	} {
		other, ok := c.codec.Twin(c.key, c.compressed)
		if other != c.other || ok != c.ok {
			t.Errorf("%s Twin(%q, compressed %v) = %q, %v; want %q, %v", c.codec, c.key, c.compressed, other, ok, c.other, c.ok)
		}
	}
}
