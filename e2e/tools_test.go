package e2e

// Real, unmodified programs on the mount: nginx + wrk + logrotate, tail -F,
// vim, sed -i, rsync, cp -r, tar, git.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/s3mount/s3mount/internal/testenv"
)

// freeLoopbackPort is a TCP port on 127.0.0.1 that was free a moment ago.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startGroup starts cmd in its own process group; t.Cleanup kills the whole
// group (nginx workers, tail) if it is still there.
func startGroup(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { syscall.Kill(-pid, syscall.SIGKILL) })
}

// nginx is a running nginx (master + workers, daemon off) whose logs live
// on the mount.
type nginx struct {
	dir, conf, pidFile, url string
	polls                   int // status requests made (each counts in nginx's total)
	cmd                     *exec.Cmd
	exited                  chan struct{}
	out                     bytes.Buffer
}

func startNginx(t *testing.T, logDir string) *nginx {
	t.Helper()
	tmp := t.TempDir()
	port := freeLoopbackPort(t)
	ng := &nginx{dir: tmp, conf: filepath.Join(tmp, "nginx.conf"), pidFile: filepath.Join(tmp, "nginx.pid"),
		url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	conf := fmt.Sprintf(`user root;
daemon off;
worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 512; }
http {
  access_log %[2]s/access.log;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen 127.0.0.1:%[3]d;
    location = /status { stub_status; access_log off; }
    location / { return 200 "ok\n"; }
  }
}
`, tmp, logDir, port)
	if err := os.WriteFile(ng.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ng.start(t)
	return ng
}

// start runs the master (its workers open the logs with O_APPEND, onto
// whatever the mount has: a restart appends to the published log).
func (ng *nginx) start(t *testing.T) {
	t.Helper()
	ng.polls = 0 // a new master counts from zero
	ng.exited = make(chan struct{})
	ng.out.Reset()
	ng.cmd = exec.Command("nginx", "-c", ng.conf, "-p", ng.dir)
	ng.cmd.Stdout, ng.cmd.Stderr = &ng.out, &ng.out
	startGroup(t, ng.cmd)
	cmd, exited := ng.cmd, ng.exited
	go func() { cmd.Wait(); close(exited) }()
	if !waitUntil(20*time.Second, func() bool {
		select {
		case <-ng.exited:
			return true
		default:
		}
		_, err := ng.served()
		return err == nil
	}) {
		t.Fatal("nginx did not answer within 20s")
	}
	select {
	case <-ng.exited:
		t.Fatalf("nginx exited: %v\n%s", ng.cmd.ProcessState, ng.out.String())
	default:
	}
}

var stubRequests = regexp.MustCompile(`\n\s*\d+\s+\d+\s+(\d+)`)

// served is nginx's count of requests so far (stub_status), not counting
// status requests.
func (ng *nginx) served() (int, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(ng.url + "/status")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := stubRequests.FindSubmatch(b)
	if m == nil {
		return 0, fmt.Errorf("stub_status: %q", b)
	}
	n, _ := strconv.Atoi(string(m[1]))
	ng.polls++
	return n - ng.polls, nil
}

// stableServed waits until nginx has finished the requests in flight.
func (ng *nginx) stableServed(t *testing.T) int {
	t.Helper()
	last := -1
	for i := 0; i < 50; i++ {
		n, err := ng.served()
		if err != nil {
			t.Fatal(err)
		}
		if n == last {
			return n
		}
		last = n
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("nginx's request count does not settle")
	return 0
}

// stop asks nginx to quit gracefully and waits for master and workers.
func (ng *nginx) stop(t *testing.T) {
	t.Helper()
	ng.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-ng.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("nginx did not quit within 30s")
	}
	// Workers are in the master's process group; make sure none is left
	// holding a log open.
	waitUntil(10*time.Second, func() bool { return syscall.Kill(-ng.cmd.Process.Pid, 0) != nil })
}

const wrkScript = `
local n = 0
local threads = 0
-- setup runs in the main state; "id" becomes a global of the thread's state.
function setup(thread) threads = threads + 1; thread:set("id", threads) end
function init(args) phase = args[1] end
function request()
  n = n + 1
  return wrk.format("GET", "/" .. phase .. "/" .. id .. "-" .. n)
end
`

var wrkCompleted = regexp.MustCompile(`(\d+) requests in`)

// load runs wrk (2 threads, 10 connections) for d against nginx, every
// request a unique path under /phase/, and returns the completed requests.
// It does not touch t: it runs beside a rotation.
func load(ng *nginx, phase string, d time.Duration) (int, error) {
	script := filepath.Join(ng.dir, "wrk.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return 0, err
	}
	cmd := exec.Command("wrk", "-t2", "-c10", fmt.Sprintf("-d%ds", int(d.Seconds())), "-s", script, ng.url+"/", "--", phase)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	m := wrkCompleted.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk output has no request count:\n%s", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	if n == 0 {
		return 0, fmt.Errorf("wrk completed no request:\n%s", out)
	}
	return n, nil
}

// loadAround runs wrk for phase until during has run between its
// requests: it waits until nginx served some of them (from served0), runs
// during, waits until after holds, then stops wrk (SIGINT: wrk stops and
// prints its totals). A fixed sleep before during let a logrotate slowed
// by a loaded machine run after wrk had finished.
func loadAround(t *testing.T, ng *nginx, phase string, served0 int, during func(), after func() bool) (int, error) {
	t.Helper()
	script := filepath.Join(ng.dir, "wrk.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return 0, err
	}
	var out bytes.Buffer
	cmd := exec.Command("wrk", "-t2", "-c10", "-d600s", "-s", script, ng.url+"/", "--", phase)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	if !waitUntil(time.Minute, func() bool { n, err := ng.served(); return err == nil && n > served0+20 }) {
		t.Fatalf("%s: nginx served no request of wrk's in a minute", phase)
	}
	during()
	if !waitUntil(time.Minute, after) {
		t.Fatalf("%s: what was to follow did not happen under load within a minute", phase)
	}
	cmd.Process.Signal(syscall.SIGINT)
	werr := cmd.Wait()
	stopped = true
	m := wrkCompleted.FindSubmatch(out.Bytes())
	if m == nil {
		return 0, fmt.Errorf("wrk output has no request count (%v):\n%s", werr, out.Bytes())
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n, nil
}

func logrotate(t *testing.T, dir, conf string) {
	t.Helper()
	cf := filepath.Join(dir, fmt.Sprintf("logrotate-%d.conf", time.Now().UnixNano()))
	os.WriteFile(cf, []byte(conf), 0o644)
	out, err := exec.Command("logrotate", "-v", "-f", "-s", filepath.Join(dir, "logrotate.state"), cf).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("error:")) {
		t.Fatalf("logrotate: %v\n%s", err, out)
	}
}

var accessPath = regexp.MustCompile(`"GET /([^/ ]+)/([0-9]+-[0-9]+) HTTP`)

// nginx (master + 2 workers) under wrk, its access and error logs on the
// mount; logrotate in create mode (rename + reopen) during load, then in
// copytruncate mode; every request nginx served has exactly one line in
// the access.log* objects, and wrk's completed requests are all there.
func TestToolNginxLogrotate(t *testing.T) {
	srv, b := setup(t)
	m := mount(t, srv, b, "--allow-delete", "--allow-overwrite", "--upload-interval", "2s")
	logs := filepath.Join(m.Dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	ng := startNginx(t, logs)
	state := t.TempDir()
	files := logs + "/access.log " + logs + "/error.log"

	served := map[string]int{}
	completed := map[string]int{}
	before := ng.stableServed(t)
	phase := func(name string, d time.Duration, during func()) {
		type result struct {
			n   int
			err error
		}
		done := make(chan result, 1)
		if during != nil {
			// Requests before and after during (nginx writes the new
			// access.log once it reopened its logs).
			n, err := loadAround(t, ng, name, before, during, func() bool {
				st, err := os.Stat(filepath.Join(logs, "access.log"))
				return err == nil && st.Size() > 0
			})
			done <- result{n, err}
		} else {
			go func() {
				n, err := load(ng, name, d)
				done <- result{n, err}
			}()
		}
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		completed[name] = r.n
		now := ng.stableServed(t)
		served[name] = now - before
		before = now
		if completed[name] > served[name] {
			t.Fatalf("%s: wrk completed %d requests, nginx served %d", name, completed[name], served[name])
		}
	}

	// Rotation by rename while wrk runs: workers go on writing through
	// their fds into access.log.1 until USR1 makes them reopen.
	phase("phase1", 4*time.Second, func() {
		logrotate(t, state, fmt.Sprintf(`%s {
  create 0644 root root
  rotate 5
  missingok
  nocompress
  sharedscripts
  postrotate
    kill -USR1 $(cat %s)
  endscript
}
`, files, ng.pidFile))
	})
	phase("phase2", 3*time.Second, nil)
	// A restart onto the published access.log, once this host has let go
	// of it: the new workers append to an object (a shifted spool file).
	ng.stop(t)
	if !waitUntil(20*time.Second, func() bool {
		st, err := os.Stat(filepath.Join(logs, "access.log"))
		return err == nil && int64(len(srv.Get(t, b, "logs/access.log"))) == st.Size()
	}) {
		t.Fatal("access.log not published 20s after nginx stopped")
	}
	time.Sleep(500 * time.Millisecond)
	ng.start(t)
	before = ng.stableServed(t)
	phase("phase2b", 2*time.Second, nil)
	// copytruncate loses whatever is written between the copy and the
	// truncate (logrotate says so): rotate while nginx is idle.
	logrotate(t, state, files+" {\n  copytruncate\n  rotate 5\n  missingok\n  nocompress\n}\n")
	phase("phase3", 3*time.Second, nil)

	// What this host shows, before the daemon goes away.
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

	keys := srv.Keys(t, b, "logs/")
	sort.Strings(keys)
	t.Logf("objects: %v", keys)
	for _, k := range []string{"logs/access.log", "logs/access.log.1", "logs/access.log.2", "logs/error.log", "logs/error.log.1", "logs/error.log.2"} {
		if !srv.Exists(t, b, k) {
			t.Fatalf("%s is missing after two rotations (objects: %v)", k, keys)
		}
	}
	count := map[string]int{}
	seen := map[string]string{}
	where := map[string]map[string]int{} // phase -> object -> lines
	for _, k := range keys {
		name := strings.TrimPrefix(k, "logs/")
		data := srv.Get(t, b, k)
		if l, ok := local[name]; ok && !bytes.Equal(l, data) && strings.HasPrefix(name, "access.log") {
			t.Errorf("%s: the mount showed %d bytes, S3 has %d, or they differ", k, len(l), len(data))
		}
		if !strings.HasPrefix(name, "access.log") {
			continue
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			t.Errorf("%s does not end with a whole line", k)
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
			if where[mm[1]] == nil {
				where[mm[1]] = map[string]int{}
			}
			where[mm[1]][name]++
		}
	}
	for _, p := range []string{"phase1", "phase2", "phase2b", "phase3"} {
		t.Logf("%s: wrk completed %d, nginx served %d, lines in S3 %d, by object %v", p, completed[p], served[p], count[p], where[p])
		if count[p] != served[p] {
			t.Errorf("%s: %d lines in S3 for %d requests served (wrk completed %d)", p, count[p], served[p], completed[p])
		}
	}
	// The rename rotation happened under load: phase1 is in the rotated
	// file and in the new one.
	if where["phase1"]["access.log.2"] == 0 || where["phase1"]["access.log.2"] == count["phase1"] {
		t.Errorf("phase1 lines are not split by the rotation: %v", where["phase1"])
	}
	if where["phase3"]["access.log"] != count["phase3"] {
		t.Errorf("phase3 lines outside access.log after copytruncate: %v", where["phase3"])
	}
	if len(count) != 4 {
		t.Errorf("unexpected phases in the logs: %v", count)
	}
}

// tail -F follows a log across a rotation by rename + create: every line
// of the old and the new file, in order, once.
func TestToolTailFollow(t *testing.T) {
	srv, b := setup(t)
	m := mount(t, srv, b, "--allow-delete", "--upload-interval", "1s")
	p := filepath.Join(m.Dir, "app.log")
	var want bytes.Buffer
	appendLines := func(prefix string, n int) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= n; i++ {
			l := fmt.Sprintf("%s-%d\n", prefix, i)
			if _, err := f.WriteString(l); err != nil {
				t.Fatal(err)
			}
			want.WriteString(l)
			if i%50 == 0 {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	appendLines("old", 10)
	var outMu testenv.LockedBuffer
	// Polling (FUSE is a remote fs for tail): a short interval and few
	// unchanged polls before it looks at the name again keep this quick;
	// the defaults behave the same, only slower.
	tail := exec.Command("tail", "-n", "+1", "-F", "-s", "0.2", "--max-unchanged-stats=3", p)
	tail.Stdout = &outMu
	var stderr testenv.LockedBuffer
	tail.Stderr = &stderr
	startGroup(t, tail)
	var st1 syscall.Stat_t
	syscall.Stat(p, &st1)
	appendLines("old", 200)
	waitUntil(10*time.Second, func() bool { return outMu.Len() == want.Len() })
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	want2 := want.Len()
	appendLines("new", 300)
	var st2 syscall.Stat_t
	syscall.Stat(p, &st2)
	if st1.Ino == st2.Ino {
		t.Fatalf("the new app.log has the old inode number %d", st1.Ino)
	}
	if !waitUntil(30*time.Second, func() bool { return outMu.Len() >= want.Len() }) {
		t.Logf("tail stderr: %s", stderr.String())
	}
	time.Sleep(1 * time.Second) // a duplicate would show up now
	syscall.Kill(-tail.Process.Pid, syscall.SIGKILL)
	got := outMu.String()
	if got != want.String() {
		t.Fatalf("tail -F printed %d bytes, want %d (%d before the rotation); stderr: %s\nlast lines: %q",
			len(got), want.Len(), want2, stderr.String(), lastLines(got, 3))
	}
	if !strings.Contains(stderr.String(), "following new file") {
		t.Fatalf("tail did not notice the rotation: %s", stderr.String())
	}
}

func lastLines(s string, n int) []string {
	l := lines(s)
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return l
}

// vim (swap file, in-place write) and sed -i (temp file + rename) edit
// published files; the objects hold the edits and no temp file is left.
func TestToolEditors(t *testing.T) {
	srv, b := setup(t)
	srv.Put(t, b, "notes.txt", []byte("alpha\nbeta\ngamma\n"))
	srv.Put(t, b, "conf.ini", []byte("key=old\nother=1\n"))
	m := mount(t, srv, b, "--allow-delete", "--allow-overwrite")
	notes := filepath.Join(m.Dir, "notes.txt")
	bash(t, fmt.Sprintf(`cd %q && vim -u NONE -N -es -c '%%s/beta/BETA/' -c '$s/$/\rdelta/' -c 'wq' notes.txt`, m.Dir))
	if got := string(srv.Get(t, b, "notes.txt")); got != "alpha\nBETA\ngamma\ndelta\n" {
		t.Fatalf("after vim the object is %q", got)
	}
	// vi on a new file.
	bash(t, fmt.Sprintf(`cd %q && vi -u NONE -N -es -c 's/^/new file/' -c 'wq' fresh.txt`, m.Dir))
	if got := string(srv.Get(t, b, "fresh.txt")); got != "new file\n" {
		t.Fatalf("after vi of a new file the object is %q", got)
	}
	bash(t, fmt.Sprintf(`sed -i 's/key=old/key=new/' %q`, filepath.Join(m.Dir, "conf.ini")))
	if got := string(srv.Get(t, b, "conf.ini")); got != "key=new\nother=1\n" {
		t.Fatalf("after sed -i the object is %q", got)
	}
	got, err := os.ReadFile(notes)
	if err != nil || string(got) != "alpha\nBETA\ngamma\ndelta\n" {
		t.Fatalf("reading notes.txt through the mount: %q %v", got, err)
	}
	if keys := srv.Keys(t, b, ""); strings.Join(keys, " ") != "conf.ini fresh.txt notes.txt" {
		t.Fatalf("objects after the edits: %v (swap or temp files left?)", keys)
	}
}

// makeTree writes a small tree: nested directories, text, a binary file,
// an empty file, an old mtime.
func makeTree(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	bash(t, fmt.Sprintf(`cd %q && mkdir -p a/b/c d && for i in 1 2 3 4 5; do echo "file $i" > a/f$i; done
head -c 300000 /dev/urandom > a/b/bin && : > a/b/c/empty && echo top > top.txt && echo d > d/x
touch -d '2020-01-02 03:04:05' top.txt a/f1`, src))
	return src
}

// checkTree compares the objects under prefix with the files of src.
func checkTree(t *testing.T, srv *testenv.Server, b, prefix, src string) {
	t.Helper()
	n := 0
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		want, _ := os.ReadFile(p)
		if got := srv.Get(t, b, prefix+rel); !bytes.Equal(got, want) {
			t.Fatalf("%s%s: object has %d bytes, file %d, or they differ", prefix, rel, len(got), len(want))
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Besides the files: directories' markers ("dir/", carrying their
	// attributes), which mkdir and chmod of a directory make.
	var files []string
	for _, k := range srv.Keys(t, b, prefix) {
		if !strings.HasSuffix(k, "/") {
			files = append(files, k)
		}
	}
	if len(files) != n {
		t.Fatalf("%d objects under %s for %d files: %v", len(files), prefix, n, files)
	}
}

// rsync -a (temp files + rename, utimes, chmod) into the mount; a second
// rsync, by checksum and by size+mtime, finds nothing to do. cp -r and tar
// x land byte-exact.
func TestToolCopyTrees(t *testing.T) {
	srv, b := setup(t)
	m := mount(t, srv, b, "--allow-delete", "--allow-overwrite")
	src := makeTree(t)
	bash(t, fmt.Sprintf(`rsync -a %q/ %q/`, src, filepath.Join(m.Dir, "rs")))
	for _, flags := range []string{"-a -c -i -n", "-a -i -n"} {
		if out := bash(t, fmt.Sprintf(`rsync %s %q/ %q/`, flags, src, filepath.Join(m.Dir, "rs"))); strings.TrimSpace(out) != "" {
			t.Fatalf("rsync %s after rsync -a wants to change:\n%s", flags, out)
		}
	}
	bash(t, fmt.Sprintf(`cp -r %q %q && diff -r %q %q`, src, filepath.Join(m.Dir, "cp"), src, filepath.Join(m.Dir, "cp")))
	tarball := filepath.Join(t.TempDir(), "t.tar")
	bash(t, fmt.Sprintf(`tar cf %q -C %q . && mkdir %q && tar xf %q -C %q && diff -r %q %q`, tarball, src,
		filepath.Join(m.Dir, "tar"), tarball, filepath.Join(m.Dir, "tar"), src, filepath.Join(m.Dir, "tar")))
	// The kernel may forget inodes at any time: attributes must stay.
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("2"), 0)
	if out := bash(t, fmt.Sprintf(`rsync -a -i -n %q/ %q/`, src, filepath.Join(m.Dir, "rs"))); strings.TrimSpace(out) != "" {
		t.Fatalf("rsync -a -i -n after the kernel dropped its caches wants to change:\n%s", out)
	}
	m.Unmount(t)
	for _, p := range []string{"rs/", "cp/", "tar/"} {
		checkTree(t, srv, b, p, src)
	}
}

// git clone into the mount (packs, lock files, renames, config edits),
// then status, log, fsck, a commit and gc; after a remount (attributes
// gone, only objects left) the repository is still whole and clean.
func TestToolGit(t *testing.T) {
	srv, b := setup(t)
	mo := []string{"--allow-delete", "--allow-overwrite"}
	m := mount(t, srv, b, mo...)
	repo := t.TempDir()
	git := "git -c user.email=e2e@example.com -c user.name=e2e -c init.defaultBranch=main"
	bash(t, fmt.Sprintf(`cd %q && %s init -q . && for i in 1 2 3; do mkdir -p d$i && echo "v$i" > f.txt && seq 1 $((i*1000)) > d$i/seq && %s add -A && %s commit -qm "c$i"; done`, repo, git, git, git))
	clone := filepath.Join(m.Dir, "clone")
	bash(t, fmt.Sprintf(`%s clone -q file://%s %q`, git, repo, clone))
	check := func(wantCommits int) {
		t.Helper()
		if out := bash(t, fmt.Sprintf(`cd %q && git status --porcelain`, clone)); out != "" {
			t.Fatalf("git status in the clone: %q", out)
		}
		if out := bash(t, fmt.Sprintf(`cd %q && git log --oneline | wc -l`, clone)); strings.TrimSpace(out) != strconv.Itoa(wantCommits) {
			t.Fatalf("git log shows %s commits, want %d", out, wantCommits)
		}
		bash(t, fmt.Sprintf(`cd %q && git fsck --full --strict 2>&1`, clone))
	}
	check(3)
	bash(t, fmt.Sprintf(`cd %q && echo v4 > f.txt && %s commit -qam c4 && %s gc -q`, clone, git, git))
	check(4)
	m.Unmount(t)
	if !srv.Exists(t, b, "clone/.git/HEAD") || len(srv.Keys(t, b, "clone/.git/objects/")) == 0 {
		t.Fatal("the clone's .git is not in S3")
	}
	for _, k := range srv.Keys(t, b, "clone/") {
		if strings.HasSuffix(k, ".lock") {
			t.Fatalf("lock file left in S3: %s", k)
		}
	}
	m = mount(t, srv, b, mo...)
	clone = filepath.Join(m.Dir, "clone")
	check(4)
	if out := bash(t, fmt.Sprintf(`cd %q && cat f.txt`, clone)); out != "v4\n" {
		t.Fatalf("f.txt after remount: %q", out)
	}
}

// Unlinking an open file: the handle keeps working (write, read), and
// nothing is published for the name afterwards, for a new file and for a
// published log held open for appending.
func TestToolUnlinkOpenFile(t *testing.T) {
	srv, b := setup(t)
	srv.Put(t, b, "old.log", []byte("published\n"))
	m := mount(t, srv, b, "--allow-delete", "--upload-interval", "1s", "--close-delay", "200ms")
	for _, tc := range []struct{ name, want string }{{"new.txt", "one\ntwo\n"}, {"old.log", "published\none\ntwo\n"}} {
		p := filepath.Join(m.Dir, tc.name)
		flags := os.O_RDWR | os.O_CREATE
		if tc.name == "old.log" {
			flags = os.O_RDWR | os.O_APPEND
		}
		f, err := os.OpenFile(p, flags, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("one\n"); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(p); err != nil {
			t.Fatalf("unlink of open %s: %v", tc.name, err)
		}
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("stat after unlink: %v", err)
		}
		if _, err := f.WriteString("two\n"); err != nil {
			t.Fatalf("write after unlink: %v", err)
		}
		// Reading back works: a published file's bytes were brought into
		// the spool before its object was deleted.
		got := make([]byte, 100)
		n, err := f.ReadAt(got, 0)
		if string(got[:n]) != tc.want {
			f.Close()
			t.Fatalf("read of %s after unlink: %q (%v), want %q", tc.name, got[:n], err, tc.want)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("close after unlink: %v", err)
		}
	}
	time.Sleep(1500 * time.Millisecond) // past the interval and the close delay
	m.Unmount(t)
	if keys := srv.Keys(t, b, ""); len(keys) != 0 {
		t.Fatalf("objects after unlinking open files: %v", keys)
	}
}

// The errnos of what S3 cannot be: non-empty rmdir, hard links, extended
// attributes (symlinks and FIFOs: symlink_test.go).
func TestToolUnsupportedOps(t *testing.T) {
	srv, b := setup(t)
	srv.Put(t, b, "dir/file", []byte("x\n"))
	m := mount(t, srv, b, "--allow-delete")
	d := filepath.Join(m.Dir, "dir")
	check := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	check("rmdir of a non-empty directory", unix.Rmdir(d), syscall.ENOTEMPTY)
	// A local (mkdir'd) directory with a file being written in it.
	os.Mkdir(filepath.Join(m.Dir, "local"), 0o755)
	f, err := os.Create(filepath.Join(m.Dir, "local", "f"))
	if err != nil {
		t.Fatal(err)
	}
	check("rmdir of a local directory with a file open in it", unix.Rmdir(filepath.Join(m.Dir, "local")), syscall.ENOTEMPTY)
	f.Close()
	check("hard link", os.Link(filepath.Join(d, "file"), filepath.Join(d, "hard")), syscall.EPERM)
	check("setxattr", unix.Setxattr(filepath.Join(d, "file"), "user.test", []byte("v"), 0), syscall.ENOTSUP)
	if err := unix.Rmdir(d); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Errorf("second rmdir: %v", err)
	}
	m.Unmount(t)
	if keys := srv.Keys(t, b, ""); strings.Join(keys, " ") != "dir/file local/ local/f" {
		t.Fatalf("objects: %v", keys)
	}
}

// chmod, chown and utimes succeed and show in stat for the mount's life,
// also after the kernel forgot the inode and after more writes.
func TestToolAttributes(t *testing.T) {
	srv, b := setup(t)
	srv.Put(t, b, "pub.txt", []byte("x\n"))
	m := mount(t, srv, b)
	mt := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	for _, name := range []string{"pub.txt", "new.log"} {
		p := filepath.Join(m.Dir, name)
		if name == "new.log" {
			bash(t, fmt.Sprintf("echo a >> %q", p))
		}
		if err := os.Chmod(p, 0o600); err != nil {
			t.Fatalf("chmod %s: %v", name, err)
		}
		if err := os.Chown(p, 1234, 5678); err != nil {
			t.Fatalf("chown %s: %v", name, err)
		}
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatalf("utimes %s: %v", name, err)
		}
	}
	check := func(when string) {
		t.Helper()
		for _, name := range []string{"pub.txt", "new.log"} {
			var st syscall.Stat_t
			if err := syscall.Stat(filepath.Join(m.Dir, name), &st); err != nil {
				t.Fatal(err)
			}
			if st.Mode&0o7777 != 0o600 || st.Uid != 1234 || st.Gid != 5678 || st.Mtim.Sec != mt.Unix() {
				t.Fatalf("%s %s: mode %o uid %d gid %d mtime %v", when, name, st.Mode&0o7777, st.Uid, st.Gid, time.Unix(st.Mtim.Sec, 0).UTC())
			}
		}
	}
	check("right after")
	time.Sleep(1500 * time.Millisecond) // new.log's close delay and publication
	check("after publication")
	// The kernel forgets unused inodes under memory pressure; simulate it.
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("2"), 0); err != nil {
		t.Logf("drop_caches: %v (checking without it)", err)
	}
	check("after the kernel dropped its inode cache")
}

// Renames: RENAME_NOREPLACE onto an existing name is EEXIST; a small
// directory moves key by key; a directory of more than 100 keys is EXDEV
// and mv falls back to copying, which works.
func TestToolRenames(t *testing.T) {
	srv, b := setup(t)
	srv.Put(t, b, "a.txt", []byte("a\n"))
	srv.Put(t, b, "b.txt", []byte("b\n"))
	for _, k := range []string{"small/1", "small/2", "small/sub/3"} {
		srv.Put(t, b, k, []byte(k+"\n"))
	}
	testenv.PutMany(t, srv.Store(t, b), 150, 8, func(i int) string { return fmt.Sprintf("big/f%03d", i) },
		func(i int) []byte { return []byte(fmt.Sprintf("big %d\n", i)) })
	m := mount(t, srv, b, "--allow-delete")
	at := func(p string) string { return filepath.Join(m.Dir, p) }
	err := unix.Renameat2(unix.AT_FDCWD, at("a.txt"), unix.AT_FDCWD, at("b.txt"), unix.RENAME_NOREPLACE)
	if !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("RENAME_NOREPLACE onto an existing file: %v, want EEXIST", err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, at("a.txt"), unix.AT_FDCWD, at("c.txt"), unix.RENAME_NOREPLACE); err != nil {
		t.Fatalf("RENAME_NOREPLACE onto a free name: %v", err)
	}
	if err := os.Rename(at("small"), at("moved")); err != nil {
		t.Fatalf("rename of a small directory: %v", err)
	}
	if got, err := os.ReadFile(at("moved/sub/3")); err != nil || string(got) != "small/sub/3\n" {
		t.Fatalf("moved/sub/3 through the mount: %q %v", got, err)
	}
	if err := os.Rename(at("big"), at("big2")); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("rename of a 150-key directory: %v, want EXDEV", err)
	}
	bash(t, fmt.Sprintf("mv %q %q", at("big"), at("big2")))
	m.Unmount(t)
	keys := srv.Keys(t, b, "")
	// big2/: mv's mkdir and chmod of the copy make its marker.
	want := map[string]bool{"b.txt": true, "c.txt": true, "moved/1": true, "moved/2": true, "moved/sub/3": true, "big2/": true}
	for i := 0; i < 150; i++ {
		want[fmt.Sprintf("big2/f%03d", i)] = true
	}
	for _, k := range keys {
		if !want[k] {
			t.Errorf("unexpected object %s", k)
		}
		delete(want, k)
	}
	if len(want) > 0 {
		t.Errorf("%d objects missing, e.g. %v", len(want), firstKey(want))
	}
	if got := string(srv.Get(t, b, "big2/f149")); got != "big 149\n" {
		t.Errorf("big2/f149 is %q", got)
	}
	if got := string(srv.Get(t, b, "c.txt")); got != "a\n" {
		t.Errorf("c.txt is %q", got)
	}
}

func firstKey(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}

// Reading a big published log from start to end while it is appended to
// and published every interval (logrotate copytruncate's copy, cat, grep):
// our own publications replace the object under the reader, which must
// follow them, never ESTALE.
func TestToolReadWhileLogging(t *testing.T) {
	srv, b := setup(t)
	old := bytes.Repeat([]byte("an old line of the log from before this mount...\n"), 12<<20/50)
	srv.Put(t, b, "busy.log", old)
	m := mount(t, srv, b, "--upload-interval", "1s")
	p := filepath.Join(m.Dir, "busy.log")
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	stop := make(chan struct{})
	werr := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				werr <- nil
				return
			default:
			}
			if _, err := fmt.Fprintf(w, "new line %d\n", i); err != nil {
				werr <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	reads := 0
	for time.Now().Before(deadline) {
		got, err := os.ReadFile(p)
		if err != nil {
			close(stop)
			t.Fatalf("read %d of the busy log: %v", reads+1, err)
		}
		if !bytes.HasPrefix(got, old) {
			close(stop)
			t.Fatalf("read %d: the old bytes differ", reads+1)
		}
		reads++
	}
	close(stop)
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d whole reads while publications went on", reads)
}
