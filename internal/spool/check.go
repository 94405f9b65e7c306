package spool

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxJournalSize bounds a journal file: ours are a few hundred bytes, so
// a larger one is damage, and reading it whole must not exhaust memory.
const maxJournalSize = 64 << 10

// maxOffset bounds every offset and size in a journal: far above any S3
// object, and far enough from overflow that sums of two never wrap.
const maxOffset = 1 << 53

// maxKeyLen is S3's limit on a key, in bytes.
const maxKeyLen = 1024

// maxExpressParts: S3 Express objects hold at most 10,000 parts.
const maxExpressParts = 10000

// decodeJournal parses a journal file: exactly one JSON object with the
// fields of Journal, each of its type (trailing bytes are damage).
func decodeJournal(b []byte) (Journal, error) {
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return Journal{}, fmt.Errorf("not a journal: not a JSON object")
	}
	var j Journal
	if err := json.Unmarshal(b, &j); err != nil {
		return Journal{}, fmt.Errorf("not a journal: %w", err)
	}
	if j.Kind == KindAppend && j.Exists && j.BaseSize == 0 && j.Dirty && j.Base == BaseOwn {
		// Before Base, Dirty on an append meant a claimed object to
		// replace (publish.ClaimLeft).
		j.Base, j.Dirty = BaseReplaced, false
	}
	return j, nil
}

// Check reports what makes j a journal the spool could not have written,
// for a mount whose keys start with prefix: the invariants the rest of the
// code relies on (offsets in order, a key that names a file under the
// prefix). Recovery refuses such a journal instead of publishing it.
func (j Journal) Check(prefix string) error {
	if err := CheckKey(j.Key, prefix); err != nil {
		return fmt.Errorf("key: %w", err)
	}
	if j.RenamedFrom != "" {
		if err := CheckKey(j.RenamedFrom, prefix); err != nil {
			return fmt.Errorf("renamed_from: %w", err)
		}
	}
	for _, k := range j.LeftKeys {
		if err := CheckKey(k.Key, prefix); err != nil {
			return fmt.Errorf("left_keys: %w", err)
		}
		if k.Object != "" && !strings.HasPrefix(k.Object, k.Key) {
			return fmt.Errorf("left_keys: object %q is not a form of %q", k.Object, k.Key)
		}
	}
	if j.MoveDoubt != nil {
		if err := CheckKey(j.MoveDoubt.Key, prefix); err != nil {
			return fmt.Errorf("move_doubt: %w", err)
		}
	}
	if j.Yielding != nil {
		if err := CheckKey(j.Yielding.Object, prefix); err != nil {
			return fmt.Errorf("yielding: %w", err)
		}
	}
	if j.Kind != KindAppend && j.Kind != KindWhole {
		return fmt.Errorf("kind %q is neither %q nor %q", j.Kind, KindAppend, KindWhole)
	}
	if j.Base != BaseOwn && (j.Base != BaseReplaced || !j.Exists || j.BaseSize != 0) {
		return fmt.Errorf("base %q with exists %v and base_size %d", j.Base, j.Exists, j.BaseSize)
	}
	if j.FormCheck != "" && j.FormCheck != KindAppend && j.FormCheck != KindWhole {
		return fmt.Errorf("form_check %q is neither %q nor %q", j.FormCheck, KindAppend, KindWhole)
	}
	for _, v := range []struct {
		name string
		v    int64
	}{{"base_size", j.BaseSize}, {"local_start", j.LocalStart}, {"size", j.Size}, {"pending", j.Pending}, {"pub_seq", j.PubSeq}} {
		if v.v < 0 || v.v > maxOffset {
			return fmt.Errorf("%s %d is out of range [0, 2^53]", v.name, v.v)
		}
	}
	// Unix nanoseconds; later ones are given out after it, so it must
	// leave room to count on (2^62 is the year 2116).
	if j.Created < 0 || j.Created > 1<<62 {
		return fmt.Errorf("created %d is out of range [0, 2^62]", j.Created)
	}
	if j.Shift < -maxOffset || j.Shift > maxOffset {
		return fmt.Errorf("shift %d is out of range", j.Shift)
	}
	if c := j.MapCheck; c != nil && (c.From < 0 || c.From >= c.To || c.To > maxOffset || c.Rec < 0) {
		return fmt.Errorf("map_check [%d, %d) (record %d) is not a range in [0, 2^53]", c.From, c.To, c.Rec)
	}
	if j.ExpressParts < 0 || j.ExpressParts > maxExpressParts {
		return fmt.Errorf("express_parts %d is out of range [0, %d]", j.ExpressParts, maxExpressParts)
	}
	if j.LocalStart > j.Size {
		return fmt.Errorf("local_start %d is past size %d", j.LocalStart, j.Size)
	}
	if j.Pending > j.Size {
		return fmt.Errorf("pending %d is past size %d", j.Pending, j.Size)
	}
	if j.LocalStart < j.Shift {
		return fmt.Errorf("local_start %d is below shift %d: its bytes would be before the data file's start", j.LocalStart, j.Shift)
	}
	return nil
}

// CheckKey reports what makes key unlike any key a mount with prefix
// writes: empty, longer than S3 takes, not UTF-8, a NUL, outside the
// prefix, or not a file path below it (an empty, "." or ".." component,
// a leading or trailing "/").
func CheckKey(key, prefix string) error {
	switch {
	case key == "":
		return fmt.Errorf("empty")
	case len(key) > maxKeyLen:
		return fmt.Errorf("%d bytes long, over S3's %d", len(key), maxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%q is not UTF-8", key)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("%q holds a NUL", key)
	case !strings.HasPrefix(key, prefix):
		return fmt.Errorf("%q is outside the mount's prefix %q", key, prefix)
	}
	rel := key[len(prefix):]
	if rel == "" {
		return fmt.Errorf("%q is the mount's prefix itself", key)
	}
	for _, c := range strings.Split(rel, "/") {
		if c == "" || c == "." || c == ".." {
			return fmt.Errorf("%q has a %q component: not a file path", key, c)
		}
	}
	return nil
}
