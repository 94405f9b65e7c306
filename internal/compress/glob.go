package compress

import (
	"fmt"
	"path"
	"strings"
)

// Glob turns a shell pattern (what --compress-glob takes, as in
// `case` and fnmatch) into path.Match's syntax. They differ in brackets:
// the shell negates a class with `[!...]` (path.Match reads `!` as a
// member) and takes a `]` right after the opening bracket as a member
// (path.Match ends the class there). `*`, `?`, `\` escapes and `[^...]`
// (bash's other spelling of negation) mean the same in both.
func Glob(shell string) (string, error) {
	if shell == "" {
		return "", fmt.Errorf("empty pattern")
	}
	var b strings.Builder
	for i := 0; i < len(shell); i++ {
		switch c := shell[i]; {
		case c == '\\':
			b.WriteByte(c)
			if i+1 < len(shell) {
				i++
				b.WriteByte(shell[i])
			}
		case c == '[':
			end := classEnd(shell, i)
			if end < 0 {
				b.WriteString(`\[`) // no closing bracket: the shell takes it literally
				continue
			}
			j := i + 1
			b.WriteByte('[')
			if shell[j] == '!' || shell[j] == '^' {
				b.WriteByte('^')
				j++
			}
			if shell[j] == ']' {
				b.WriteString(`\]`)
				j++
			}
			if err := writeClassBody(&b, shell[j:end]); err != nil {
				return "", fmt.Errorf("%q: %w", shell, err)
			}
			b.WriteByte(']')
			i = end
		default:
			b.WriteByte(c)
		}
	}
	p := b.String()
	if _, err := path.Match(p, ""); err != nil {
		return "", fmt.Errorf("%q is not a shell pattern: %w", shell, err)
	}
	return p, nil
}

// classEnd is the index of the bracket that closes the class opened at
// open, or -1 when nothing closes it.
func classEnd(shell string, open int) int {
	j := open + 1
	if j < len(shell) && (shell[j] == '!' || shell[j] == '^') {
		j++
	}
	if j < len(shell) && shell[j] == ']' {
		j++ // a member, not the end
	}
	for ; j < len(shell); j++ {
		switch shell[j] {
		case '\\':
			j++
		case ']':
			return j
		}
	}
	return -1
}

// writeClassBody writes a class's members and ranges; a `-` that starts or
// ends them is a member in the shell and an error in path.Match.
func writeClassBody(b *strings.Builder, body string) error {
	if strings.Contains(body, "[:") || strings.Contains(body, "[=") || strings.Contains(body, "[.") {
		return fmt.Errorf("character classes such as [:digit:] are not supported")
	}
	for k := 0; k < len(body); k++ {
		c := body[k]
		switch {
		case c == '\\' && k+1 < len(body):
			b.WriteByte(c)
			k++
			b.WriteByte(body[k])
		case c == '-' && (k == 0 || k == len(body)-1):
			b.WriteString(`\-`)
		default:
			b.WriteByte(c)
		}
	}
	return nil
}
