package config

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestManPageIsGenerated: packaging/s3mount.8 is what the generator makes
// from the --help source today.
func TestManPageIsGenerated(t *testing.T) {
	committed, err := os.ReadFile("../../packaging/s3mount.8")
	if err != nil {
		t.Fatal(err)
	}
	if string(committed) != ManPage() {
		t.Fatal("packaging/s3mount.8 differs from the generated man page: run make man (go run ./internal/config/manpage > packaging/s3mount.8)")
	}
}

// TestManPageHasEveryOption: each option of the table, with its --help
// text, is in the page.
func TestManPageHasEveryOption(t *testing.T) {
	page := ManPage()
	for _, f := range flagTable {
		if !strings.Contains(page, ".TP\n"+manFlagTerm(f)+"\n"+roff(flagHelp(f))+"\n") {
			t.Errorf("the man page lacks --%s with its help text", f.name)
		}
	}
}

// TestManPageRendersCleanly: groff formats the page without a warning.
func TestManPageRendersCleanly(t *testing.T) {
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = strings.NewReader(ManPage())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("groff -man -ww: %v\n%s", err, stderr.String())
	}
}

// TestRoffEscapes: text cannot start a roff request or escape.
func TestRoffEscapes(t *testing.T) {
	for in, want := range map[string]string{
		`.hidden`:          `\&.hidden`,
		`'quoted`:          `\&'quoted`,
		`a\b`:              `a\eb`,
		`--read-only`:      `\-\-read\-only`,
		`escape \, \\ \"`:  `escape \e, \e\e \e"`,
		`plain text, 25m.`: `plain text, 25m.`,
	} {
		if got := roff(in); got != want {
			t.Errorf("roff(%q) = %q, want %q", in, got, want)
		}
	}
}
