package spool

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func bufLogger(b *bytes.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// prefixIdentity is a mount of the prefix "logs/".
const prefixIdentity = "bucket/logs/"

// plant writes a journal and a data file as a damaged (or crafted) spool
// would hold them; data nil: no data file.
func plant(t *testing.T, dir, id string, journal []byte, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, id+".json"), journal, 0o600); err != nil {
		t.Fatal(err)
	}
	if data != nil {
		if err := os.WriteFile(filepath.Join(dir, id+".data"), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// userBytes is what a crafted journal's data file holds: recovery must
// never delete it.
var userBytes = []byte("user bytes")

// Recovery refuses a journal the spool could not have written: one log
// line names it, it is set aside as *.json.corrupt, its data file stays
// byte for byte, and the other files of the spool are recovered.
func TestDamagedJournalIsSetAside(t *testing.T) {
	long := strings.Repeat("x", 1100)
	cases := []struct {
		name, journal string
		data          []byte // nil: userBytes
	}{
		{"truncated JSON", `{"key":"logs/a","kind":"whole","si`, nil},
		{"garbage", "\x00\xffnot json at all", nil},
		{"empty file", "", nil},
		{"null", "null", nil},
		{"array", `[{"key":"logs/a","kind":"whole"}]`, nil},
		{"string where a number goes", `{"key":"logs/a","kind":"whole","size":"10"}`, nil},
		{"number where a string goes", `{"key":7,"kind":"whole","size":10}`, nil},
		{"bytes after the object", `{"key":"logs/a","kind":"whole","size":10}}`, nil},
		{"two objects", `{"key":"logs/a","kind":"whole","size":10} {"key":"logs/b"}`, nil},
		{"negative size", `{"key":"logs/a","kind":"whole","size":-1}`, nil},
		{"negative local start", `{"key":"logs/a","kind":"append","local_start":-5,"size":10}`, nil},
		{"negative base size", `{"key":"logs/a","kind":"append","base_size":-5,"size":10}`, nil},
		{"negative pending", `{"key":"logs/a","kind":"append","pending":-1,"size":10}`, nil},
		{"local start past size", `{"key":"logs/a","kind":"append","local_start":20,"shift":20,"size":10}`, nil},
		{"pending past size", `{"key":"logs/a","kind":"whole","dirty":true,"pending":11,"size":10}`, nil},
		{"absurd size", `{"key":"logs/a","kind":"whole","size":4611686018427387904}`, nil},
		{"absurd shift", `{"key":"logs/a","kind":"append","shift":-4611686018427387904,"size":10}`, nil},
		{"size past int64", `{"key":"logs/a","kind":"whole","size":9223372036854775808}`, nil},
		{"local start below shift", `{"key":"logs/a","kind":"append","shift":8,"local_start":5,"size":10}`, nil},
		{"absurd created", `{"key":"logs/a","kind":"whole","size":10,"created":9223372036854775807}`, nil},
		{"negative express parts", `{"key":"logs/a","kind":"append","size":10,"express_parts":-1}`, nil},
		{"empty key", `{"key":"","kind":"whole","size":10}`, nil},
		{"no key", `{"kind":"whole","size":10}`, nil},
		{"dot-dot key", `{"key":"logs/../etc/passwd","kind":"whole","size":10}`, nil},
		{"dot key", `{"key":"logs/./a","kind":"whole","size":10}`, nil},
		{"double slash key", `{"key":"logs//a","kind":"whole","size":10}`, nil},
		{"directory key", `{"key":"logs/dir/","kind":"whole","size":10}`, nil},
		{"the prefix as key", `{"key":"logs/","kind":"whole","size":10}`, nil},
		{"key outside the prefix", `{"key":"other/a","kind":"whole","size":10}`, nil},
		{"NUL in key", `{"key":"logs/a\u0000b","kind":"whole","size":10}`, nil},
		{"key over 1024 bytes", `{"key":"logs/` + long + `","kind":"whole","size":10}`, nil},
		{"unknown kind", `{"key":"logs/a","kind":"bogus","size":10}`, nil},
		{"no kind", `{"key":"logs/a","size":10}`, nil},
		{"renamed from outside", `{"key":"logs/a","kind":"whole","size":10,"renamed_from":"../x"}`, nil},
		{"data file shorter than the journal", `{"key":"logs/a","kind":"whole","dirty":true,"size":100}`, nil},
		{"append data shorter than the journal", `{"key":"logs/a","kind":"append","shift":5,"local_start":5,"size":100}`, nil},
		{"no data file", `{"key":"logs/a","kind":"whole","dirty":true,"size":10}`, []byte{}},
		{"journal over 64 KiB", `{"key":"logs/a","kind":"whole","size":10,"conflict":"` + strings.Repeat("c", 70<<10) + `"}`, nil},
		{"map check empty", `{"key":"logs/a","kind":"append","size":10,"map_check":{"from":4,"to":4}}`, nil},
		{"map check backwards", `{"key":"logs/a","kind":"append","size":10,"map_check":{"from":8,"to":4}}`, nil},
		{"map check negative", `{"key":"logs/a","kind":"append","size":10,"map_check":{"from":-1,"to":4}}`, nil},
		{"map check absurd", `{"key":"logs/a","kind":"append","size":10,"map_check":{"from":0,"to":9007199254740993}}`, nil},
		{"map check record negative", `{"key":"logs/a","kind":"append","size":10,"map_check":{"from":0,"to":4,"rec":-1}}`, nil},
		{"map check not an object", `{"key":"logs/a","kind":"append","size":10,"map_check":[0,4]}`, nil},
		{"unlinked, key outside", `{"key":"other/victim","kind":"whole","size":10,"exists":true,"base_etag":"\"e\"","unlinked":true}`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _, err := Open(dir, prefixIdentity, Options{Logger: slog.New(slog.NewTextHandler(testLog{t}, nil))})
			if err != nil {
				t.Fatal(err)
			}
			good, err := s.Create(Journal{Key: "logs/good", Kind: KindWhole, Dirty: true})
			if err != nil {
				t.Fatal(err)
			}
			write(t, good, []byte("good"), 0)
			s.Close()
			data := c.data
			if data == nil {
				data = userBytes
			} else if len(data) == 0 {
				data = nil
			}
			const id = "20260101T000000-crafted"
			plant(t, dir, id, []byte(c.journal), data)

			var log bytes.Buffer
			s, left, err := Open(dir, prefixIdentity, Options{Logger: bufLogger(&log)})
			if err != nil {
				t.Fatalf("Open stopped at a damaged journal: %v", err)
			}
			s.Close()
			if len(left) != 1 || left[0].Journal().Key != "logs/good" {
				t.Fatalf("recovered %d files, want only the good one", len(left))
			}
			if len(s.Unlinked()) != 0 {
				t.Fatalf("a damaged unlinked journal was handed on: %+v", s.Unlinked())
			}
			jp := filepath.Join(dir, id+".json")
			if exists(jp) {
				t.Fatal("the damaged journal is still in recovery's way")
			}
			if b, err := os.ReadFile(jp + ".corrupt"); err != nil || string(b) != c.journal {
				t.Fatalf("the damaged journal was not set aside as it was (%v)", err)
			}
			if data != nil {
				if b, err := os.ReadFile(filepath.Join(dir, id+".data")); err != nil || !bytes.Equal(b, data) {
					t.Fatalf("data file of a damaged journal: %q, %v", b, err)
				}
			}
			lines := strings.Split(strings.TrimSpace(log.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], "level=ERROR") || !strings.Contains(lines[0], jp) || !strings.Contains(lines[0], "reason=") {
				t.Fatalf("want one error line naming %s, got:\n%s", jp, &log)
			}
			// The next mount recovers the same, quietly about the set-aside.
			log.Reset()
			s, left, err = Open(dir, prefixIdentity, Options{Logger: bufLogger(&log)})
			if err != nil || len(left) != 1 || log.Len() != 0 {
				t.Fatalf("second Open: %v, %d files, log %q", err, len(left), &log)
			}
			s.Close()
			if data != nil && !exists(filepath.Join(dir, id+".data")) {
				t.Fatal("the second Open dropped the data of a set-aside journal")
			}
		})
	}
}

// Journals the spool does write are taken, at their limits: nothing in
// the checks is stricter than the code that writes journals.
func TestValidJournalsAreRecovered(t *testing.T) {
	cases := []struct {
		name, journal string
		size          int64 // recovered logical size
	}{
		{"whole", `{"key":"logs/a","kind":"whole","dirty":true,"size":10}`, 10},
		{"whole, data longer", `{"key":"logs/a","kind":"whole","dirty":true,"size":4}`, 10},
		{"append after a base", `{"key":"logs/a","kind":"append","exists":true,"base_size":100,"base_etag":"\"e\"","shift":100,"local_start":100,"size":105}`, 110},
		{"rebased below its data", `{"key":"logs/d/a","kind":"append","exists":true,"base_size":3,"shift":-2,"local_start":3,"size":8,"pending":8}`, 8},
		{"pending at size", `{"key":"logs/a","kind":"whole","dirty":true,"size":10,"pending":10,"pending_tag":"x:1","pub_seq":1}`, 10},
		{"renamed", `{"key":"logs/b","kind":"whole","size":10,"renamed_from":"logs/a","renamed_from_etag":"\"e\""}`, 10},
		{"unknown field", `{"key":"logs/a","kind":"whole","size":10,"from_the_future":1}`, 10},
		{"multi-byte key", `{"key":"logs/été/日誌.log","kind":"append","size":10}`, 10},
		{"express", `{"key":"logs/a","kind":"append","size":10,"express_parts":10000,"created":1767225600000000000}`, 10},
		// S3's bytes to compare after a read-write open beside a direct
		// reader (its To past the size: the file was cut since).
		{"map check", `{"key":"logs/a","kind":"append","exists":true,"base_size":6,"base_etag":"\"e\"","size":10,"map_check":{"from":0,"to":12}}`, 10},
		{"map check to the end (an open that may map it lasted)", `{"key":"logs/a","kind":"append","exists":true,"base_size":6,"base_etag":"\"e\"","size":10,"map_check":{"from":0,"to":9007199254740992,"rec":3}}`, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := spoolDirOf(t, prefixIdentity)
			plant(t, dir, "20260101T000000-valid", []byte(c.journal), userBytes)
			var log bytes.Buffer
			s, left, err := Open(dir, prefixIdentity, Options{Logger: bufLogger(&log)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if len(left) != 1 || log.Len() != 0 {
				t.Fatalf("recovered %d files; log:\n%s", len(left), &log)
			}
			if got := left[0].Journal().Size; got != c.size {
				t.Fatalf("recovered size %d, want %d", got, c.size)
			}
		})
	}
}

// A FIFO or a directory at a journal's name is refused without hanging.
func TestJournalThatIsNoFileIsSetAside(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, identityFile), []byte(testIdentity+"\n"), 0o600)
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "dir.json"), 0o700)
	os.WriteFile(filepath.Join(dir, "fifo.data"), userBytes, 0o600)
	var log bytes.Buffer
	_, left := open(t, dir, Options{Logger: bufLogger(&log)})
	if len(left) != 0 || strings.Count(log.String(), "level=ERROR") != 2 {
		t.Fatalf("recovered %d; log:\n%s", len(left), &log)
	}
	if !exists(filepath.Join(dir, "fifo.data")) {
		t.Fatal("data dropped")
	}
}

