package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/s3mount/s3mount/internal/vfs"
)

// A publication waiting for its object key shows as the file's STATE
// ("waiting: why"), its ERROR cell empty; an error stays in ERROR.
func TestStatusShowsAWaitAsAState(t *testing.T) {
	var out bytes.Buffer
	printFiles(&out, []vfs.FileStatus{
		{Key: "d1.gz", State: "new", Waiting: "d1.gz is the object of the file d1"},
		{Key: "x.log", State: "in-s3", LastError: "PutObject x.log: timeout"},
	})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("status table:\n%s", out.String())
	}
	errCol := strings.Index(lines[0], "ERROR")
	stateCol := strings.Index(lines[0], "STATE")
	if errCol < 0 || stateCol < errCol {
		t.Fatalf("header %q: want ERROR then STATE", lines[0])
	}
	cell := func(line string, from, to int) string {
		if to > len(line) {
			to = len(line)
		}
		return strings.TrimSpace(line[from:to])
	}
	if e, s := cell(lines[1], errCol, stateCol), cell(lines[1], stateCol, len(lines[1])); e != "" || s != "waiting: d1.gz is the object of the file d1" {
		t.Errorf("waiting file: ERROR %q, STATE %q\n%s", e, s, out.String())
	}
	if e, s := cell(lines[2], errCol, stateCol), cell(lines[2], stateCol, len(lines[2])); e != "PutObject x.log: timeout" || s != "in-s3" {
		t.Errorf("failing file: ERROR %q, STATE %q\n%s", e, s, out.String())
	}
}

// A comparison with S3 that is due (bytes written through a shared
// mapping maybe) shows in STATE, with whether it waits for opens to close.
func TestStatusShowsAMapCheck(t *testing.T) {
	var out bytes.Buffer
	printFiles(&out, []vfs.FileStatus{
		{Key: "a.log", State: "in-s3", MapCheck: "[4, 9)"},
		{Key: "b.log", State: "in-s3", MapCheck: "[0, end)", MapOpens: 1},
		{Key: "c.log", State: "in-s3"},
	})
	for _, want := range []string{
		"in-s3, compare [4, 9) with S3\n",
		"in-s3, compare [0, end) with S3 once the read-write opens beside a direct reader close\n",
		"in-s3\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status table lacks %q:\n%s", want, out.String())
		}
	}
}
