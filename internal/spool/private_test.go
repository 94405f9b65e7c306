package spool

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// zeroUmask lets the spool's own modes show: with umask 0, a file created
// 0644 would stay 0644.
func zeroUmask(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
}

// wantMode fails unless path (not followed) is a regular file or directory
// with exactly mode perm.
func wantMode(t *testing.T, path string, perm os.FileMode) {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Mode().IsRegular() && !st.IsDir() {
		t.Fatalf("%s is a %v", path, st.Mode().Type())
	}
	if got := st.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky); got != perm {
		t.Fatalf("%s has mode %v, want %v", filepath.Base(path), got, perm)
	}
}

// wantPrivate checks the directory and every file in it.
func wantPrivate(t *testing.T, dir string) {
	t.Helper()
	wantMode(t, dir, 0o700)
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(names) < 3 {
		t.Fatalf("spool directory holds %v", names)
	}
	for _, p := range names {
		wantMode(t, p, 0o600)
	}
}

// The spool is 0700 and its files 0600 whatever the umask, after every
// kind of disk operation and after recovery.
func TestSpoolFilesArePrivate(t *testing.T) {
	zeroUmask(t)
	dir := filepath.Join(t.TempDir(), "state", "spool")
	s, _ := open(t, dir, Options{})
	wantPrivate(t, dir)
	f, err := s.Create(Journal{Key: "a.log", Kind: KindAppend})
	if err != nil {
		t.Fatal(err)
	}
	wantPrivate(t, dir)
	write(t, f, bytes.Repeat([]byte("line\n"), 1000), 0)
	if err := f.Update(func(j *Journal) { j.Exists, j.BaseSize, j.BaseETag = true, 5000, `"e"` }); err != nil {
		t.Fatal(err) // as a publication records itself
	}
	if err := f.Punch(0, 4000); err != nil {
		t.Fatal(err)
	}
	wantPrivate(t, dir)
	g, err := s.Create(Journal{Key: "b.csv", Kind: KindWhole, Dirty: true})
	if err != nil {
		t.Fatal(err)
	}
	write(t, g, []byte("a,b\n"), 0)
	if err := g.Truncate(100); err != nil {
		t.Fatal(err)
	}
	if err := g.Truncate(2); err != nil {
		t.Fatal(err)
	}
	wantPrivate(t, dir)
	s.Close()
	_, left := open(t, dir, Options{})
	if len(left) != 2 {
		t.Fatalf("recovered %d files", len(left))
	}
	wantPrivate(t, dir)
	wantMode(t, filepath.Dir(dir), 0o700) // parents made for it too
}

// A spool directory of ours left open to others (mkdir with umask 022, or
// chmod) is made private with one log line; a file in it with a loose mode
// is tightened when recovery opens it.
func TestLooseSpoolDirIsTightened(t *testing.T) {
	zeroUmask(t)
	dir := filepath.Join(t.TempDir(), "spool")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	s, _ := open(t, dir, Options{Logger: bufLogger(&log)})
	f, err := s.Create(Journal{Key: "a", Kind: KindWhole, Dirty: true})
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, []byte("x"), 0)
	s.Close()
	if n := strings.Count(log.String(), "made it private"); n != 1 || !strings.Contains(log.String(), "old_mode=0777") {
		t.Fatalf("log after a 0777 spool directory:\n%s", &log)
	}
	os.Chmod(dir, 0o755)
	os.Chmod(f.dataPath(), 0o644)
	os.Chmod(f.journalPath(), 0o666)
	log.Reset()
	_, left := open(t, dir, Options{Logger: bufLogger(&log)})
	if len(left) != 1 {
		t.Fatalf("recovered %d files", len(left))
	}
	wantPrivate(t, dir)
	if n := strings.Count(log.String(), "\n"); n != 1 {
		t.Fatalf("%d log lines, want the one about the directory:\n%s", n, &log)
	}
}

// Another user's directory is refused: its owner could plant files in it.
func TestOthersSpoolDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	euid = func() int { return os.Geteuid() + 1 }
	t.Cleanup(func() { euid = os.Geteuid })
	_, _, err := Open(dir, testIdentity, Options{})
	if err == nil || !strings.Contains(err.Error(), "belongs to uid") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open of another user's directory: %v", err)
	}
}