// s3mount recover reads a spool as root may read another user's: it lists
// a journal whose data file is a symlink, but never exports through it.
func TestInspectDoesNotFollowLinks(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, identityFile), []byte(testIdentity+"\n"), 0o600)
	plant(t, dir, "x", []byte(`{"key":"a","kind":"whole","dirty":true,"size":0}`), nil)
	check := plantLink(t, dir, "x.data")
	es, err := Inspect(dir)
	if err != nil || len(es) != 1 {
		t.Fatalf("Inspect: %v, %d entries", err, len(es))
	}
	var out bytes.Buffer
	if _, err := es[0].Export(&out); err == nil || out.Len() != 0 {
		t.Fatalf("exported %q through a symlink (%v)", &out, err)
	}
	check()
	os.Remove(filepath.Join(dir, "x.json"))
	checkJ := plantLink(t, dir, "x.json")
	if _, err := Inspect(dir); err == nil || !strings.Contains(err.Error(), "x.json") {
		t.Fatalf("Inspect over a symlinked journal: %v", err)
	}
	checkJ()
}

func ExampleCheckKey() {
	for _, k := range []string{"logs/a/b.log", "logs/../x", "other/a", "logs/a/"} {
		fmt.Println(k, CheckKey(k, "logs/"))
	}
	// Output:
	// logs/a/b.log <nil>
	// logs/../x "logs/../x" has a ".." component: not a file path
	// other/a "other/a" is outside the mount's prefix "logs/"
	// logs/a/ "logs/a/" has a "" component: not a file path
}

