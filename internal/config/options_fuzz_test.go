package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// roundTrip checks what Parse accepted: Args writes it back as a command
// line that Parse turns into an equal Options. (Not for --help and
// --version, which stop before the options are complete: Args is for a
// mount.)
func roundTrip(t *testing.T, args []string, o *Options) {
	t.Helper()
	if o.Help || o.Version {
		return
	}
	again, err := Parse(o.Args())
	if err != nil {
		t.Fatalf("Parse(%q) accepted; its Args %q are refused: %v", args, o.Args(), err)
	}
	if !reflect.DeepEqual(o, again) {
		t.Fatalf("Parse(%q) = %+v\nits Args %q parse to %+v", args, o, o.Args(), again)
	}
}

// oneSentence: every error is one line (values are quoted, so a newline in
// one cannot break the log line or the terminal's).
func oneSentence(t *testing.T, args []string, err error) {
	t.Helper()
	if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\n\r") {
		t.Fatalf("Parse(%q): error %q is not one line", args, msg)
	}
}

// A whole command line (arguments separated by NUL, which argv cannot
// hold): never a panic; an error is one line; what is accepted round-trips
// through Args.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\x00")
		o, err := Parse(args)
		if err != nil {
			oneSentence(t, args, err)
			return
		}
		roundTrip(t, args, o)
	})
}

// escapeCommas writes parts as an -o list that splitCommas splits back.
func escapeCommas(parts []string) string {
	r := strings.NewReplacer(`\`, `\\`, `,`, `\,`, `"`, `\"`)
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = r.Replace(p)
	}
	return strings.Join(out, ",")
}

// The fstab form's -o list: never a panic; an error is one line; the
// accepted options round-trip through Args; the list's escapes round-trip
// through splitCommas.
func FuzzFstab(f *testing.F) {
	f.Fuzz(func(t *testing.T, list string) {
		if parts, err := splitCommas(list); err == nil {
			again, err := splitCommas(escapeCommas(parts))
			if err != nil || !slices.Equal(parts, again) {
				t.Fatalf("splitCommas(%q) = %q; escaped back as %q it is %q (%v)", list, parts, escapeCommas(parts), again, err)
			}
		}
		args := []string{"bucket-1", "/mnt/fstab", "-o", list}
		o, err := Parse(args)
		if err != nil {
			oneSentence(t, args, err)
			return
		}
		roundTrip(t, args, o)
	})
}

// s3://bucket/prefix/ URIs: never a panic; an accepted URI gives a valid
// bucket and a prefix that is empty or a clean path ending in '/', and the
// URI written back from them gives the same pair.
func FuzzS3URI(f *testing.F) {
	f.Fuzz(func(t *testing.T, uri string) {
		bucket, prefix, isURI, err := splitBucketArg(uri)
		if err != nil || !isURI {
			return
		}
		if err := checkBucket("bucket", bucket); err != nil {
			t.Fatalf("%q gives bucket %q: %v", uri, bucket, err)
		}
		if why := prefixProblem(prefix); why != "" || (prefix != "" && !strings.HasSuffix(prefix, "/")) {
			t.Fatalf("%q gives prefix %q: %s", uri, prefix, why)
		}
		b2, p2, _, err := splitBucketArg("s3://" + bucket + "/" + prefix)
		if err != nil || b2 != bucket || p2 != prefix {
			t.Fatalf("%q gives (%q, %q); written back it gives (%q, %q, %v)", uri, bucket, prefix, b2, p2, err)
		}
		args := []string{uri, "/mnt/uri"}
		o, err := Parse(args)
		if err != nil {
			t.Fatalf("Parse(%q): %v", args, err)
		}
		roundTrip(t, args, o)
	})
}
