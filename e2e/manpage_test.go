package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/s3mount/s3mount/internal/testenv"
)

// TestManPageMatchesHelp: packaging/s3mount.8, as groff renders it, holds
// every paragraph and option of `s3mount --help`, word for word (alongside
// TestMountHelpMatchesReadme; internal/config checks that the committed
// page is the generated one).
func TestManPageMatchesHelp(t *testing.T) {
	help, err := exec.Command(testenv.Binary(t), "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("groff", "-man", "-Tascii", "-P-cbou", "-rLL=2000n", "../packaging/s3mount.8").Output()
	if err != nil {
		t.Fatalf("groff: %v", err)
	}
	page := " " + strings.Join(strings.Fields(string(out)), " ") + " "
	chunks := helpChunks(string(help))
	if len(chunks) < 50 {
		t.Fatalf("only %d paragraphs in --help:\n%s", len(chunks), help)
	}
	for _, c := range chunks {
		if !strings.Contains(page, " "+c+" ") {
			t.Errorf("the man page lacks this part of --help:\n%s", c)
		}
	}
}

// helpChunks splits --help into what the man page renders as one piece: the
// name line (as "s3mount - ..."), each usage line, each option or argument
// with its description, each paragraph. Whitespace is normalized.
func helpChunks(help string) []string {
	lines := strings.Split(strings.TrimRight(help, "\n"), "\n")
	var chunks, cur []string
	flush := func() {
		if len(cur) > 0 {
			chunks = append(chunks, strings.Join(strings.Fields(strings.Join(cur, " ")), " "))
			cur = nil
		}
	}
	indent := func(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }
	chunks = append(chunks, "s3mount - "+strings.TrimPrefix(lines[0], "s3mount: "))
	i := 1
	for ; i < len(lines) && (strings.HasPrefix(lines[i], "Usage:") || strings.HasPrefix(lines[i], "       s3mount") || lines[i] == ""); i++ {
		if l := strings.TrimSpace(strings.TrimPrefix(lines[i], "Usage:")); l != "" {
			chunks = append(chunks, strings.Join(strings.Fields(l), " "))
		}
	}
	prev := 0
	for ; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.TrimSpace(l) == "":
			flush()
		case indent(l) == 0: // a heading
			flush()
		case indent(l) < 10 && (prev >= 10 || strings.HasPrefix(strings.TrimSpace(l), "-")):
			flush() // an option or argument, or a paragraph after one
			cur = append(cur, l)
		default:
			cur = append(cur, l)
		}
		prev = indent(l)
	}
	flush()
	return chunks
}