// A journal written before Base marked a claimed object on an append by
// Dirty (publish.ClaimLeft): it reads as BaseReplaced, and a whole file's
// Dirty keeps its meaning.
func TestClaimOfEarlierVersionReadsAsReplaced(t *testing.T) {
	for _, c := range []struct {
		in        string
		base      BaseKind
		dirty     bool
		whatItWas string
	}{
		{`{"key":"p/a","kind":"append","exists":true,"base_size":0,"base_etag":"\"e\"","shift":0,"local_start":0,"size":0,"dirty":true}`, BaseReplaced, false, "an empty log that claimed an old key"},
		{`{"key":"p/a","kind":"append","exists":true,"base_size":5,"base_etag":"\"e\"","shift":0,"local_start":5,"size":9,"dirty":false}`, BaseOwn, false, "a log with a base"},
		{`{"key":"p/a","kind":"whole","exists":true,"base_size":0,"base_etag":"\"e\"","shift":0,"local_start":0,"size":3,"dirty":true}`, BaseOwn, true, "a whole file"},
		{`{"key":"p/a","kind":"append","exists":true,"base_size":0,"base_etag":"\"e\"","shift":0,"local_start":0,"size":4,"dirty":false,"base":"replaced"}`, BaseReplaced, false, "a log that claimed an old key, this version"},
	} {
		j, err := decodeJournal([]byte(c.in))
		if err != nil {
			t.Fatalf("%s: %v", c.whatItWas, err)
		}
		if j.Base != c.base || j.Dirty != c.dirty {
			t.Errorf("%s: base %q dirty %v, want %q %v", c.whatItWas, j.Base, j.Dirty, c.base, c.dirty)
		}
	}
}

