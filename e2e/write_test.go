package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// bash runs a script and returns its stdout; the test fails on error.
func bash(t *testing.T, script string) string {
	t.Helper()
	out, err := exec.Command("bash", "-c", script).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("bash: %v\n%s\nstderr: %s", err, script, ee.Stderr)
		}
		t.Fatalf("bash: %v", err)
	}
	return string(out)
}

// mountVia mounts bucket through a fresh fault proxy, so that the test can
// count the S3 requests the mount sends.
func mountVia(t *testing.T, srv *testenv.Server, bucket string, extra ...string) (*testenv.Mount, *testenv.Proxy) {
	t.Helper()
	p := testenv.NewProxy(t, srv.Endpoint)
	return testenv.MountBinary(t, p.URL, srv, bucket, extra...), p
}

func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// The seed scenario: 10,000 separate `echo >> f` (each opens, appends and
// closes). Every line lands once, in order; wc -l through the mount agrees
// after every 1,000; and the loop costs a handful of S3 requests, not one
// PUT per append.
func TestAppendLoop10000(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m, p := mountVia(t, srv, b)
	f := filepath.Join(m.Dir, "app.log")
	before := p.Requests()
	out := bash(t, fmt.Sprintf(`for i in $(seq 1 10000); do echo "line$i" >> %q; if (( i %% 1000 == 0 )); then wc -l < %q; fi; done`, f, f))
	for i, got := range lines(out) {
		if want := strconv.Itoa((i + 1) * 1000); strings.TrimSpace(got) != want {
			t.Fatalf("wc -l after %s appends said %q", want, got)
		}
	}
	m.Unmount(t)
	reqs := p.Requests() - before
	got := lines(string(srv.Get(t, b, "app.log")))
	if len(got) != 10000 {
		t.Fatalf("object has %d lines, want 10000", len(got))
	}
	for i, l := range got {
		if l != "line"+strconv.Itoa(i+1) {
			t.Fatalf("line %d is %q", i+1, l)
		}
	}
	t.Logf("10,000 appends cost %d S3 requests", reqs)
	// Lookups of a new file cost 2 requests, each publication 1-4: a
	// per-append upload would cost 10,000+.
	if reqs > 20 {
		t.Fatalf("10,000 appends cost %d S3 requests; publications are not coalesced", reqs)
	}
}

// Two processes append 5,000 lines each through their own O_APPEND fds:
// 10,000 whole lines, each writer's in its order.
func TestTwoAppendingProcesses(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m := testenv.MountBinary(t, srv.Endpoint, srv, b)
	f := filepath.Join(m.Dir, "shared.log")
	bash(t, fmt.Sprintf(`
w() { for i in $(seq 1 5000); do echo "$1-$i-$(printf '%%0100d' $i)" >> %q; done; }
w A & w B & wait`, f))
	local, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	m.Unmount(t)
	remote := srv.Get(t, b, "shared.log")
	if !bytes.Equal(local, remote) {
		t.Fatalf("object (%d bytes) differs from what the mount showed (%d bytes)", len(remote), len(local))
	}
	checkWriters(t, lines(string(remote)), []string{"A", "B"}, 5000)
}

// checkWriters asserts that each writer's n lines are there once, whole and
// in order.
func checkWriters(t *testing.T, got []string, writers []string, n int) {
	t.Helper()
	next := map[string]int{}
	for _, w := range writers {
		next[w] = 1
	}
	for i, l := range got {
		parts := strings.SplitN(l, "-", 3)
		if len(parts) != 3 {
			t.Fatalf("line %d is not whole: %q", i+1, l)
		}
		k, ok := next[parts[0]]
		seq, err := strconv.Atoi(parts[1])
		if !ok || err != nil || seq != k || parts[2] != fmt.Sprintf("%0100d", seq) {
			t.Fatalf("line %d: %q (expected %s-%d)", i+1, l, parts[0], k)
		}
		next[parts[0]] = k + 1
	}
	for _, w := range writers {
		if next[w] != n+1 {
			t.Fatalf("writer %s: %d lines, want %d", w, next[w]-1, n)
		}
	}
}

