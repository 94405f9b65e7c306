package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMountBinary(t *testing.T) {
	srv := StartServer(t)
	b := srv.NewBucket(t)
	srv.Put(t, b, "seed.txt", []byte("from s3\n"))
	m := MountBinary(t, srv.Endpoint, srv, b)
	if !mounted(m.Dir) {
		t.Fatal("not mounted")
	}
	got, err := os.ReadFile(filepath.Join(m.Dir, "seed.txt"))
	if err != nil || string(got) != "from s3\n" {
		t.Fatalf("read through mount: %q, %v\n%s", got, err, m.Stderr())
	}
	if err := os.WriteFile(filepath.Join(m.Dir, "new.txt"), []byte("written\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.Unmount(t)
	m.Unmount(t) // idempotent
	if mounted(m.Dir) {
		t.Fatal("still mounted after Unmount")
	}
	if got := srv.Get(t, b, "new.txt"); string(got) != "written\n" {
		t.Fatalf("S3 has %q", got)
	}
}

func TestMountKill(t *testing.T) {
	srv := StartServer(t)
	b := srv.NewBucket(t)
	spool := t.TempDir()
	m := MountBinary(t, srv.Endpoint, srv, b, "--spool-dir", spool)
	if m.SpoolDir != spool {
		t.Fatalf("SpoolDir %q, want %q", m.SpoolDir, spool)
	}
	m.Kill(t)
	if mounted(m.Dir) {
		t.Fatal("still mounted after Kill")
	}
	if m.Cmd.ProcessState == nil || m.Cmd.ProcessState.Success() {
		t.Fatalf("process state %v after SIGKILL", m.Cmd.ProcessState)
	}
}

func TestMountinfoUnescape(t *testing.T) {
	if got := unescapeMountinfo(`/tmp/a\040b\134c`); got != `/tmp/a b\c` {
		t.Fatalf("got %q", got)
	}
}