// plantLink makes name in dir a symlink to a victim file outside the
// spool and returns a check that the victim is untouched.
func plantLink(t *testing.T, dir, name string) (check func()) {
	t.Helper()
	victim := filepath.Join(t.TempDir(), "victim")
	const content = "victim's own bytes\n"
	if err := os.WriteFile(victim, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if b, err := os.ReadFile(victim); err != nil || string(b) != content {
			t.Fatalf("the file a planted %s pointed at was changed: now %d bytes, %.40q, %v", name, len(b), b, err)
		}
	}
}

// fixedIDs makes newID give ids from the list, then random ones.
func fixedIDs(t *testing.T, ids ...string) {
	newID = func() string {
		if len(ids) == 0 {
			return randomID()
		}
		id := ids[0]
		ids = ids[1:]
		return id
	}
	t.Cleanup(func() { newID = randomID })
}

// A symlink planted at a name the spool is about to use is never written
// through: the data file's name is skipped, a journal and its temporary
// file are replaced.
func TestPlantedSymlinkAtNewFileIsNotFollowed(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	checkData := plantLink(t, dir, "planted.data")
	fixedIDs(t, "planted", "second")
	checkTmp := plantLink(t, dir, "second.json.tmp")
	checkJournal := plantLink(t, dir, "second.json")
	f, err := s.Create(Journal{Key: "a", Kind: KindWhole, Dirty: true})
	if err != nil {
		t.Fatal(err)
	}
	if f.ID() != "second" {
		t.Fatalf("created %s, want the planted name skipped", f.ID())
	}
	write(t, f, []byte("mine"), 0)
	if err := f.Update(func(j *Journal) { j.Conflict = "x" }); err != nil {
		t.Fatal(err)
	}
	checkData()
	checkTmp()
	checkJournal()
	wantMode(t, f.journalPath(), 0o600)
	wantMode(t, f.dataPath(), 0o600)
}

// Symlinks planted at LOCK and IDENTITY stop Open (the lock's pid would be
// written through one; the other's target would be read and quoted);
// one at RESERVE is replaced by a file of ours.
func TestPlantedSymlinkAtFixedNames(t *testing.T) {
	for _, name := range []string{lockFile, identityFile} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			check := plantLink(t, dir, name)
			_, _, err := Open(dir, testIdentity, Options{})
			if err == nil || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "victim's") {
				t.Fatalf("Open with a symlink at %s: %v", name, err)
			}
			check()
		})
	}
	t.Run(reserveFile, func(t *testing.T) {
		dir := t.TempDir()
		check := plantLink(t, dir, reserveFile)
		open(t, dir, Options{})
		check()
		wantMode(t, filepath.Join(dir, reserveFile), 0o600)
	})
}

// At recovery, a data file that is a symlink or a hard link (planted while
// the directory was open to others) is not opened: the journal is set
// aside, the link and its target stay as they are.
func TestPlantedLinkAtDataFileIsRefused(t *testing.T) {
	for _, kind := range []string{"symlink", "hardlink"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := open(t, dir, Options{})
			f, err := s.Create(Journal{Key: "a", Kind: KindWhole, Dirty: true})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			os.Remove(f.dataPath())
			var check func()
			if kind == "symlink" {
				check = plantLink(t, dir, f.ID()+".data")
			} else {
				victim := filepath.Join(dir, "victim")
				os.WriteFile(victim, []byte("v"), 0o600)
				if err := os.Link(victim, f.dataPath()); err != nil {
					t.Fatal(err)
				}
				check = func() {
					if b, _ := os.ReadFile(victim); string(b) != "v" {
						t.Fatalf("victim now %q", b)
					}
				}
			}
			var log bytes.Buffer
			_, left := open(t, dir, Options{Logger: bufLogger(&log)})
			if len(left) != 0 {
				t.Fatalf("recovered %d files over a planted %s", len(left), kind)
			}
			check()
			if !strings.Contains(log.String(), f.ID()+".json") || !exists(f.journalPath()+".corrupt") {
				t.Fatalf("journal not set aside with a log line:\n%s", &log)
			}
		})
	}
}
