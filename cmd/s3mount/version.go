package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Set by the Makefile: -ldflags "-X main.version=... -X main.commit=...
// -X main.date=...". A plain `go build` leaves them empty and versionText
// takes what the Go toolchain recorded instead.
var version, commit, date string

// defaultVersion is the version of a build from an untagged tree.
const defaultVersion = "0.1.0-dev"

// versionText is the --version output.
func versionText() string {
	bi, _ := debug.ReadBuildInfo()
	return formatVersion(version, commit, date, bi)
}

// formatVersion fills what -ldflags did not set from the build info: the
// module version of a tagged tree (go build stamps it), the VCS revision
// (-dirty when the tree had changes) and its commit time.
func formatVersion(v, c, d string, bi *debug.BuildInfo) string {
	goVersion := "unknown"
	if bi != nil {
		goVersion = bi.GoVersion
		if mv := bi.Main.Version; v == "" && mv != "" && mv != "(devel)" && !strings.HasPrefix(mv, "v0.0.0-") {
			v = strings.TrimPrefix(mv, "v")
		}
		s := map[string]string{}
		for _, kv := range bi.Settings {
			s[kv.Key] = kv.Value
		}
		if c == "" && s["vcs.revision"] != "" {
			c = s["vcs.revision"]
			if s["vcs.modified"] == "true" {
				c += "-dirty"
			}
		}
		if d == "" && s["vcs.time"] != "" {
			d = s["vcs.time"] + " (commit time)"
		}
	}
	return fmt.Sprintf("s3mount %s\ncommit: %s\nbuilt: %s\ngo: %s\n",
		orDefault(v, defaultVersion), orDefault(c, "unknown"), orDefault(d, "unknown"), goVersion)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
