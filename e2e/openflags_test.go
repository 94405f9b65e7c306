package e2e

// The open-flag matrix (Mountpoint's semantics table, for s3mount): every
// access mode × O_APPEND/O_TRUNC/O_CREAT/O_EXCL × the state of the file,
// on a default mount and with --allow-overwrite. The expected table below
// is also docs/OPEN-FLAGS.md: S3MOUNT_WRITE_DOCS=1 rewrites the doc from
// it, and TestOpenFlagDoc fails when they differ.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/s3mount/s3mount/internal/testenv"
)

var openFlagAccess = []struct {
	name string
	flag int
}{{"O_RDONLY", os.O_RDONLY}, {"O_WRONLY", os.O_WRONLY}, {"O_RDWR", os.O_RDWR}}

var openFlagExtra = []struct {
	name string
	flag int
}{{"", 0}, {"O_APPEND", os.O_APPEND}, {"O_TRUNC", os.O_TRUNC}, {"O_CREAT", os.O_CREATE}, {"O_CREAT\\|O_EXCL", os.O_CREATE | os.O_EXCL}}

// File states a cell opens.
var openFlagStates = []string{
	"absent",    // no object, nothing local
	"published", // an object in S3, nobody has it open
	"writing",   // a new file another handle is writing (O_CREAT|O_WRONLY), not yet published
	"appending", // an object another handle has open with O_APPEND and has written to
}

// openFlagTable: per row (access × extra, in the order above), the result
// of open(2) for each state, first on a default mount, then with
// --allow-overwrite. "ok" or the errno.
var openFlagTable = [][2][4]string{
	// O_RDONLY
	{{"ENOENT", "ok", "ok", "ok"}, {"ENOENT", "ok", "ok", "ok"}},
	{{"ENOENT", "ok", "ok", "ok"}, {"ENOENT", "ok", "ok", "ok"}},
	{{"ENOENT", "EPERM", "ok", "EPERM"}, {"ENOENT", "ok", "ok", "ok"}},
	{{"ok", "ok", "ok", "ok"}, {"ok", "ok", "ok", "ok"}},
	{{"ok", "EEXIST", "EEXIST", "EEXIST"}, {"ok", "EEXIST", "EEXIST", "EEXIST"}},
	// O_WRONLY
	{{"ENOENT", "EPERM", "ok", "ok"}, {"ENOENT", "ok", "ok", "ok"}},
	{{"ENOENT", "ok", "ok", "ok"}, {"ENOENT", "ok", "ok", "ok"}},
	{{"ENOENT", "EPERM", "ok", "EPERM"}, {"ENOENT", "ok", "ok", "ok"}},
	{{"ok", "EPERM", "ok", "ok"}, {"ok", "ok", "ok", "ok"}},
	{{"ok", "EEXIST", "EEXIST", "EEXIST"}, {"ok", "EEXIST", "EEXIST", "EEXIST"}},
	// O_RDWR
	{{"ENOENT", "EPERM", "ok", "ok"}, {"ENOENT", "ok", "ok", "ok"}},
	{{"ENOENT", "ok", "ok", "ok"}, {"ENOENT", "ok", "ok", "ok"}},
	{{"ENOENT", "EPERM", "ok", "EPERM"}, {"ENOENT", "ok", "ok", "ok"}},
	{{"ok", "EPERM", "ok", "ok"}, {"ok", "ok", "ok", "ok"}},
	{{"ok", "EEXIST", "EEXIST", "EEXIST"}, {"ok", "EEXIST", "EEXIST", "EEXIST"}},
}

func openFlagRowName(a, e int) string {
	name := openFlagAccess[a].name
	if x := openFlagExtra[e].name; x != "" {
		name += "\\|" + x
	}
	return name
}

func errnoName(err error) string {
	if err == nil {
		return "ok"
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
	}
	return err.Error()
}

