package config

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"
)

// exactSize is the value s names, computed exactly (nil: not a number
// with a known unit): the oracle that parseSize neither clamps nor
// rounds more than float64 must.
func exactSize(s string, bare int64) *big.Rat {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult := bare
	if unit != "" {
		m, ok := sizeUnits[unit]
		if !ok {
			return nil
		}
		mult = m
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return nil
	}
	return r.Mul(r, new(big.Rat).SetInt64(mult))
}

// Sizes ("25m", "1.5GiB", a bare number of bytes or MiB): never a panic;
// an accepted size is the value written (not clamped: off by at most half
// a byte or float64's precision), never negative, and formatSize writes
// it back exactly; a size past int64 is refused.
func FuzzSize(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string, mib bool) {
		bare := int64(1)
		if mib {
			bare = 1 << 20
		}
		n, ok := parseSize(s, bare)
		exact := exactSize(s, bare)
		if !ok {
			return
		}
		if exact == nil {
			t.Fatalf("parseSize(%q) = %d, but it is not a size", s, n)
		}
		if n < 0 {
			t.Fatalf("parseSize(%q) = %d: negative", s, n)
		}
		diff := new(big.Rat).Sub(exact, new(big.Rat).SetInt64(n))
		diff.Abs(diff)
		tol := new(big.Rat).Mul(exact, big.NewRat(1, 1<<52))
		tol.Add(tol, big.NewRat(1, 2))
		if diff.Cmp(tol) > 0 {
			t.Fatalf("parseSize(%q) = %d, but it says %s", s, n, exact.FloatString(3))
		}
		back, ok := parseSize(formatSize(n), bare)
		if !ok || back != n {
			t.Fatalf("parseSize(%q) = %d, written %q, read back %d (%v)", s, n, formatSize(n), back, ok)
		}
	})
}

// Durations (Go durations or whole seconds): never a panic; an accepted
// one is what was written (no overflow, no clamp), not negative, and
// formatDuration writes it back exactly.
func FuzzDuration(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration("close-delay", s)
		if err != nil {
			if !strings.Contains(err.Error(), "--close-delay") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error for %q is not one line naming the flag: %v", s, err)
			}
			return
		}
		if d < 0 {
			t.Fatalf("parseDuration(%q) = %v: negative", s, d)
		}
		tr := strings.TrimSpace(s)
		if n, err := strconv.ParseInt(tr, 10, 64); err == nil {
			if n > math.MaxInt64/int64(time.Second) || d != time.Duration(n)*time.Second {
				t.Fatalf("parseDuration(%q) = %v, want %d seconds", s, d, n)
			}
		} else if want, err := time.ParseDuration(tr); err != nil || d != want {
			t.Fatalf("parseDuration(%q) = %v, time.ParseDuration says %v (%v)", s, d, want, err)
		}
		back, err := parseDuration("close-delay", formatDuration(d))
		if err != nil || back != d {
			t.Fatalf("parseDuration(%q) = %v, written %q, read back %v (%v)", s, d, formatDuration(d), back, err)
		}
	})
}

// TTLs add "minimal" and "indefinite" and a 100-year bound: a longer
// one is refused, not clamped.
func FuzzTTL(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseTTL("metadata-ttl", s)
		if err != nil {
			return
		}
		if d != Indefinite && (d < 0 || d > maxTTL) {
			t.Fatalf("parseTTL(%q) = %v: out of range", s, d)
		}
		if d == Indefinite && strings.TrimSpace(s) != "indefinite" {
			t.Fatalf("parseTTL(%q) = indefinite", s)
		}
		back, err := parseTTL("metadata-ttl", formatTTL(d))
		if err != nil || back != d {
			t.Fatalf("parseTTL(%q) = %v, written %q, read back %v (%v)", s, d, formatTTL(d), back, err)
		}
	})
}
