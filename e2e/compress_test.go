package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// codecs are the --compress values with their object suffix and CLI.
var codecs = []struct{ name, ext, tool string }{{"gzip", ".gz", "gzip"}, {"zstd", ".zst", "zstd"}}

// unpack checks obj with the codec's own tool (gzip -t / zstd -t) and
// returns its uncompressed bytes (gzip -dc / zstd -dc, what zcat does).
func unpack(t *testing.T, tool string, obj []byte) ([]byte, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "obj")
	if err := os.WriteFile(p, obj, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool, "-t", p).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s -t: %v: %s", tool, err, out)
	}
	return exec.Command(tool, "-dc", p).Output()
}

// nginx under wrk writes its logs on a mount with --compress; logrotate
// rotates by rename + create under load, then by copytruncate. While
// nginx runs, every version of access.log's object seen passes gzip -t /
// zstd -t; at the end every request nginx served has exactly one line
// across the decompressed access.log* objects, no uncompressed access.log
// object exists, and the mount showed each file's uncompressed bytes.
// copytruncate's copy access.log.1 is a new file: the second glob (as
// README advises for copytruncate) makes it compressed.
func TestCompressNginxLogrotate(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			srv, b := setup(t)
			m := mount(t, srv, b, "--allow-delete", "--allow-overwrite", "--upload-interval", "1s", "--compress", c.name,
				"--compress-glob", "*.log", "--compress-glob", "*.log.[0-9]")
			logs := filepath.Join(m.Dir, "logs")
			if err := os.Mkdir(logs, 0o755); err != nil {
				t.Fatal(err)
			}
			ng := startNginx(t, logs)
			state := t.TempDir()
			files := logs + "/access.log " + logs + "/error.log"

			// The checker: a valid stream after every publication.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var checkErr error
			versions := 0
			st := srv.Store(t, b)
			wg.Add(1)
			go func() {
				defer wg.Done()
				last := ""
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
					info, err := st.Head(t.Context(), "logs/access.log"+c.ext)
					if err != nil || info.ETag == last {
						continue
					}
					rc, err := st.Get(t.Context(), "logs/access.log"+c.ext, 0, -1, info.ETag)
					if err != nil {
						continue // replaced since the HEAD
					}
					var obj bytes.Buffer
					_, err = obj.ReadFrom(rc)
					rc.Close()
					if err != nil {
						continue
					}
					last = info.ETag
					versions++
					if _, err := unpack(t, c.tool, obj.Bytes()); err != nil && checkErr == nil {
						checkErr = fmt.Errorf("version %s of access.log%s: %v", info.ETag, c.ext, err)
					}
				}
			}()

			served := map[string]int{}
			before := ng.stableServed(t)
			phase := func(name string, d time.Duration, during func()) {
				done := make(chan error, 1)
				go func() { _, err := load(ng, name, d); done <- err }()
				if during != nil {
					time.Sleep(d / 2)
					during()
				}
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				now := ng.stableServed(t)
				served[name] = now - before
				before = now
			}
			phase("phase1", 4*time.Second, func() {
				logrotate(t, state, fmt.Sprintf("%s {\n  create 0644 root root\n  rotate 5\n  missingok\n  nocompress\n  sharedscripts\n  postrotate\n    kill -USR1 $(cat %s)\n  endscript\n}\n", files, ng.pidFile))
			})
			phase("phase2", 3*time.Second, nil)
			logrotate(t, state, files+" {\n  copytruncate\n  rotate 5\n  missingok\n  nocompress\n}\n")
			phase("phase3", 3*time.Second, nil)

			local := map[string][]byte{}
			ents, _ := os.ReadDir(logs)
			for _, e := range ents {
				data, err := os.ReadFile(filepath.Join(logs, e.Name()))
				if err != nil {
					t.Fatalf("read %s through the mount: %v", e.Name(), err)
				}
				local[e.Name()] = data
			}
			ng.stop(t)
			m.Unmount(t)
			close(stop)
			wg.Wait()
			if checkErr != nil {
				t.Fatal(checkErr)
			}
			if versions < 3 {
				t.Fatalf("the checker saw %d versions of access.log%s", versions, c.ext)
			}

			var keys []string
			for _, k := range srv.Keys(t, b, "logs/") {
				if !strings.HasSuffix(k, "/") { // mkdir's directory marker
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			t.Logf("objects: %v; %d versions of access.log%s checked with %s -t", keys, versions, c.ext, c.tool)
			for _, n := range []string{"access.log", "access.log.1", "access.log.2", "error.log", "error.log.1"} {
				if !srv.Exists(t, b, "logs/"+n+c.ext) {
					t.Fatalf("logs/%s%s is missing (objects: %v)", n, c.ext, keys)
				}
				if srv.Exists(t, b, "logs/"+n) {
					t.Fatalf("an uncompressed logs/%s was written (objects: %v)", n, keys)
				}
			}
			if len(local) != 6 {
				t.Fatalf("the mount showed %d files, want 6 (access.log, .1, .2, error.log, .1, .2)", len(local))
			}
			seen := map[string]string{}
			count := map[string]int{}
			var raw, comp int
			for _, k := range keys {
				name := strings.TrimSuffix(strings.TrimPrefix(k, "logs/"), c.ext)
				obj := srv.Get(t, b, k)
				data, err := unpack(t, c.tool, obj)
				if err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				raw, comp = raw+len(data), comp+len(obj)
				// (nginx writes error.log lines as it quits, after the reads.)
				if l, ok := local[name]; strings.HasPrefix(name, "access.log") && (!ok || !bytes.Equal(l, data)) {
					t.Errorf("%s: the mount showed %d bytes as %s, the object holds %d uncompressed", k, len(l), name, len(data))
				}
				if !strings.HasPrefix(name, "access.log") {
					continue
				}
				sc := bufio.NewScanner(bytes.NewReader(data))
				for sc.Scan() {
					mm := accessPath.FindStringSubmatch(sc.Text())
					if mm == nil {
						t.Fatalf("%s: not an access log line: %q", k, sc.Text())
					}
					id := mm[1] + "/" + mm[2]
					if prev, dup := seen[id]; dup {
						t.Fatalf("request %s logged twice (%s and %s)", id, prev, k)
					}
					seen[id] = k
					count[mm[1]]++
				}
			}
			for _, p := range []string{"phase1", "phase2", "phase3"} {
				t.Logf("%s: nginx served %d, lines %d", p, served[p], count[p])
				if count[p] != served[p] {
					t.Errorf("%s: %d lines in S3 for %d requests served", p, count[p], served[p])
				}
			}
			t.Logf("%d bytes of logs stored as %d (ratio %.1f)", raw, comp, float64(raw)/float64(max(comp, 1)))
		})
	}
}