// A map check (S3's bytes to compare, publish/mapped.go) survives a crash
// and goes once cleared; journals without one (every earlier version's)
// recover with none.
func TestMapCheckIsJournaled(t *testing.T) {
	dir := spoolDirOf(t, testIdentity)
	s, _ := open(t, dir, Options{})
	f, err := s.Create(Journal{Key: "a.log", Kind: KindAppend, Exists: true, BaseSize: 4, BaseETag: `"e"`})
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, []byte("one\nours\n"), 0)
	if err := f.Update(func(j *Journal) { j.MapCheck = j.MapCheck.Merged(4, 9) }); err != nil {
		t.Fatal(err)
	}
	if err := f.Update(func(j *Journal) { j.MapCheck = j.MapCheck.Merged(0, 6) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	got, log := recovered(t, dir)
	if len(got) != 1 || got[0].MapCheck == nil || *got[0].MapCheck != (MapCheck{From: 0, To: 9, Rec: 2}) {
		t.Fatalf("recovered %+v, want its map check [0, 9)\n%s", got, log)
	}
	s, left := open(t, dir, Options{})
	if err := left[0].Update(func(j *Journal) { j.MapCheck = nil }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got, log := recovered(t, dir); len(got) != 1 || got[0].MapCheck != nil {
		t.Fatalf("recovered %+v after the check was cleared\n%s", got, log)
	}
	if j, err := decodeJournal([]byte(`{"key":"a.log","kind":"append","size":3}`)); err != nil || j.MapCheck != nil {
		t.Fatalf("a journal without map_check: %+v, %v", j, err)
	}
}
