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
	// Trailer: the size is not in the metadata but in the object's last
	// bytes (compress.Trailer): on a directory bucket, appends cannot
	// change metadata. The size key then says "trailer" (Size is 0), which
	// a reader that knows no trailers takes for no mark: it shows the
	// object as it is rather than at a stale size.
	Trailer bool
}

// TrailerSizeValue is the size key's value of an Encoding with Trailer.
const TrailerSizeValue = "trailer"

func (e Encoding) metadata(md map[string]string) {
	md[EncodingMetadataKey] = e.Name
	if e.Trailer {
		md[RawSizeMetadataKey] = TrailerSizeValue
		return
	}
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
	if strings.TrimSpace(v) == TrailerSizeValue {
		return &Encoding{Name: strings.TrimSpace(name), Trailer: true}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return nil
	}
	return &Encoding{Name: strings.TrimSpace(name), Size: n}
}
