package config

import (
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// badValue is the one sentence every malformed value produces.
func badValue(flag, value, expected string) error {
	return fmt.Errorf("invalid value %q for --%s: expected %s", value, flag, expected)
}

// Size units are powers of 1024; b/k/m/g/t with optional "b" or "ib" tail.
var sizeUnits = map[string]int64{
	"b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}

// parseSize parses "25m", "1g", "1.5GiB", "512k", "1048576b". A bare number
// is multiplied by bare (1 for byte flags, 1 MiB for Mountpoint's MiB flags).
func parseSize(s string, bare int64) (int64, bool) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" || strings.Count(num, ".") > 1 || num[0] == '.' || num[len(num)-1] == '.' {
		return 0, false
	}
	mult := bare
	if unit != "" {
		m, ok := sizeUnits[unit]
		if !ok {
			return 0, false
		}
		mult = m
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > math.MaxInt64/mult {
			return 0, false
		}
		return n * mult, true
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, false
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, false
	}
	return int64(math.Round(v)), true
}

func sizeBytes(flag, v string, min int64) (int64, error) {
	n, ok := parseSize(v, 1)
	if !ok || n < min {
		if ok && min > 0 {
			return 0, badValue(flag, v, fmt.Sprintf("a size of at least %s, like 25m or 1g", formatSize(min)))
		}
		return 0, badValue(flag, v, "a size like 25m or 1g")
	}
	return n, nil
}

// sizeMiB is for Mountpoint flags documented in MiB: a bare number is MiB.
func sizeMiB(flag, v string, min int64) (int64, error) {
	n, ok := parseSize(v, 1<<20)
	if !ok || n < min {
		return 0, badValue(flag, v, "a size in MiB like 512, or with a unit like 512m or 2g")
	}
	return n, nil
}

// formatSize prints the shortest exact form parseSize reads back, whatever
// the flag's bare unit.
func formatSize(n int64) string {
	for _, u := range []struct {
		s string
		m int64
	}{{"t", 1 << 40}, {"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}} {
		if n != 0 && n%u.m == 0 {
			return strconv.FormatInt(n/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10) + "b" // explicit: a bare number is MiB for some flags
}

// parseDuration takes Go durations ("10s", "1m", "500ms") and bare integers
// (seconds). Negative durations are refused.
func parseDuration(flag, v string) (time.Duration, error) {
	t := strings.TrimSpace(v)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n < 0 || n > int64(math.MaxInt64/time.Second) {
			return 0, badValue(flag, v, "a duration like 30s, 1m or 500ms")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil || d < 0 {
		return 0, badValue(flag, v, "a duration like 30s, 1m or 500ms")
	}
	return d, nil
}

// formatDuration prints whole seconds as a bare integer (the form Mountpoint
// uses) and anything finer as a Go duration.
func formatDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return d.String()
}

// maxTTL is Mountpoint's limit for a numeric TTL (100 years).
const maxTTL = 100 * 365 * 24 * time.Hour

// parseTTL takes "minimal", "indefinite", seconds, or a Go duration.
func parseTTL(flag, v string) (time.Duration, error) {
	switch strings.TrimSpace(v) {
	case "minimal":
		return Minimal, nil
	case "indefinite":
		return Indefinite, nil
	}
	d, err := parseDuration(flag, v)
	if err != nil || d > maxTTL {
		return 0, badValue(flag, v, "a number of seconds (at most 100 years), \"minimal\" or \"indefinite\"")
	}
	return d, nil
}

func formatTTL(d time.Duration) string {
	switch d {
	case Minimal:
		return "minimal"
	case Indefinite:
		return "indefinite"
	}
	return formatDuration(d)
}

// parseMode takes octal permission bits ("0755", "755").
func parseMode(flag, v string) (os.FileMode, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(v), "0o"), 8, 32)
	if err != nil || n > 0o777 {
		return 0, badValue(flag, v, "octal permission bits like 0755 (at most 0777)")
	}
	return os.FileMode(n), nil
}

func parseID(flag, v string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	if err != nil || n == math.MaxUint32 { // (uid_t)-1 means "no change" to the kernel
		return 0, badValue(flag, v, "a numeric id like 1000")
	}
	return uint32(n), nil
}

func parsePositiveInt(flag, v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 {
		return 0, badValue(flag, v, "a whole number of at least 1")
	}
	return n, nil
}

func parsePositiveFloat(flag, v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return 0, badValue(flag, v, "a positive number like 10 or 2.5")
	}
	return f, nil
}

func parseChoice(flag, v string, choices ...string) (string, error) {
	for _, c := range choices {
		if v == c {
			return v, nil
		}
	}
	return "", badValue(flag, v, "one of "+strings.Join(choices, ", "))
}

func parseBool(flag, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("option --%s takes no value (got %q)", flag, v)
}

func parseHostPort(flag, v string) (string, error) {
	host, port, err := net.SplitHostPort(v)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil || strings.ContainsAny(host, " /") {
		return "", badValue(flag, v, "an address like 127.0.0.1:9464 or :9464")
	}
	return v, nil
}
