package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/s3mount/s3mount/internal/spool"
)

const recoverUsage = `usage: s3mount recover SPOOL_DIR [--export OUT_DIR] [--discard ID]

Lists the files a spool directory holds: what S3 does not have yet, and files
whose publication was refused because another writer changed the object
(conflicts). A mount with the same --spool-dir publishes what it can by
itself; use this when it cannot:
  --export OUT_DIR  copy each file's spooled bytes to OUT_DIR/<key> (a file that
                    starts past offset 0 gets a .from-<offset> suffix: its first
                    bytes are in S3); upload them yourself, e.g. to a new key
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
				fmt.Printf("discarded %s (%s)\n", e.ID, e.Journal.Key)
				return 0
			}
		}
		fmt.Fprintf(os.Stderr, "s3mount: no spooled file %s in %s\n", discard, dir)
		return 1
	case export != "":
		for _, e := range entries {
			name := filepath.Join(export, filepath.FromSlash(e.Journal.Key))
			if e.Journal.LocalStart > 0 {
				name += fmt.Sprintf(".from-%d", e.Journal.LocalStart)
			}
			if err := exportEntry(e, name); err != nil {
				fmt.Fprintln(os.Stderr, "s3mount: "+err.Error())
				return 1
			}
			fmt.Printf("exported %s -> %s\n", e.Journal.Key, name)
		}
		return 0
	}
	fmt.Printf("spool %s of s3://%s: %d files\n", dir, strings.TrimSuffix(id, "/"), len(entries))
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tKEY\tSIZE\tUNPUBLISHED\tSTATE")
	for _, e := range entries {
		state := "pending"
		if e.Journal.Conflict != "" {
			state = "conflict: " + e.Journal.Conflict
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\n", e.ID, e.Journal.Key, e.Journal.Size, e.Unpublished(), state)
	}
	w.Flush()
	return 0
}

func exportEntry(e spool.Entry, name string) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := e.Export(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
