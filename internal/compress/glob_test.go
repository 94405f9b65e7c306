package compress

import (
	"os/exec"
	"path"
	"strings"
	"testing"
)

// TestGlobMatchesAsTheShell compares Glob's patterns with bash's own
// matching (`case`) of the same names: --compress-glob is documented as a
// shell pattern.
func TestGlobMatchesAsTheShell(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash is needed as the oracle: %v", err)
	}
	patterns := []string{
		"*.log", "access.*", "*.[!0-9]", "*.[^0-9]", "[!a]*", "x[]]y", "x[!]]y", "[-a]", "[a-]",
		"?.log", `a\*b`, `a\[b`, "a[b", "[!]", "[a-c]-[x-z]", "*[.]log", "log[[]", "[*]", "[\\]]x", "]x", "a]",
	}
	names := []string{
		"access.log", "access.1", "access.x", "a.log", "ab.log", "x]y", "xay", "x!y", "-", "a", "b", "!",
		"a*b", "axb", "a[b", "ab", "b-y", "a-z", "c-x", "d-x", "app.log", "log[", "*", "]x", "\\x", ".log",
	}
	for _, p := range patterns {
		g, err := Glob(p)
		if err != nil {
			t.Fatalf("Glob(%q): %v", p, err)
		}
		for _, n := range names {
			out, err := exec.Command(bash, "-c", `case "$1" in $2) echo y;; *) echo n;; esac`, "-", n, p).Output()
			if err != nil {
				t.Fatalf("bash: %v", err)
			}
			want := strings.TrimSpace(string(out)) == "y"
			got, err := path.Match(g, n)
			if err != nil {
				t.Fatalf("path.Match(%q): %v", g, err)
			}
			if got != want {
				t.Errorf("pattern %q (as %q) on %q: matched %v, bash says %v", p, g, n, got, want)
			}
		}
	}
}

func TestGlobRefuses(t *testing.T) {
	for _, p := range []string{"", "*.[[:digit:]]"} {
		if g, err := Glob(p); err == nil {
			t.Errorf("Glob(%q) = %q, want an error", p, g)
		}
	}
}

// FuzzGlob: any input gives an error or a pattern path.Match accepts, and
// a pattern without brackets is taken as it is.
func FuzzGlob(f *testing.F) {
	for _, s := range []string{"*.log", "[!a]", "x[]]y", "a[b", `\`, "[-]", "[a-]", "[\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := Glob(s)
		if err != nil {
			return
		}
		if _, merr := path.Match(g, "name"); merr != nil {
			t.Fatalf("Glob(%q) = %q, which path.Match refuses: %v", s, g, merr)
		}
		if !strings.ContainsAny(s, "[]") && g != s {
			t.Fatalf("Glob(%q) = %q: changed a pattern without brackets", s, g)
		}
	})
}