// Two mounts (two spool directories, as two hosts) append to one
// compressed key: the later publication rebases after the other's member;
// every line of both is there once and the object is a valid stream.
func TestCompressTwoMountsOneKey(t *testing.T) {
	srv, b := setup(t)
	m1 := mount(t, srv, b, "--upload-interval", "300ms", "--compress", "gzip")
	m2 := mount(t, srv, b, "--upload-interval", "300ms", "--compress", "gzip")
	var wg sync.WaitGroup
	for i, m := range []*testenv.Mount{m1, m2} {
		tag := []string{"A", "B"}[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := openAppender(t, filepath.Join(m.Dir, "shared.log"), tag)
			defer a.f.Close()
			for n := 1; n <= 400; n++ {
				if !a.write(n) {
					t.Errorf("%s: write %d failed", tag, n)
					return
				}
				if n%50 == 0 {
					time.Sleep(350 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	m1.Unmount(t)
	m2.Unmount(t)
	data, err := unpack(t, "gzip", srv.Get(t, b, "shared.log.gz"))
	if err != nil {
		t.Fatal(err)
	}
	counts, _ := countLines(t, data)
	for _, tag := range []string{"A", "B"} {
		for n := 1; n <= 400; n++ {
			if c := counts[lineOf(tag, n)]; c != 1 {
				t.Fatalf("line %s-%d is in the object %d times", tag, n, c)
			}
		}
	}
	if len(counts) != 800 {
		t.Fatalf("%d distinct lines, want 800", len(counts))
	}
}

// SIGKILL of the daemon while a writer appends to a compressed log; a
// remount with the same spool publishes the rest: every acknowledged line
// is in the object once, the object is a valid stream, and the new mount
// shows the file's uncompressed bytes at its uncompressed size.
func TestCompressSigkillThenRemount(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			srv, b := setup(t)
			spoolDir := t.TempDir()
			m := mount(t, srv, b, "--spool-dir", spoolDir, "--upload-interval", "300ms", "--compress", c.name)
			a := openAppender(t, filepath.Join(m.Dir, "crash.log"), "K")
			n := 0
			for n < 3000 {
				n++
				if !a.write(n) {
					t.Fatalf("write %d failed before the kill", n)
				}
				if n%500 == 0 {
					time.Sleep(400 * time.Millisecond)
				}
			}
			m.Kill(t)
			for a.write(n + 1) {
				n++
			}
			a.f.Close()
			acked := int(a.acked.Load())
			m2 := mount(t, srv, b, "--spool-dir", spoolDir, "--compress", c.name)
			var shown []byte
			if !waitUntil(30*time.Second, func() bool {
				var err error
				shown, err = os.ReadFile(filepath.Join(m2.Dir, "crash.log"))
				return err == nil && bytes.Count(shown, []byte("\n")) >= acked
			}) {
				t.Fatalf("the remount shows %d lines of crash.log, %d were acknowledged", bytes.Count(shown, []byte("\n")), acked)
			}
			m2.Unmount(t)
			data, err := unpack(t, c.tool, srv.Get(t, b, "crash.log"+c.ext))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(shown, data) {
				t.Fatalf("the mount showed %d bytes, the object holds %d uncompressed", len(shown), len(data))
			}
			counts, _ := countLines(t, data)
			for i := 1; i <= acked; i++ {
				if c := counts[lineOf("K", i)]; c != 1 {
					t.Fatalf("acknowledged line %d is in S3 %d times", i, c)
				}
			}
			if len(counts) != acked {
				t.Fatalf("S3 has %d distinct lines, %d were acknowledged", len(counts), acked)
			}
			if srv.Exists(t, b, "crash.log") {
				t.Fatal("an uncompressed crash.log was written")
			}
		})
	}
}

// A compressed log through the mount: status shows both sizes and the
// metrics the bytes before and after compression; a fresh mount shows
// the uncompressed size (one HEAD), reads at any offset, and an edit
// (open without O_APPEND) publishes the whole file compressed. An object
// ending in .gz without s3mount's mark is shown as it is.
func TestCompressReadEditStatus(t *testing.T) {
	srv, b := setup(t)
	foreign := []byte("\x1f\x8b not written by s3mount")
	srv.Put(t, b, "other.log.gz", foreign)
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	m := mount(t, srv, b, "--compress", "gzip", "--upload-interval", "1h", "--metrics-addr", addr)
	f, err := os.OpenFile(filepath.Join(m.Dir, "app.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for chunk := 0; chunk < 5; chunk++ { // five publications: five members
		for i := 0; i < 4000; i++ {
			line := []byte(lineOf("Z", chunk*4000+i))
			if _, err := f.Write(line); err != nil {
				t.Fatal(err)
			}
			want = append(want, line...)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(testenv.Binary(t), "status", "--json", m.Dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Files []struct {
			Key        string `json:"key"`
			Size       int64  `json:"size"`
			Object     string `json:"object"`
			ObjectSize int64  `json:"object_size"`
		} `json:"files"`
	}
	if err := json.Unmarshal(out, &rep); err != nil || len(rep.Files) != 1 {
		t.Fatalf("status: %v\n%s", err, out)
	}
	fs := rep.Files[0]
	obj := srv.Get(t, b, "app.log.gz")
	if fs.Object != "app.log.gz" || fs.Size != int64(len(want)) || fs.ObjectSize != int64(len(obj)) {
		t.Fatalf("status shows %+v; want app.log.gz, %d bytes stored as %d", fs, len(want), len(obj))
	}
	if human, err := exec.Command(testenv.Binary(t), "status", m.Dir).Output(); err != nil || !strings.Contains(string(human), fmt.Sprintf("%d in app.log.gz", len(obj))) || !strings.Contains(string(human), "compression gzip:") {
		t.Fatalf("status: %v\n%s", err, human)
	}
	metrics := scrape(t, addr)
	if in, outb := metrics["s3mount_compress_input_bytes_total"], metrics["s3mount_compress_output_bytes_total"]; in != float64(len(want)) || outb <= 0 || outb >= in {
		t.Fatalf("compression metrics: %v bytes in, %v out; %d were published", in, outb, len(want))
	}
	f.Close()
	m.Unmount(t)

	m2 := mount(t, srv, b, "--compress", "gzip", "--allow-overwrite")
	p := filepath.Join(m2.Dir, "app.log")
	if st, err := os.Stat(p); err != nil || st.Size() != int64(len(want)) {
		t.Fatalf("stat app.log on a fresh mount: %v, %v; want %d bytes", st, err, len(want))
	}
	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int{len(want) - 1000, 17, len(want) / 2, len(want) / 5 * 3, 0} {
		buf := make([]byte, 1000)
		n, err := r.ReadAt(buf, int64(off))
		if n < len(buf) && !(err == io.EOF && off+n == len(want)) || !bytes.Equal(buf[:n], want[off:off+n]) {
			t.Fatalf("pread at %d: %d bytes, %v", off, n, err)
		}
	}
	r.Close()
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read app.log: %d bytes, %v; want %d", len(got), err, len(want))
	}
	if got, err := os.ReadFile(filepath.Join(m2.Dir, "other.log.gz")); err != nil || !bytes.Equal(got, foreign) {
		t.Fatalf("an unmarked .gz object reads %q, %v; want it as it is", got, err)
	}
	// Edit in place: the file is brought into the spool and published whole.
	e, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.WriteAt([]byte("EDITED"), 10); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	copy(want[10:], "EDITED")
	m2.Unmount(t)
	data, err := unpack(t, "gzip", srv.Get(t, b, "app.log.gz"))
	if err != nil || !bytes.Equal(data, want) {
		t.Fatalf("after the edit the object holds %d bytes (%v), want %d with the edit", len(data), err, len(want))
	}
	if srv.Exists(t, b, "app.log") {
		t.Fatal("an uncompressed app.log was written")
	}
}

// Non-blocking mode with S3 down: the lines that do not fit are dropped
// whole and the marker line lands inside the compressed stream where they
// are missing; the object stays a valid stream.
func TestCompressNonBlockingMarker(t *testing.T) {
	srv, b := setup(t)
	m, p := mountVia(t, srv, b, "--upload-interval", "1s", "--buffer-mode", "non-blocking", "--max-buffer-size", "1m", "--compress", "gzip")
	a := openAppender(t, filepath.Join(m.Dir, "drops.log"), "N")
	for i := 1; i <= 200; i++ {
		a.write(i)
	}
	p.SetOutage(true)
	total := 4<<20/len(lineOf("N", 100000)) + 200
	for i := 201; i <= total; i++ {
		if !a.write(i) {
			t.Fatalf("write %d failed in non-blocking mode", i)
		}
	}
	p.SetOutage(false)
	st := srv.Store(t, b)
	if !waitUntil(2*time.Minute, func() bool {
		h, err := st.Head(t.Context(), "drops.log.gz")
		return err == nil && h.Encoding != nil && h.Encoding.Size >= 900<<10
	}) {
		t.Fatal("the buffer did not drain after S3 came back")
	}
	time.Sleep(500 * time.Millisecond)
	a.write(total + 1)
	a.f.Close()
	m.Unmount(t)
	data, err := unpack(t, "gzip", srv.Get(t, b, "drops.log.gz"))
	if err != nil {
		t.Fatal(err)
	}
	counts, markers := countLines(t, data)
	if len(markers) != 1 {
		t.Fatalf("want one marker line, got %q", markers)
	}
	mm := markerRE.FindStringSubmatch(markers[0])
	if mm == nil {
		t.Fatalf("marker line %q is malformed", markers[0])
	}
	missing := 0
	for i := 1; i <= total+1; i++ {
		switch counts[lineOf("N", i)] {
		case 0:
			missing += len(lineOf("N", i))
		case 1:
		default:
			t.Fatalf("line %d is in S3 twice", i)
		}
	}
	if fmt.Sprint(missing) != mm[1] || missing == 0 {
		t.Fatalf("%d bytes missing, the marker says %s", missing, mm[1])
	}
	if counts[lineOf("N", total+1)] != 1 {
		t.Fatal("the line written after S3 came back is missing")
	}
}

// logrotate's own `compress` (Debian's nginx default, with delaycompress)
// on a --compress mount: access.log.1's object is access.log.1.gz (the
// rename moved it there), so gzip's access.log.1.gz is a second file on
// that key until logrotate unlinks access.log.1. Its publication waits
// for that (one log line), then it is stored as written. Before, logrotate
// found access.log.1's object under its raw name, renamed it to a .backup
// name (access.log.1 vanished from the mount) and gzip failed. Four
// rotations: every round's lines are in exactly one object, each a valid
// gzip stream, and the mount shows what S3 holds.
func TestCompressLogrotateCompress(t *testing.T) {
	srv, b := setup(t)
	m := mount(t, srv, b, "--allow-delete", "--allow-overwrite", "--upload-interval", "1s", "--compress", "gzip")
	logs := filepath.Join(m.Dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	conf := filepath.Join(state, "logrotate.conf")
	if err := os.WriteFile(conf, []byte(logs+"/access.log {\n  create 0644 root root\n  rotate 5\n  compress\n  delaycompress\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	round := func(r int) string {
		var s strings.Builder
		for i := 0; i < 100; i++ {
			fmt.Fprintf(&s, "round %d line %d\n", r, i)
		}
		f, err := os.OpenFile(filepath.Join(logs, "access.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(s.String()); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return s.String()
	}
	var rounds []string
	for r := 1; r <= 4; r++ {
		rounds = append(rounds, round(r))
		logrotate(t, state, string(mustRead(t, conf)))
	}
	rounds = append(rounds, round(5))
	if !strings.Contains(m.Stderr(), "publication waits") {
		t.Fatalf("no log line for a publication that waited for its key:\n%s", m.Stderr())
	}

	// name -> round, as logrotate leaves them: access.log.N.gz written by
	// gzip, access.log.1 and access.log stored compressed by the mount.
	want := map[string]string{"access.log": rounds[4], "access.log.1": rounds[3], "access.log.2.gz": rounds[2], "access.log.3.gz": rounds[1], "access.log.4.gz": rounds[0]}
	check := func(name string, data []byte) {
		t.Helper()
		if strings.HasSuffix(name, ".gz") {
			var err error
			if data, err = unpack(t, "gzip", data); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if string(data) != want[name] {
			t.Fatalf("%s holds %d bytes, want round %q's %d", name, len(data), strings.SplitN(want[name], " line", 2)[0], len(want[name]))
		}
	}
	entries, err := os.ReadDir(logs)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		data, err := os.ReadFile(filepath.Join(logs, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		check(e.Name(), data)
	}
	if len(names) != len(want) {
		t.Fatalf("the mount shows %v, want the %d files of %v", names, len(want), want)
	}
	m.Unmount(t)
	keys := srv.Keys(t, b, "logs/")
	sort.Strings(keys)
	wantKeys := []string{"logs/", "logs/access.log.1.gz", "logs/access.log.2.gz", "logs/access.log.3.gz", "logs/access.log.4.gz", "logs/access.log.gz"}
	if strings.Join(keys, " ") != strings.Join(wantKeys, " ") {
		t.Fatalf("keys %v, want %v", keys, wantKeys)
	}
	for name := range want {
		obj := name
		if !strings.HasSuffix(name, ".gz") {
			obj = name + ".gz"
			data, err := unpack(t, "gzip", srv.Get(t, b, "logs/"+obj))
			if err != nil {
				t.Fatalf("%s: %v", obj, err)
			}
			check(name, data)
			continue
		}
		check(name, srv.Get(t, b, "logs/"+obj))
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The same rename, the mount then SIGKILLed while deletes are still
// refused: after the remount S3 holds app.log.1 in both forms and only the
// spool's journal says which object is the file's. Before, the remounted
// view took the globs' form: a HEAD found the wrong one and a reader of
// app.log.1 got ESTALE ("object changed while open") or its bytes.
func TestCompressRenameOverTheOtherFormKilled(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			srv := testenv.StartServer(t)
			b := srv.NewBucket(t)
			srv.Put(t, b, "app.log.1", []byte("an old plain line, longer than the log\n"))
			spoolDir := t.TempDir()
			opts := []string{"--spool-dir", spoolDir, "--allow-delete", "--upload-interval", "1s", "--close-delay", "200ms", "--compress", c.name}
			m, p := mountVia(t, srv, b, opts...)
			log := filepath.Join(m.Dir, "app.log")
			bash(t, fmt.Sprintf(`for i in $(seq 1 3); do echo "A-$i" >> %[1]q; done; sync %[1]q`, log))
			p.SetRefuseDeletes(true)
			bash(t, fmt.Sprintf(`mv %[1]q %[1]q.1`, log))
			m.Kill(t)
			if keys := srv.Keys(t, b, ""); len(keys) != 3 {
				t.Fatalf("premise: S3 holds %q after the rename with deletes refused, want app.log%s, app.log.1 and app.log.1%s", keys, c.ext, c.ext)
			}
			m2 := testenv.MountBinary(t, p.URL, srv, b, opts...)
			defer func() {
				if t.Failed() {
					t.Logf("mount log:\n%s", m2.Stderr())
				}
			}()
			want := "A-1\nA-2\nA-3\n"
			got := bash(t, fmt.Sprintf(`cat %[1]q 2>&1; stat -c %%s %[1]q 2>&1; ls %[2]q`, filepath.Join(m2.Dir, "app.log.1"), m2.Dir))
			if wantOut := want + fmt.Sprintf("%d\napp.log.1\n", len(want)); got != wantOut {
				t.Errorf("after the remount: cat, stat -c %%s and ls said %q, want %q", got, wantOut)
			}
			p.SetRefuseDeletes(false)
			if !waitUntil(time.Minute, func() bool { return len(srv.Keys(t, b, "")) == 1 }) {
				t.Errorf("S3 holds %q a minute after deletes work again, want only app.log.1%s", srv.Keys(t, b, ""), c.ext)
			}
			m2.Unmount(t)
			if got, err := unpack(t, c.tool, srv.Get(t, b, "app.log.1"+c.ext)); err != nil || string(got) != want {
				t.Errorf("S3 app.log.1%s holds %q (%v), want %q", c.ext, got, err, want)
			}
		})
	}
}

// logrotate's rename of a compressed log onto a name a host without
// --compress wrote plain (app.log -> app.log.1 over the plain app.log.1),
// on a bucket that refuses deletes: the rename succeeds, the mount shows
// app.log.1 as the renamed log, and the replaced plain object, which
// cannot be deleted yet, is hidden; once deletes work again it goes by
// itself (with app.log.gz, the old key), nothing written. Before, S3 kept
// app.log.1 in both forms for good.
func TestCompressRenameOverPlainWithDeletesRefused(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			srv := testenv.StartServer(t)
			b := srv.NewBucket(t)
			srv.Put(t, b, "app.log.1", []byte("old plain line\n"))
			m, p := mountVia(t, srv, b, "--allow-delete", "--upload-interval", "1s", "--close-delay", "200ms", "--compress", c.name)
			defer func() {
				if t.Failed() {
					t.Logf("mount log:\n%s", m.Stderr())
				}
			}()
			log := filepath.Join(m.Dir, "app.log")
			bash(t, fmt.Sprintf(`for i in $(seq 1 50); do echo "A-$i" >> %[1]q; done; sync %[1]q`, log))
			p.SetRefuseDeletes(true)
			bash(t, fmt.Sprintf(`mv %[1]q %[1]q.1`, log))
			var want strings.Builder
			for i := 1; i <= 50; i++ {
				fmt.Fprintf(&want, "A-%d\n", i)
			}
			ents, err := os.ReadDir(m.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != 1 || ents[0].Name() != "app.log.1" {
				t.Errorf("the mount lists %v, want only app.log.1", ents)
			}
			if got, err := os.ReadFile(log + ".1"); err != nil || string(got) != want.String() {
				t.Errorf("the mount shows app.log.1 as %q (%v), want the renamed log's %d bytes", firstLine(string(got)), err, want.Len())
			}
			if keys := srv.Keys(t, b, ""); len(keys) != 3 {
				t.Errorf("S3 holds %q while deletes are refused, want app.log%s, app.log.1 and app.log.1%s", keys, c.ext, c.ext)
			}
			p.SetRefuseDeletes(false)
			if !waitUntil(time.Minute, func() bool { return len(srv.Keys(t, b, "")) == 1 }) {
				t.Errorf("S3 holds %q a minute after deletes work again, want only app.log.1%s", srv.Keys(t, b, ""), c.ext)
			}
			m.Unmount(t)
			if keys := srv.Keys(t, b, ""); len(keys) != 1 || keys[0] != "app.log.1"+c.ext {
				t.Fatalf("after the unmount S3 holds %q, want only app.log.1%s", keys, c.ext)
			}
			got, err := unpack(t, c.tool, srv.Get(t, b, "app.log.1"+c.ext))
			if err != nil || string(got) != want.String() {
				t.Errorf("S3 app.log.1%s holds %d bytes (%v), want %d", c.ext, len(got), err, want.Len())
			}
		})
	}
}

// gzip writing NAME.gz beside the compressed log NAME that logrotate just
// renamed, whose lines are not in S3 yet: NAME.gz's close succeeds and its
// publication waits for NAME to go (they share the object key NAME.gz).
// Before, the plain NAME.gz took the key at once while NAME still existed
// here with its lines to publish there.
func TestCompressPlainTwinOfAnUnpublishedLogWaits(t *testing.T) {
	srv, b := setup(t)
	m := mount(t, srv, b, "--allow-delete", "--compress", "gzip", "--upload-interval", "1h", "--close-delay", "1h")
	dir := m.Dir
	bash(t, fmt.Sprintf(`set -e; cd %q; for i in $(seq 100); do echo "line $i" >> access.log; done
		mv access.log access.log.1; gzip -c access.log.1 > access.log.1.gz`, dir))
	st := srv.Store(t, b)
	if h, err := st.Head(context.Background(), "access.log.1.gz"); err == nil {
		t.Fatalf("the plain access.log.1.gz took the key of access.log.1, which holds unpublished lines: %+v", h)
	}
	want := mustRead(t, filepath.Join(dir, "access.log.1.gz"))
	if err := os.Remove(filepath.Join(dir, "access.log.1")); err != nil {
		t.Fatal(err)
	}
	if !waitUntil(time.Minute, func() bool {
		h, err := st.Head(context.Background(), "access.log.1.gz")
		return err == nil && h.Size == int64(len(want))
	}) {
		t.Fatal("the plain access.log.1.gz was not published within a minute of access.log.1's unlink")
	}
	if got := srv.Get(t, b, "access.log.1.gz"); !bytes.Equal(got, want) {
		t.Fatalf("S3's access.log.1.gz: %d bytes, want gzip's %d", len(got), len(want))
	}
	data, err := unpack(t, "gzip", want)
	if err != nil || !strings.HasPrefix(string(data), "line 1\n") || !strings.HasSuffix(string(data), "line 100\n") {
		t.Fatalf("gzip's output: %v", err)
	}
}
