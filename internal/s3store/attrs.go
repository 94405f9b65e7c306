package s3store

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// The user-metadata keys of Attrs (headers x-amz-meta-mode, ...), s3fs's.
const (
	ModeMetadataKey  = "mode"
	UIDMetadataKey   = "uid"
	GIDMetadataKey   = "gid"
	MtimeMetadataKey = "mtime"
	RdevMetadataKey  = "rdev" // device nodes only
)

// Metadata is a's user metadata: decimal values, mtime in seconds (with a
// fraction when it has one; s3fs reads the whole seconds).
func (a Attrs) Metadata() map[string]string {
	md := map[string]string{
		ModeMetadataKey: strconv.FormatUint(uint64(a.Mode), 10),
		UIDMetadataKey:  strconv.FormatUint(uint64(a.UID), 10),
		GIDMetadataKey:  strconv.FormatUint(uint64(a.GID), 10),
	}
	if !a.Mtime.IsZero() {
		s := strconv.FormatInt(a.Mtime.Unix(), 10)
		if ns := a.Mtime.Nanosecond(); ns != 0 {
			s += "." + strings.TrimRight(strconv.FormatInt(int64(ns)+1e9, 10)[1:], "0")
		}
		md[MtimeMetadataKey] = s
	}
	if a.Rdev != 0 {
		md[RdevMetadataKey] = strconv.FormatUint(uint64(a.Rdev), 10)
	}
	return md
}

// AttrsOf reads Attrs from response metadata (keys in any case, as
// servers return them). nil when the object carries no mode: without one
// the other values are not ours to trust. A value that does not parse is
// left at zero, never guessed.
func AttrsOf(md map[string]string) *Attrs {
	get := func(key string) (string, bool) {
		v, ok := metaValue(md, key)
		return strings.TrimSpace(v), ok
	}
	mode, ok := get(ModeMetadataKey)
	if !ok {
		return nil
	}
	m, err := strconv.ParseUint(mode, 10, 32)
	if err != nil {
		return nil
	}
	a := &Attrs{Mode: uint32(m)}
	if v, ok := get(UIDMetadataKey); ok {
		if u, err := strconv.ParseUint(v, 10, 32); err == nil {
			a.UID = uint32(u)
		}
	}
	if v, ok := get(GIDMetadataKey); ok {
		if g, err := strconv.ParseUint(v, 10, 32); err == nil {
			a.GID = uint32(g)
		}
	}
	if v, ok := get(MtimeMetadataKey); ok {
		a.Mtime = parseSeconds(v)
	}
	if v, ok := get(RdevMetadataKey); ok {
		if r, err := strconv.ParseUint(v, 10, 32); err == nil {
			a.Rdev = uint32(r)
		}
	}
	return a
}

// parseSeconds reads "1700000000" or "1700000000.25" (zero time when it
// does not parse or is out of range).
func parseSeconds(v string) time.Time {
	sec, frac, _ := strings.Cut(v, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || s < 0 || s > math.MaxInt64/int64(time.Second) {
		return time.Time{}
	}
	var ns int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		n, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil || n < 0 {
			return time.Time{}
		}
		ns = n
	}
	return time.Unix(s, ns)
}
