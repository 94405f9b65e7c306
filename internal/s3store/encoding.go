package s3store

import (
	"strconv"
	"strings"
)

// The user-metadata keys that mark an object s3mount wrote compressed
// (--compress): x-amz-meta-s3mount-encoding ("gzip" or "zstd") and
// x-amz-meta-s3mount-size, the uncompressed size, so stat needs one HEAD.
const (
	EncodingMetadataKey = "s3mount-encoding"
	RawSizeMetadataKey  = "s3mount-size"
)

// Encoding marks a compressed object: its codec and uncompressed size.
type Encoding struct {
	Name string
	Size int64
}

func (e Encoding) metadata(md map[string]string) {
	md[EncodingMetadataKey] = e.Name
	md[RawSizeMetadataKey] = strconv.FormatInt(e.Size, 10)
}

// EncodingOf reads the mark from response metadata; nil when the object
// carries none (or one that does not parse: shown as it is).
func EncodingOf(md map[string]string) *Encoding {
	name, ok := metaValue(md, EncodingMetadataKey)
	if !ok {
		return nil
	}
	v, ok := metaValue(md, RawSizeMetadataKey)
	if !ok {
		return nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return nil
	}
	return &Encoding{Name: strings.TrimSpace(name), Size: n}
}
