package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/s3mount/s3mount/internal/testenv"
)

// A whole-file write that loses to another writer: close returns EIO, the
// object keeps the other writer's bytes, our bytes stay in the spool, and
// `s3mount recover` lists, exports and discards them.
func TestConflictKeptAndRecovered(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	srv.Put(t, b, "data.csv", []byte("v1\n"))
	spoolDir := t.TempDir()
	m := testenv.MountBinary(t, srv.Endpoint, srv, b, "--allow-overwrite", "--spool-dir", spoolDir)
	f, err := os.OpenFile(filepath.Join(m.Dir, "data.csv"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("ours\n"); err != nil {
		t.Fatal(err)
	}
	srv.Put(t, b, "data.csv", []byte("theirs\n")) // another host, meanwhile
	if err := f.Close(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("close after losing to another writer: %v, want EIO", err)
	}
	if got := srv.Get(t, b, "data.csv"); string(got) != "theirs\n" {
		t.Fatalf("the other writer's object was overwritten: %q", got)
	}
	m.Unmount(t)
	if !strings.Contains(m.Stderr(), "spool_file=") {
		t.Fatalf("no log line says where the data is:\n%s", m.Stderr())
	}

	bin := testenv.Binary(t)
	out, err := exec.Command(bin, "recover", spoolDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "data.csv") || !strings.Contains(string(out), "conflict") {
		t.Fatalf("recover list: %v\n%s", err, out)
	}
	id := regexp.MustCompile(`(?m)^(\S+)\s+data\.csv`).FindStringSubmatch(string(out))
	if id == nil {
		t.Fatalf("no id in:\n%s", out)
	}
	exp := t.TempDir()
	if out, err := exec.Command(bin, "recover", spoolDir, "--export", exp).CombinedOutput(); err != nil {
		t.Fatalf("recover --export: %v\n%s", err, out)
	}
	if got, err := os.ReadFile(filepath.Join(exp, "data.csv")); err != nil || string(got) != "ours\n" {
		t.Fatalf("exported %q (%v), want our bytes", got, err)
	}
	if out, err := exec.Command(bin, "recover", spoolDir, "--discard", id[1]).CombinedOutput(); err != nil {
		t.Fatalf("recover --discard: %v\n%s", err, out)
	}
	if left, _ := filepath.Glob(filepath.Join(spoolDir, "*.json")); len(left) != 0 {
		t.Fatalf("spool still holds %v", left)
	}
}
