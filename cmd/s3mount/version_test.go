package main

import (
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/s3mount/s3mount/internal/testenv"
)

// TestVersionMakefile: `make build` stamps the version, commit and build
// date it is given into s3mount --version (and -V).
func TestVersionMakefile(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bindir := t.TempDir()
	mk := exec.Command("make", "-s", "-C", root, "build", "BINDIR="+bindir,
		"VERSION=9.8.7-test", "COMMIT=c0ffee123456", "DATE=2001-02-03T04:05:06Z")
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	for _, flag := range []string{"--version", "-V"} {
		out, err := exec.Command(filepath.Join(bindir, "s3mount"), flag).Output()
		if err != nil {
			t.Fatalf("s3mount %s: %v", flag, err)
		}
		want := "s3mount 9.8.7-test\ncommit: c0ffee123456\nbuilt: 2001-02-03T04:05:06Z\ngo: go"
		if !strings.HasPrefix(string(out), want) {
			t.Fatalf("s3mount %s:\n%s\nwant it to begin with:\n%s", flag, out, want)
		}
	}
}

// TestVersionPlainBuild: a plain `go build` (the test binary) says what
// the toolchain recorded, never an empty field.
func TestVersionPlainBuild(t *testing.T) {
	bin := testenv.Binary(t)
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	revision := "unknown"
	for _, l := range strings.Split(string(info), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision=") {
			revision = strings.TrimPrefix(f[1], "vcs.revision=")
		}
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	goVersion := strings.Fields(strings.SplitN(string(info), "\n", 2)[0])[1]
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "s3mount ") || lines[0] == "s3mount " ||
		!strings.HasPrefix(lines[1], "commit: "+revision) || !strings.HasPrefix(lines[2], "built: ") ||
		lines[3] != "go: "+goVersion {
		t.Fatalf("s3mount --version:\n%s\nwant commit %s and go %s", out, revision, goVersion)
	}
}

// TestFormatVersion: what -ldflags does not set comes from the build info.
func TestFormatVersion(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}
	for _, c := range []struct {
		name    string
		v, c, d string
		bi      *debug.BuildInfo
		want    string
	}{
		{"no build info", "", "", "", nil, "s3mount 0.1.0-dev\ncommit: unknown\nbuilt: unknown\ngo: unknown\n"},
		{"untracked tree", "", "", "", &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "(devel)"}},
			"s3mount 0.1.0-dev\ncommit: unknown\nbuilt: unknown\ngo: go1.99\n"},
		{"untagged git tree", "", "", "", &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "v0.0.0-20260102030405-abc123+dirty"}, Settings: vcs},
			"s3mount 0.1.0-dev\ncommit: abc123-dirty\nbuilt: 2026-01-02T03:04:05Z (commit time)\ngo: go1.99\n"},
		{"tagged git tree", "", "", "", &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "v1.2.3"}, Settings: vcs[:2]},
			"s3mount 1.2.3\ncommit: abc123\nbuilt: 2026-01-02T03:04:05Z (commit time)\ngo: go1.99\n"},
		{"ldflags win", "2.0.0", "def456", "2026-05-06T07:08:09Z", &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "v1.2.3"}, Settings: vcs},
			"s3mount 2.0.0\ncommit: def456\nbuilt: 2026-05-06T07:08:09Z\ngo: go1.99\n"},
	} {
		if got := formatVersion(c.v, c.c, c.d, c.bi); got != c.want {
			t.Errorf("%s:\n%s\nwant\n%s", c.name, got, c.want)
		}
	}
}