// TestOpenFlagMatrix opens a fresh file per cell, set up in the cell's
// state, and compares open's result with openFlagTable.
func TestOpenFlagMatrix(t *testing.T) {
	srv := testenv.StartServer(t)
	modes := [2][]string{nil, {"--allow-overwrite"}}
	got := make([][2][4]string, len(openFlagTable))
	for mi, extra := range modes {
		b := srv.NewBucket(t)
		m := testenv.MountBinary(t, srv.Endpoint, srv, b, extra...)
		for a := range openFlagAccess {
			for e := range openFlagExtra {
				row := a*len(openFlagExtra) + e
				for si, state := range openFlagStates {
					name := fmt.Sprintf("r%02d-%s", row, state)
					p := filepath.Join(m.Dir, name)
					var other *os.File
					var err error
					switch state {
					case "published":
						srv.Put(t, b, name, []byte("published\n"))
					case "writing":
						if other, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644); err == nil {
							_, err = other.WriteString("being written\n")
						}
					case "appending":
						srv.Put(t, b, name, []byte("published\n"))
						if other, err = os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0); err == nil {
							_, err = other.WriteString("appended\n")
						}
					}
					if err != nil {
						t.Fatalf("setting up %s: %v", name, err)
					}
					f, err := os.OpenFile(p, openFlagAccess[a].flag|openFlagExtra[e].flag, 0o644)
					got[row][mi][si] = errnoName(err)
					if err == nil {
						if cerr := f.Close(); cerr != nil {
							got[row][mi][si] += " (close: " + errnoName(cerr) + ")"
						}
					}
					if other != nil {
						other.Close()
					}
				}
			}
		}
		m.Unmount(t)
	}
	bad := 0
	for row := range openFlagTable {
		for mi := range modes {
			for si := range openFlagStates {
				if got[row][mi][si] != openFlagTable[row][mi][si] {
					bad++
					t.Errorf("%s, %s, %s mount: open gives %s, table says %s", openFlagRowName(row/len(openFlagExtra), row%len(openFlagExtra)),
						openFlagStates[si], []string{"default", "--allow-overwrite"}[mi], got[row][mi][si], openFlagTable[row][mi][si])
				}
			}
		}
	}
	if bad > 0 {
		var sb strings.Builder
		for _, r := range got {
			fmt.Fprintf(&sb, "\t{{%q, %q, %q, %q}, {%q, %q, %q, %q}},\n", r[0][0], r[0][1], r[0][2], r[0][3], r[1][0], r[1][1], r[1][2], r[1][3])
		}
		t.Logf("measured table:\n%s", sb.String())
	}
}

// openFlagDoc renders docs/OPEN-FLAGS.md from openFlagTable.
func openFlagDoc() string {
	var sb strings.Builder
	sb.WriteString(`# open(2) flags and file states

What ` + "`open(2)`" + ` returns on s3mount for each access mode and flag, by the state
of the file. Generated from the table in ` + "`e2e/openflags_test.go`" + `, which
` + "`TestOpenFlagMatrix`" + ` checks against a real mount (` + "`S3MOUNT_WRITE_DOCS=1 go test ./e2e/ -run TestOpenFlagDoc`" + `
rewrites this file).

States:
- **absent**: no object and nothing on this host.
- **published**: an object in S3 that nobody on this host has open.
- **writing**: a new file another handle on this host is writing (` + "`O_CREAT|O_WRONLY`" + `), not
  yet published.
- **appending**: an object another handle on this host has open with ` + "`O_APPEND`" + ` and has
  written to.

Where it differs from Mountpoint for S3, by design: appends (` + "`O_APPEND`" + `) to published
objects are allowed without flags (they never destroy a byte); a file being written can be
opened again, for reading and for writing, by any number of handles (read-your-writes, many
writers); editing or truncating published bytes needs ` + "`--allow-overwrite`" + `, also while
another handle has the file open (so logrotate ` + "`copytruncate`" + ` needs it). Bytes not yet
published are this host's own: truncating or rewriting them needs no flag. An ` + "`O_RDWR`" + ` or
` + "`O_WRONLY`" + ` open of a file being appended to succeeds; a write below the published size then
fails with ` + "`EPERM`" + ` without ` + "`--allow-overwrite`" + `.
`)
	for mi, title := range []string{"Default mount", "With `--allow-overwrite`"} {
		fmt.Fprintf(&sb, "\n## %s\n\n| flags | %s |\n|---|%s\n", title, strings.Join(openFlagStates, " | "), strings.Repeat("---|", len(openFlagStates)))
		for row, r := range openFlagTable {
			name := openFlagRowName(row/len(openFlagExtra), row%len(openFlagExtra))
			fmt.Fprintf(&sb, "| `%s` | %s |\n", name, strings.Join(r[mi][:], " | "))
		}
	}
	sb.WriteString("\nNotes: `O_RDONLY|O_TRUNC` truncates on Linux, so it is a write. `EPERM` cases log one line\n" +
		"naming the flag that would allow them. With `--allow-overwrite`, `O_TRUNC` on a published object\n" +
		"replaces it when the file is closed; opening it for writing without `O_APPEND` or `O_TRUNC` brings\n" +
		"the object into the local spool for editing (up to `--max-edit-size`, else `EFBIG`).\n")
	return sb.String()
}

// TestOpenFlagDoc: docs/OPEN-FLAGS.md is the table the matrix test checks.
func TestOpenFlagDoc(t *testing.T) {
	const path = "../docs/OPEN-FLAGS.md"
	want := openFlagDoc()
	if os.Getenv("S3MOUNT_WRITE_DOCS") == "1" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (S3MOUNT_WRITE_DOCS=1 writes it)", err)
	}
	if string(got) != want {
		t.Fatalf("%s differs from the table in openflags_test.go; S3MOUNT_WRITE_DOCS=1 rewrites it", path)
	}
}