// Many writers sharing one fd (nginx master + workers after fork).
func TestSharedFdWriters(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m := testenv.MountBinary(t, srv.Endpoint, srv, b)
	f := filepath.Join(m.Dir, "fd.log")
	bash(t, fmt.Sprintf(`
exec 3>>%q
w() { for i in $(seq 1 2000); do echo "$1-$i-$(printf '%%0100d' $i)" >&3; done; }
w A & w B & w C & wait`, f))
	m.Unmount(t)
	checkWriters(t, lines(string(srv.Get(t, b, "fd.log"))), []string{"A", "B", "C"}, 2000)
}

// A large file written sequentially is uploaded while it is written
// (streaming multipart), is byte-exact, and exists when close returns.
func TestLargeSequentialWrite(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m, p := mountVia(t, srv, b)
	const size = 200 << 20
	f, err := os.Create(filepath.Join(m.Dir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	buf := make([]byte, 1<<20)
	afterOpen := p.Requests()
	for off := 0; off < size; off += len(buf) {
		rand.Read(buf)
		h.Write(buf)
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	// Parts are uploaded while the writer goes on, not after close.
	deadline := time.Now().Add(30 * time.Second)
	for p.Requests()-afterOpen < 10 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := p.Requests() - afterOpen; n < 10 {
		t.Fatalf("only %d S3 requests before close: parts are not streamed", n)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// Atomic semantics: the object is complete when close returns.
	got := srv.Get(t, b, "big.bin")
	if len(got) != size || sha256.Sum256(got) != [32]byte(h.Sum(nil)) {
		t.Fatalf("object is %d bytes and differs from what was written", len(got))
	}
	// And dd through the mount of the same bytes reads back exactly.
	sum := bash(t, fmt.Sprintf("sha256sum < %q | cut -d' ' -f1", filepath.Join(m.Dir, "big.bin")))
	if strings.TrimSpace(sum) != fmt.Sprintf("%x", h.Sum(nil)) {
		t.Fatalf("read through the mount gives sha256 %s", sum)
	}
}

// dd of a file through the mount is byte-exact.
func TestDDWrite(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m := testenv.MountBinary(t, srv.Endpoint, srv, b)
	src := filepath.Join(t.TempDir(), "src")
	data := make([]byte, 37<<20+123)
	rand.Read(data)
	os.WriteFile(src, data, 0o644)
	bash(t, fmt.Sprintf("dd if=%q of=%q bs=1M status=none", src, filepath.Join(m.Dir, "dd.bin")))
	if got := srv.Get(t, b, "dd.bin"); !bytes.Equal(got, data) {
		t.Fatalf("dd: object is %d bytes, want %d, or differs", len(got), len(data))
	}
}

// Appends to existing objects: the compose path (≥ 5 MiB: UploadPartCopy +
// UploadPart) and the re-put path (small object), byte-exact.
func TestAppendToExistingObjects(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	big := make([]byte, 20<<20)
	rand.Read(big)
	small := bytes.Repeat([]byte("0123456789abcdef"), 64) // 1 KiB
	srv.Put(t, b, "big.log", big)
	srv.Put(t, b, "small.log", small)
	m := testenv.MountBinary(t, srv.Endpoint, srv, b)
	var add bytes.Buffer
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&add, "appended line %d\n", i)
	}
	for _, name := range []string{"big.log", "small.log"} {
		f, err := os.OpenFile(filepath.Join(m.Dir, name), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(add.Bytes()); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	// Read-your-writes through the mount before anything is published.
	got, err := os.ReadFile(filepath.Join(m.Dir, "big.log"))
	if err != nil || !bytes.Equal(got, append(append([]byte{}, big...), add.Bytes()...)) {
		t.Fatalf("reading big.log through the mount: %d bytes, err %v", len(got), err)
	}
	m.Unmount(t)
	for name, old := range map[string][]byte{"big.log": big, "small.log": small} {
		want := append(append([]byte{}, old...), add.Bytes()...)
		if got := srv.Get(t, b, name); !bytes.Equal(got, want) {
			t.Fatalf("%s: object is %d bytes, want %d, or differs", name, len(got), len(want))
		}
	}
}

// A log held open across several intervals is in S3 before close, and
// every publication ends on a line boundary.
func TestOpenLogPublishedEachInterval(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m := testenv.MountBinary(t, srv.Endpoint, srv, b, "--upload-interval", "1s")
	f, err := os.OpenFile(filepath.Join(m.Dir, "open.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var written bytes.Buffer
	seen := 0
	for i := 0; i < 40 && seen < 3; i++ {
		line := fmt.Sprintf("line %d ", i)
		// Half a line first: a publication must never include it alone.
		f.Write([]byte(line))
		written.WriteString(line)
		time.Sleep(50 * time.Millisecond)
		f.Write([]byte("end\n"))
		written.WriteString("end\n")
		time.Sleep(100 * time.Millisecond)
		if !srv.Exists(t, b, "open.log") {
			continue
		}
		obj := srv.Get(t, b, "open.log")
		if len(obj) == 0 || obj[len(obj)-1] != '\n' || !bytes.HasPrefix(written.Bytes(), obj) {
			t.Fatalf("published object (%d bytes) is not a line-aligned prefix of what was written", len(obj))
		}
		if len(obj) > seen {
			seen = len(obj)
		}
	}
	if seen == 0 {
		t.Fatal("nothing was published while the file was open")
	}
}

// cp has Mountpoint's atomic semantics: the object exists when cp returns.
func TestCpIsAtomic(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m := testenv.MountBinary(t, srv.Endpoint, srv, b)
	src := filepath.Join(t.TempDir(), "f")
	data := make([]byte, 3<<20+7)
	rand.Read(data)
	os.WriteFile(src, data, 0o644)
	bash(t, fmt.Sprintf("cp %q %q", src, filepath.Join(m.Dir, "copied.bin")))
	if got := srv.Get(t, b, "copied.bin"); !bytes.Equal(got, data) {
		t.Fatalf("right after cp the object is %d bytes, want %d", len(got), len(data))
	}
	// An empty file from touch is an empty object.
	bash(t, fmt.Sprintf("touch %q", filepath.Join(m.Dir, "empty")))
	if got := srv.Get(t, b, "empty"); len(got) != 0 {
		t.Fatalf("touch made a %d byte object", len(got))
	}
}

// Overwrite and delete need their flags: EPERM without.
func TestOverwriteAndDeleteFlags(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	srv.Put(t, b, "keep.txt", []byte("original\n"))
	m := testenv.MountBinary(t, srv.Endpoint, srv, b)
	p := filepath.Join(m.Dir, "keep.txt")
	if err := os.WriteFile(p, []byte("new"), 0o644); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("O_TRUNC overwrite without --allow-overwrite: %v, want EPERM", err)
	}
	if err := os.Remove(p); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("rm without --allow-delete: %v, want EPERM", err)
	}
	if got := srv.Get(t, b, "keep.txt"); string(got) != "original\n" {
		t.Fatalf("object changed to %q", got)
	}
	m.Unmount(t)

	m = testenv.MountBinary(t, srv.Endpoint, srv, b, "--allow-overwrite", "--allow-delete")
	p = filepath.Join(m.Dir, "keep.txt")
	if err := os.WriteFile(p, []byte("replaced\n"), 0o644); err != nil {
		t.Fatalf("overwrite with --allow-overwrite: %v", err)
	}
	if got := srv.Get(t, b, "keep.txt"); string(got) != "replaced\n" {
		t.Fatalf("after overwrite the object is %q", got)
	}
	if err := os.Remove(p); err != nil {
		t.Fatalf("rm with --allow-delete: %v", err)
	}
	if srv.Exists(t, b, "keep.txt") {
		t.Fatal("object still exists after rm")
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat after rm: %v", err)
	}
}

// Read while writing: another reader sees every byte at once, size and
// mtime advance with each write, and the inode number stays the same.
func TestReadWhileWriting(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m := testenv.MountBinary(t, srv.Endpoint, srv, b)
	p := filepath.Join(m.Dir, "live.log")
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var ino uint64
	var last time.Time
	var all []byte
	for i := 0; i < 50; i++ {
		line := []byte(fmt.Sprintf("event %d\n", i))
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
		all = append(all, line...)
		got := make([]byte, len(line))
		if _, err := r.ReadAt(got, int64(len(all)-len(line))); err != nil || !bytes.Equal(got, line) {
			t.Fatalf("reader saw %q (%v), want %q", got, err, line)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Size != int64(len(all)) {
			t.Fatalf("size %d after %d bytes", st.Size, len(all))
		}
		if i == 0 {
			ino = st.Ino
		} else if st.Ino != ino {
			t.Fatalf("inode changed from %d to %d", ino, st.Ino)
		}
		mt := time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
		if mt.Before(last) {
			t.Fatalf("mtime went back from %v to %v", last, mt)
		}
		last = mt
		time.Sleep(2 * time.Millisecond)
	}
	if !last.After(time.Now().Add(-time.Minute)) {
		t.Fatalf("mtime %v does not follow the writes", last)
	}
}

// Two mounts (two spools: two hosts) append to one key. The conditional
// writes see each other's changes and rebase: every line of both survives.
func TestTwoMountsOneKey(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	a := testenv.MountBinary(t, srv.Endpoint, srv, b, "--upload-interval", "1s", "--close-delay", "200ms")
	c := testenv.MountBinary(t, srv.Endpoint, srv, b, "--upload-interval", "1s", "--close-delay", "200ms")
	script := `w() { for i in $(seq 1 1500); do echo "$1-$i-$(printf '%%0100d' $i)" >> "$2"; if (( i %% 300 == 0 )); then sleep 0.7; fi; done; }
w A %q & w B %q & wait`
	bash(t, fmt.Sprintf(script, filepath.Join(a.Dir, "both.log"), filepath.Join(c.Dir, "both.log")))
	a.Unmount(t)
	c.Unmount(t)
	// Lines of the two hosts interleave by publication; each host's stay
	// whole and in order.
	checkWriters(t, lines(string(srv.Get(t, b, "both.log"))), []string{"A", "B"}, 1500)
}

// Two hosts append to one key while answers get lost: S3 applies a write
// and the host never hears (its retry meets its own change: 412). Every
// line of both survives, once, in order.
func TestTwoMountsOneKeyLostAnswers(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	a, pa := mountVia(t, srv, b, "--upload-interval", "1s", "--close-delay", "200ms")
	c, pc := mountVia(t, srv, b, "--upload-interval", "1s", "--close-delay", "200ms")
	pa.SetLostAnswers(2)
	pc.SetLostAnswers(3)
	script := `w() { for i in $(seq 1 1500); do echo "$1-$i-$(printf '%%0100d' $i)" >> "$2"; if (( i %% 300 == 0 )); then sleep 0.7; fi; done; }
w A %q & w B %q & wait`
	bash(t, fmt.Sprintf(script, filepath.Join(a.Dir, "both.log"), filepath.Join(c.Dir, "both.log")))
	pa.SetLostAnswers(0)
	pc.SetLostAnswers(0)
	t.Logf("writes: host A %d, host C %d (one in 2 and 3 answers lost)", pa.Writes(), pc.Writes())
	a.Unmount(t)
	c.Unmount(t)
	checkWriters(t, lines(string(srv.Get(t, b, "both.log"))), []string{"A", "B"}, 1500)
}

// A busy log (a line every millisecond, file kept open) is published once
// per --upload-interval, not once per write or back to back.
func TestBusyLogOnePublicationPerInterval(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m, p := mountVia(t, srv, b, "--upload-interval", "2s")
	f, err := os.OpenFile(filepath.Join(m.Dir, "busy.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	before := p.Requests()
	start := time.Now()
	n := 0
	for time.Since(start) < 7*time.Second {
		n++
		fmt.Fprintf(f, "line %d\n", n)
		time.Sleep(time.Millisecond)
	}
	reqs := p.Requests() - before
	f.Close()
	// 7 s at a 2 s interval: 3 publications of 1 request each (re-put of a
	// small object); the lookup of the new name came before.
	t.Logf("%d lines in 7 s cost %d S3 requests", n, reqs)
	if reqs > 8 {
		t.Fatalf("a busy log cost %d S3 requests in 7 s at a 2 s interval", reqs)
	}
	m.Unmount(t)
	if got := lines(string(srv.Get(t, b, "busy.log"))); len(got) != n {
		t.Fatalf("object has %d lines, want %d", len(got), n)
	}
}

// A rotation on a bucket that refuses deletes (a policy denying
// s3:DeleteObject, or S3 failing them): `mv app.log app.log.1` copies
// the object and cannot delete the old key. The writer's next `>>`
// starts a new app.log (it does not append to the rotated lines), whose
// first publication replaces the object left there; nothing is shown or
// stored twice, and the mount stops cleanly.
// With no negative cache the writer's lookup reaches S3, which still
// holds the old object under app.log: the mount must not show it there.
func TestRotationWithDeletesRefused(t *testing.T) {
	for _, ttl := range []string{"default", "0"} {
		t.Run("negative-metadata-ttl "+ttl, func(t *testing.T) { rotateWithDeletesRefused(t, ttl) })
	}
}

func rotateWithDeletesRefused(t *testing.T, negativeTTL string) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	opts := []string{"--allow-delete", "--upload-interval", "1s", "--close-delay", "200ms"}
	if negativeTTL != "default" {
		opts = append(opts, "--negative-metadata-ttl", negativeTTL)
	}
	m, p := mountVia(t, srv, b, opts...)
	p.SetRefuseDeletes(true)
	log := filepath.Join(m.Dir, "app.log")
	bash(t, fmt.Sprintf(`for i in $(seq 1 300); do echo "A-$i" >> %[1]q
if (( i == 150 )); then sync %[1]q; mv %[1]q %[1]q.1; fi; done`, log))
	shown := map[string]string{}
	for _, name := range []string{"app.log", "app.log.1"} {
		b, err := os.ReadFile(filepath.Join(m.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		shown[name] = string(b)
	}
	m.Unmount(t)
	defer func() {
		if t.Failed() {
			t.Logf("mount log:\n%s", m.Stderr())
		}
	}()
	if strings.Contains(m.Stderr(), "could not be published") {
		t.Error("the unmount left the rename unfinished in the spool (the new file's object not claimed)")
	}
	var want1, want strings.Builder
	for i := 1; i <= 300; i++ {
		w := &want
		if i <= 150 {
			w = &want1
		}
		fmt.Fprintf(w, "A-%d\n", i)
	}
	for name, w := range map[string]string{"app.log": want.String(), "app.log.1": want1.String()} {
		if shown[name] != w {
			t.Errorf("the mount showed %s as %d bytes, want %d", name, len(shown[name]), len(w))
		}
		if got := string(srv.Get(t, b, name)); got != w {
			t.Errorf("S3 %s holds %d bytes (%q...), want %d", name, len(got), firstLine(got), len(w))
		}
	}
}

// A log moved twice on a bucket that refuses deletes (mv app.log
// app.log.1; mv app.log.1 app.log.2, nothing written between, no new file
// reusing the names): both moves succeed (before, the second failed with
// EIO while the first one's old key could not be deleted), the mount shows
// only the last name with every line, S3 has them there, and once deletes
// work again the old keys go by themselves, nothing written.
func TestLogMovedTwiceWithDeletesRefused(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m, p := mountVia(t, srv, b, "--allow-delete", "--upload-interval", "1s", "--close-delay", "200ms")
	defer func() {
		if t.Failed() {
			t.Logf("mount log:\n%s", m.Stderr())
		}
	}()
	log := filepath.Join(m.Dir, "app.log")
	bash(t, fmt.Sprintf(`for i in $(seq 1 100); do echo "A-$i" >> %[1]q; done; sync %[1]q`, log))
	p.SetRefuseDeletes(true)
	bash(t, fmt.Sprintf(`mv %[1]q %[1]q.1 && mv %[1]q.1 %[1]q.2`, log))
	var want strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&want, "A-%d\n", i)
	}
	ents, err := os.ReadDir(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "app.log.2" {
		t.Errorf("the mount lists %v, want only app.log.2", ents)
	}
	if got, err := os.ReadFile(log + ".2"); err != nil || string(got) != want.String() {
		t.Errorf("the mount shows app.log.2 as %d bytes (%v), want %d", len(got), err, want.Len())
	}
	if got := string(srv.Get(t, b, "app.log.2")); got != want.String() {
		t.Errorf("S3 app.log.2 holds %d bytes, want %d", len(got), want.Len())
	}
	if keys := srv.Keys(t, b, ""); len(keys) != 3 {
		t.Errorf("S3 holds %q while deletes are refused, want the two old keys beside app.log.2", keys)
	}
	p.SetRefuseDeletes(false)
	if !waitUntil(time.Minute, func() bool { return len(srv.Keys(t, b, "")) == 1 }) {
		t.Errorf("S3 holds %q a minute after deletes work again, want only app.log.2", srv.Keys(t, b, ""))
	}
	m.Unmount(t)
	if keys := srv.Keys(t, b, ""); len(keys) != 1 || keys[0] != "app.log.2" {
		t.Errorf("after the unmount S3 holds %q, want only app.log.2", keys)
	}
}

// A log created over the old key a rotation left (deletes refused), the
// mount killed before the new log's first publication: after the remount
// the log is still the new file, not the old object. `mv` moves it
// while S3 takes no writes and the old object is gone (another host
// deleted it); before, recovery took the old object for the log's own
// and the rename copied it (EIO here; ENOENT once it was gone, its
// rotated lines under the new name while it was not).
func TestLogOverAnOldKeyKilledThenMoved(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	spoolDir := t.TempDir()
	opts := []string{"--spool-dir", spoolDir, "--allow-delete", "--upload-interval", "1h", "--close-delay", "1h"}
	m, p := mountVia(t, srv, b, opts...)
	log := filepath.Join(m.Dir, "app.log")
	bash(t, fmt.Sprintf(`echo old-1 >> %[1]q; sync %[1]q`, log))
	p.SetRefuseDeletes(true)
	bash(t, fmt.Sprintf(`mv %[1]q %[1]q.1 && echo new-1 >> %[1]q`, log))
	m.Kill(t)
	p.SetRefuseDeletes(false)
	srv.Delete(t, b, "app.log")
	p.SetRefuseWrites(true)
	m2 := testenv.MountBinary(t, p.URL, srv, b, opts...)
	defer func() {
		if t.Failed() {
			t.Logf("mount log:\n%s", m2.Stderr())
		}
	}()
	bash(t, fmt.Sprintf(`mv %q %q`, filepath.Join(m2.Dir, "app.log"), filepath.Join(m2.Dir, "moved.log")))
	if got, err := os.ReadFile(filepath.Join(m2.Dir, "moved.log")); err != nil || string(got) != "new-1\n" {
		t.Errorf("the mount shows moved.log as %q (%v), want %q", got, err, "new-1\n")
	}
	p.SetRefuseWrites(false)
	m2.Unmount(t)
	for key, want := range map[string]string{"moved.log": "new-1\n", "app.log.1": "old-1\n"} {
		if got := string(srv.Get(t, b, key)); got != want {
			t.Errorf("S3 %s holds %q, want %q", key, got, want)
		}
	}
	if keys := srv.Keys(t, b, ""); len(keys) != 2 {
		t.Errorf("S3 holds %q, want app.log.1 and moved.log", keys)
	}
}

// A rename over a file whose own earlier rename could not delete its old
// key yet (deletes refused: `mv c a`, then `mv d a`) fails with EIO, as
// an unlink of that file does, until the old key can go: the replaced
// file's journal held that delete. Before, the rename succeeded and
// forgot it: c came back in the listing and stayed in S3 for good.
func TestRenameOverAFileWhoseOldKeyIsDue(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m, p := mountVia(t, srv, b, "--allow-delete", "--upload-interval", "1s", "--close-delay", "200ms")
	defer func() {
		if t.Failed() {
			t.Logf("mount log:\n%s", m.Stderr())
		}
	}()
	path := func(name string) string { return filepath.Join(m.Dir, name) }
	bash(t, fmt.Sprintf(`echo c-1 > %[1]q; echo d-1 > %[2]q; sync %[1]q %[2]q`, path("c"), path("d")))
	p.SetRefuseDeletes(true)
	bash(t, fmt.Sprintf(`mv %q %q`, path("c"), path("a")))
	err := os.Rename(path("d"), path("a"))
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("mv d a while a's old key c cannot be deleted: %v, want EIO", err)
	}
	if got := listed(t, m.Dir); got != "a d" {
		t.Errorf("the mount lists %q, want %q", got, "a d")
	}
	p.SetRefuseDeletes(false)
	if err := os.Rename(path("d"), path("a")); err != nil {
		t.Fatalf("mv d a once deletes work: %v", err)
	}
	if got := listed(t, m.Dir); got != "a" {
		t.Errorf("the mount lists %q, want %q", got, "a")
	}
	if got, err := os.ReadFile(path("a")); err != nil || string(got) != "d-1\n" {
		t.Errorf("the mount shows a as %q (%v), want %q", got, err, "d-1\n")
	}
	m.Unmount(t)
	if keys := srv.Keys(t, b, ""); len(keys) != 1 || keys[0] != "a" {
		t.Errorf("after the unmount S3 holds %q, want only a", keys)
	}
	if got := string(srv.Get(t, b, "a")); got != "d-1\n" {
		t.Errorf("S3 a holds %q, want %q", got, "d-1\n")
	}
}

// listed is the mount directory's names, sorted, space-separated.
func listed(t *testing.T, dir string) string {
	t.Helper()
	return strings.Join(names(t, dir), " ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// A log renamed while its writer keeps it open (logrotate before the
// daemon reopens its log), on a bucket that refuses deletes: the old key
// cannot go, and the renamed log's new lines are published all the same
// (fsync succeeds and S3 has them); the mount shows only the new name.
func TestRenamedOpenLogPublishesWithDeletesRefused(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	m, p := mountVia(t, srv, b, "--allow-delete", "--upload-interval", "1h")
	p.SetRefuseDeletes(true)
	log := filepath.Join(m.Dir, "app.log")
	bash(t, fmt.Sprintf(`exec 3>>%[1]q
for i in $(seq 1 300); do echo "A-$i" >&3
if (( i == 150 )); then sync %[1]q; mv %[1]q %[1]q.1; fi; done
sync %[1]q.1
exec 3>&-`, log))
	var want strings.Builder
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(&want, "A-%d\n", i)
	}
	if got := string(srv.Get(t, b, "app.log.1")); got != want.String() {
		t.Errorf("after fsync S3 app.log.1 holds %d bytes, want %d", len(got), want.Len())
	}
	ents, err := os.ReadDir(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "app.log.1" {
		t.Errorf("the mount lists %v, want only app.log.1", ents)
	}
	if !strings.Contains(m.Stderr(), "cannot delete the old key") {
		t.Error("no warning that the old key could not be deleted")
	}
	m.Unmount(t)
	if got := string(srv.Get(t, b, "app.log.1")); got != want.String() {
		t.Errorf("after the unmount S3 app.log.1 holds %d bytes, want %d", len(got), want.Len())
	}
}
