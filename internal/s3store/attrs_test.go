package s3store

import (
	"testing"
	"time"
)

// Attrs are written as s3fs writes them and read back from any case of
// header name; values that do not parse are never guessed.
func TestAttrsMetadata(t *testing.T) {
	a := Attrs{Mode: 0o100640, UID: 33, GID: 4, Mtime: time.Unix(1700000000, 250000000)}
	md := a.Metadata()
	want := map[string]string{"mode": "33184", "uid": "33", "gid": "4", "mtime": "1700000000.25"}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, md[k], v)
		}
	}
	back := AttrsOf(map[string]string{"Mode": "33184", "Uid": "33", "GID": "4", "Mtime": "1700000000.25"})
	if back == nil || *back != a && !(back.Mode == a.Mode && back.UID == a.UID && back.GID == a.GID && back.Mtime.Equal(a.Mtime)) {
		t.Fatalf("read back %+v, want %+v", back, a)
	}
	// s3fs's own form: whole seconds.
	if got := AttrsOf(map[string]string{"mode": "33261", "mtime": "1699999999"}); got == nil || got.Mode != 0o100755 || !got.Mtime.Equal(time.Unix(1699999999, 0)) {
		t.Fatalf("s3fs metadata read as %+v", got)
	}
	for _, md := range []map[string]string{nil, {"uid": "1"}, {"mode": "rwx"}, {"mode": "-1"}, {"mode": "99999999999"}} {
		if got := AttrsOf(md); got != nil {
			t.Errorf("AttrsOf(%v) = %+v, want nil", md, got)
		}
	}
	// A device node carries its number (s3fs's x-amz-meta-rdev).
	dev := Attrs{Mode: 0o20660, Rdev: 0x0103}
	if got := AttrsOf(dev.Metadata()); got == nil || got.Rdev != 0x0103 || got.Mode != 0o20660 {
		t.Errorf("device node read back as %+v", got)
	}
	if _, ok := (Attrs{Mode: 0o100644}).Metadata()[RdevMetadataKey]; ok {
		t.Error("a regular file carries rdev")
	}
	if got := AttrsOf(map[string]string{"mode": "33188", "uid": "x", "mtime": "1e9"}); got == nil || got.UID != 0 || !got.Mtime.IsZero() {
		t.Errorf("bad uid and mtime read as %+v, want zero values", got)
	}
}

func FuzzAttrsOf(f *testing.F) {
	f.Add("33188", "0", "0", "1700000000.5")
	f.Add("16877", "x", "-1", "9999999999999999999")
	f.Fuzz(func(t *testing.T, mode, uid, gid, mtime string) {
		a := AttrsOf(map[string]string{"mode": mode, "uid": uid, "gid": gid, "mtime": mtime})
		if a == nil {
			return
		}
		b := AttrsOf(a.Metadata())
		if b == nil || b.Mode != a.Mode || b.Rdev != a.Rdev || b.UID != a.UID || b.GID != a.GID || !b.Mtime.Equal(a.Mtime) {
			t.Fatalf("round trip %+v -> %v -> %+v", a, a.Metadata(), b)
		}
	})
}
