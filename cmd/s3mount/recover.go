package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/s3mount/s3mount/internal/exportpath"
	"github.com/s3mount/s3mount/internal/spool"
)

const recoverUsage = `usage: s3mount recover SPOOL_DIR [--export OUT_DIR] [--discard ID]

Lists the files a spool directory holds: what S3 does not have yet, and files
whose publication was refused because another writer changed the object
(conflicts). A mount with the same --spool-dir publishes what it can by
itself; use this when it cannot:
  --export OUT_DIR  copy each file's spooled bytes to OUT_DIR/<key> (a file that
                    starts past offset 0 gets a .from-<offset> suffix: its first
                    bytes are in S3); upload them yourself, e.g. to a new key.
                    Files are created 0600, never over an existing file or
                    through a symlink; a key that would land outside OUT_DIR
                    is skipped with a message (exit status 1)
  --discard ID      delete one spooled file (after exporting it)
Run it while no s3mount uses the spool directory.
`

// runRecover is `s3mount recover`.
func runRecover(args []string) int {
	var dir, export, discard string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-h", "--help":
			fmt.Print(recoverUsage)
			return 0
		case "--export", "--discard":
			if i+1 >= len(args) {
				fmt.Fprintf(os.Stderr, "s3mount: %s needs a value\n", a)
				return 2
			}
			if a == "--export" {
				export = args[i+1]
			} else {
				discard = args[i+1]
			}
			i++
		default:
			dir = a
		}
	}
	if dir == "" {
		fmt.Fprint(os.Stderr, recoverUsage)
		return 2
	}
	id, err := spool.Identity(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3mount: "+err.Error())
		return 1
	}
	entries, err := spool.Inspect(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3mount: "+err.Error())
		return 1
	}
	switch {
	case discard != "":
		for _, e := range entries {
			if e.ID == discard {
				if err := e.Discard(dir); err != nil {
					fmt.Fprintln(os.Stderr, "s3mount: "+err.Error())
					return 1
				}
				fmt.Printf("discarded %s (%s)\n", e.ID, shownKey(e.Journal.Key))
				return 0
			}
		}
		fmt.Fprintf(os.Stderr, "s3mount: no spooled file %s in %s\n", discard, dir)
		return 1
	case export != "":
		return exportAll(entries, export)
	}
	fmt.Printf("spool %s of s3://%s: %d files\n", dir, strings.TrimSuffix(id, "/"), len(entries))
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tKEY\tSIZE\tUNPUBLISHED\tSTATE")
	for _, e := range entries {
		state := "pending"
		if e.Journal.Conflict != "" {
			state = "conflict: " + e.Journal.Conflict
		}
		if c := e.Journal.MapCheck; c != nil {
			state += ", compare " + c.String() + " with S3 (written through a shared mapping maybe)"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\n", e.ID, shownKey(e.Journal.Key), e.Journal.Size, e.Unpublished(), shownKey(state))
	}
	w.Flush()
	return 0
}

// exportAll copies every entry's spooled bytes below dir. A key that does not
// name a file strictly inside dir (a crafted journal: "../x", "/x", "a//b",
// NUL) or whose path meets a symlink or an existing file is skipped with one
// line on stderr; its data stays in the spool and the exit status is 1.
func exportAll(entries []spool.Entry, dir string) int {
	status := 0
	for _, e := range entries {
		name, err := exportEntry(e, dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "s3mount: not exported: key %q (spool id %s): %s; its data stays in the spool\n",
				e.Journal.Key, e.ID, oneLine(err.Error()))
			status = 1
			continue
		}
		fmt.Printf("exported %s -> %s\n", shownKey(e.Journal.Key), shownKey(name))
	}
	return status
}

func exportEntry(e spool.Entry, dir string) (string, error) {
	parts, err := exportpath.Components(e.Journal.Key)
	if err != nil {
		return "", fmt.Errorf("%v, so it does not name a file inside %s", err, dir)
	}
	if e.Journal.LocalStart > 0 {
		parts[len(parts)-1] += fmt.Sprintf(".from-%d", e.Journal.LocalStart)
	}
	f, err := exportpath.Create(dir, parts)
	if err != nil {
		return "", err
	}
	if _, err := e.Export(f); err != nil {
		f.Close()
		os.Remove(f.Name()) // no half copy that looks whole
		return "", err
	}
	return f.Name(), f.Close()
}

// shownKey prints a key as is when it is plain text, else quoted: a journal
// may hold any bytes, and a newline or escape sequence must not fake lines
// or drive the terminal.
func shownKey(k string) string {
	for _, r := range k {
		if r == utf8.RuneError || r == '\t' || !unicode.IsPrint(r) {
			return strconv.Quote(k)
		}
	}
	return k
}

// oneLine keeps a message (which may quote a hostile key) on one line.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), " ")
}
