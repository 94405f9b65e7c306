package vfs

// The harness drives the core (vfs + publish + spool) without FUSE over the
// in-memory store, and can kill it as SIGKILL would: the model test and the
// crash-point tests share it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/datacache"
	"github.com/s3mount/s3mount/internal/readahead"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
	"github.com/s3mount/s3mount/internal/zstore"
)

// errKilled is what a dead instance's store calls return: a transient
// failure (no sentinel), as a process would see nothing at all.
var errKilled = errors.New("harness: the instance was killed")

// fence is the store as one instance of the core sees it. After kill no
// call of that instance reaches S3 any more, so the goroutines a dead
// instance leaves behind cannot change what the next instance sees.
// A crash point kills it at its k-th call, before or after applying it.
type fence struct {
	mem *memstore.Store

	mu       sync.Mutex
	idle     *sync.Cond // signalled when inflight drops
	dead     bool
	inflight int
	calls    int64

	killAt    int64         // 1-based call number to kill at; 0: none
	killAfter bool          // apply call killAt first: its answer is lost
	onKill    func()        // runs once at the kill, the instance frozen (snapshot the spool)
	killedOp  string        // the call the kill happened in ("" for a kill between steps)
	killDone  chan struct{} // closed once the kill (onKill included) is over
}

func newFence(mem *memstore.Store) *fence {
	f := &fence{mem: mem, killDone: make(chan struct{})}
	f.idle = sync.NewCond(&f.mu)
	return f
}

// waitKilled waits until a kill that began has ended (its snapshot taken).
func (f *fence) waitKilled() {
	if f.Dead() {
		<-f.killDone
	}
}

// Calls is the number of calls the instance made.
func (f *fence) Calls() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// Dead reports whether the instance was killed.
func (f *fence) Dead() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dead
}

// kill stops every later call and waits for the calls in flight (other
// than the caller's own, self = 1 inside a call) to end, then runs onKill.
func (f *fence) kill(self int, op string) {
	f.mu.Lock()
	if f.dead {
		f.mu.Unlock()
		return
	}
	f.dead = true
	f.killedOp = op
	for f.inflight > self {
		f.idle.Wait()
	}
	fn := f.onKill
	f.mu.Unlock()
	if fn != nil {
		fn()
	}
	close(f.killDone)
}

// call runs one store call through the fence.
func (f *fence) call(op, key string, fn func() error) error {
	f.mu.Lock()
	if f.dead {
		f.mu.Unlock()
		return fmt.Errorf("%s %q: %w", op, key, errKilled)
	}
	f.calls++
	n := f.calls
	f.inflight++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight--
		f.idle.Broadcast()
		f.mu.Unlock()
	}()
	at := n == f.killAt
	if at && !f.killAfter {
		f.kill(1, fmt.Sprintf("before %s %q (call %d)", op, key, n))
		return fmt.Errorf("%s %q: %w", op, key, errKilled)
	}
	err := fn()
	if at {
		f.kill(1, fmt.Sprintf("after %s %q (call %d)", op, key, n))
		return fmt.Errorf("%s %q: %w", op, key, errKilled)
	}
	return err
}

var (
	_ s3store.Store   = (*fence)(nil)
	_ s3store.Express = (*fence)(nil)
)

func (f *fence) Bucket() string       { return f.mem.Bucket() }
func (f *fence) Stats() s3store.Stats { return f.mem.Stats() }
func (f *fence) String() string       { return "fence(" + f.mem.Bucket() + ")" }
func (f *fence) Head(ctx context.Context, key string) (info s3store.ObjectInfo, err error) {
	err = f.call("HeadObject", key, func() error { info, err = f.mem.Head(ctx, key); return err })
	return info, err
}

func (f *fence) List(ctx context.Context, prefix, delim, token string, max int32) (p s3store.ListPage, err error) {
	err = f.call("ListObjectsV2", prefix, func() error { p, err = f.mem.List(ctx, prefix, delim, token, max); return err })
	return p, err
}

func (f *fence) Get(ctx context.Context, key string, off, n int64, ifMatch string) (rc io.ReadCloser, err error) {
	err = f.call("GetObject", key, func() error {
		rc, err = f.mem.Get(ctx, key, off, n, ifMatch)
		if err != nil {
			return err
		}
		// Read the body inside the call: a dead instance reads nothing.
		var buf bytes.Buffer
		if n > 0 {
			buf.Grow(int(n))
		}
		_, rerr := buf.ReadFrom(rc)
		b := buf.Bytes()
		rc.Close()
		rc = io.NopCloser(bytes.NewReader(b))
		return rerr
	})
	return rc, err
}

func (f *fence) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, c s3store.Cond) (info s3store.ObjectInfo, err error) {
	err = f.call("PutObject", key, func() error { info, err = f.mem.Put(ctx, key, body, size, c); return err })
	return info, err
}

func (f *fence) CreateMultipart(ctx context.Context, key string, meta s3store.Cond) (id string, err error) {
	err = f.call("CreateMultipartUpload", key, func() error { id, err = f.mem.CreateMultipart(ctx, key, meta); return err })
	return id, err
}

func (f *fence) UploadPart(ctx context.Context, key, id string, num int32, body io.ReadSeeker, size int64) (p s3store.Part, err error) {
	err = f.call("UploadPart", key, func() error { p, err = f.mem.UploadPart(ctx, key, id, num, body, size); return err })
	return p, err
}

func (f *fence) UploadPartCopy(ctx context.Context, key, id string, num int32, src, srcETag string, off, n int64) (p s3store.Part, err error) {
	err = f.call("UploadPartCopy", key, func() error {
		p, err = f.mem.UploadPartCopy(ctx, key, id, num, src, srcETag, off, n)
		return err
	})
	return p, err
}

func (f *fence) CompleteMultipart(ctx context.Context, key, id string, parts []s3store.Part, c s3store.Cond) (info s3store.ObjectInfo, err error) {
	err = f.call("CompleteMultipartUpload", key, func() error {
		info, err = f.mem.CompleteMultipart(ctx, key, id, parts, c)
		return err
	})
	return info, err
}

func (f *fence) AbortMultipart(ctx context.Context, key, id string) error {
	return f.call("AbortMultipartUpload", key, func() error { return f.mem.AbortMultipart(ctx, key, id) })
}

func (f *fence) ListMultipartUploads(ctx context.Context, prefix string) (u []s3store.Upload, err error) {
	err = f.call("ListMultipartUploads", prefix, func() error { u, err = f.mem.ListMultipartUploads(ctx, prefix); return err })
	return u, err
}

func (f *fence) Copy(ctx context.Context, src, srcETag, dst string, c s3store.Cond) (info s3store.ObjectInfo, err error) {
	err = f.call("CopyObject", dst, func() error { info, err = f.mem.Copy(ctx, src, srcETag, dst, c); return err })
	return info, err
}

func (f *fence) DeleteIf(ctx context.Context, key, etag string) error {
	return f.call("DeleteObject", key, func() error { return f.mem.DeleteIf(ctx, key, etag) })
}
func (f *fence) Delete(ctx context.Context, key string) error {
	return f.call("DeleteObject", key, func() error { return f.mem.Delete(ctx, key) })
}

func (f *fence) AppendAt(ctx context.Context, key string, off int64, body io.ReadSeeker, size int64) (info s3store.ObjectInfo, err error) {
	err = f.call("PutObject(append)", key, func() error { info, err = f.mem.AppendAt(ctx, key, off, body, size); return err })
	return info, err
}

func (f *fence) Rename(ctx context.Context, src, dst string) error {
	return f.call("RenameObject", dst, func() error { return f.mem.Rename(ctx, src, dst) })
}

// coreOptions are the mount options of a harness run.
type coreOptions struct {
	Express        bool
	AllowDelete    bool
	AllowOverwrite bool
	// RealTimers: publications run from the scheduler's own timers (short
	// intervals); otherwise intervals are an hour and tick() runs them.
	RealTimers bool
	// Compress: --compress with this codec, for the files matching
	// modelCompressGlobs (model_compress_test.go).
	Compress compress.Codec
	// ContentETags: the store's single-part ETags are the MD5 of the
	// bytes, as AWS's (memstore.Store.SetContentETags).
	ContentETags bool
	// Passthrough: reads of files in the spool and of wholly cached
	// objects (a data cache on) may name their local file, as the
	// adapter allows when the kernel does; the model reads such opens
	// from that file (readRange), as the kernel would.
	Passthrough bool
	// PosixMetadata: mkdir makes a "dir/" marker (the mount's default;
	// model_dirs_test.go's sequences choose it by seed).
	PosixMetadata bool
	// MaxBuffer (--max-buffer-size; 0: the default), NonBlocking
	// (--buffer-mode non-blocking) and NoDropMarker (--no-drop-marker):
	// model_buffer_test.go.
	MaxBuffer    int64
	NonBlocking  bool
	NoDropMarker bool
}

func (o coreOptions) String() string {
	var s []string
	if o.Express {
		s = append(s, "express")
	}
	if o.AllowDelete {
		s = append(s, "allow-delete")
	}
	if o.AllowOverwrite {
		s = append(s, "allow-overwrite")
	}
	if o.RealTimers {
		s = append(s, "real-timers")
	}
	if o.Compress != "" {
		s = append(s, "compress="+string(o.Compress))
	}
	if o.ContentETags {
		s = append(s, "content-etags")
	}
	if o.Passthrough {
		s = append(s, "passthrough")
	}
	if o.PosixMetadata {
		s = append(s, "posix-metadata")
	}
	s = append(s, o.bufferString()...)
	if len(s) == 0 {
		return "(no options)"
	}
	return strings.Join(s, ",")
}

// core is one mount's core over a memstore shared by its instances: the
// instance running now, and how to kill and restart it.
type core struct {
	mem   *memstore.Store
	opt   coreOptions
	root  string // temp dir holding the spool dirs of all instances
	gen   int    // instances started so far
	dir   string // spool dir of the running instance
	fence *fence
	sp    *spool.Spool
	fs    *FS
	log   *logBuf
	// caches are the instances' data caches (Passthrough), closed at
	// cleanup: a killed instance's goroutines may still use its own.
	caches []*datacache.Cache

	// recovered is what spool.Open returned for the running instance.
	recovered []*spool.File
	// snapErr is the first failure to copy a spool at a kill.
	snapErr error
	// spoolHook, when set, is told of every spool disk operation of the
	// instances (crash points inside the spool).
	spoolHook atomic.Pointer[spool.Hook]
	// diskFull: the spool's disk is full now (spool.Options.NoSpace).
	diskFull atomic.Bool
}

func (c *core) onSpoolOp(op, path string) {
	if h := c.spoolHook.Load(); h != nil {
		(*h)(op, path)
	}
}

const harnessIdentity = "memstore-bucket/"

func newCore(mem *memstore.Store, opt coreOptions) (*core, error) {
	root, err := os.MkdirTemp("", "s3mount-model-")
	if err != nil {
		return nil, err
	}
	c := &core{mem: mem, opt: opt, root: root, log: &logBuf{}}
	if err := c.start(c.newDir()); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	return c, nil
}

// cleanup fences the instance and removes the spool dirs (goroutines a
// killed instance left may still be failing their store calls).
func (c *core) cleanup() {
	c.fence.kill(0, "")
	c.fs.queue.Stop()
	for _, dc := range c.caches {
		dc.Close()
	}
	os.RemoveAll(c.root)
}

func (c *core) newDir() string {
	c.gen++
	return filepath.Join(c.root, fmt.Sprintf("spool%d", c.gen))
}

// start runs a new instance on the spool dir.
func (c *core) start(dir string) error {
	so := spool.Options{Hook: c.onSpoolOp, MaxBuffer: c.opt.MaxBuffer, NoSpace: c.diskFull.Load}
	if c.opt.NonBlocking {
		so.Mode = spool.NonBlocking
	}
	sp, recovered, err := spool.Open(dir, harnessIdentity, so)
	if err != nil {
		return err
	}
	c.dir, c.sp, c.recovered = dir, sp, recovered
	c.fence = newFence(c.mem)
	var st s3store.Store = c.fence
	if c.opt.Compress != "" {
		st = zstore.New(c.fence, c.opt.Compress, modelCompressGlobs)
	}
	po := readahead.PoolOptions{PartSize: 1 << 20, FirstRequest: 256 << 10, MemoryTarget: 32 << 20, MaxThreads: 4}
	var dc *datacache.Cache
	if c.opt.Passthrough {
		// Beside the spool dirs (one file system: a write moves a cache
		// file into the spool); each instance opens a cache of its own.
		if dc, err = datacache.Open(datacache.Options{Dir: c.root, BlockSize: 64 << 10}); err != nil {
			return err
		}
		po.Cache = dc
	}
	pool := readahead.NewPool(st, po)
	o := Options{
		AllowDelete: c.opt.AllowDelete, AllowOverwrite: c.opt.AllowOverwrite,
		UploadInterval: time.Hour, CloseDelay: time.Hour,
		WritePartSize: s3store.MinPartSize, Publishers: 2, PosixMetadata: c.opt.PosixMetadata,
		DropMarker: !c.opt.NoDropMarker,
		Logger:     slog.New(slog.NewTextHandler(c.log, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if c.opt.RealTimers {
		o.UploadInterval, o.CloseDelay = 30*time.Millisecond, 10*time.Millisecond
	}
	if c.opt.Express {
		o.Express = c.fence
	}
	fmt.Fprintf(c.log, "--- instance %d on %s: %d recovered files\n", c.gen, filepath.Base(dir), len(recovered))
	if dc != nil {
		o.Cache = dc
	}
	if dc != nil {
		c.caches = append(c.caches, dc)
	}
	c.fs = New(st, sp, recovered, pool, o)
	if dc != nil {
		c.fs.SetLocalReads(true, "")
		c.fs.SetCacheReads(true, "")
	}
	return nil
}

// kill stops the running instance as SIGKILL would, between two steps: no
// store call of it gets through any more, and the spool as it is now is
// what the next instance finds. It returns the copy's directory.
func (c *core) kill() string {
	dst := c.newDir()
	c.fence.kill(0, "")
	c.freeze()
	c.snapshot(dst)
	return dst
}

// freeze lets the dead instance's publications in flight end (their store
// calls fail now) so that it writes its spool no more; its timers are off.
func (c *core) freeze() {
	c.fs.queue.Stop()
}

// snapshot copies the running instance's spool dir to dst. Data files are
// copied before journals: a publication ending during the copy only makes
// a journal newer than the data it describes, which recovery accepts (the
// data file keeps every byte the newer journal may still need).
func (c *core) snapshot(dst string) {
	if err := copySpool(c.dir, dst); err != nil && c.snapErr == nil {
		c.snapErr = fmt.Errorf("snapshot of the spool: %w", err)
	}
}

func copySpool(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	names, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	var data, journals []string
	for _, e := range names {
		switch n := e.Name(); {
		case strings.HasSuffix(n, ".data"), n == "IDENTITY":
			data = append(data, n)
		case strings.HasSuffix(n, ".json"):
			journals = append(journals, n)
		}
	}
	sort.Strings(data)
	sort.Strings(journals)
	for _, n := range append(data, journals...) {
		b, err := os.ReadFile(filepath.Join(src, n))
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile: published and dropped
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, n), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// crash kills the instance and starts the next one on the spool copy.
func (c *core) crash() error {
	dst := c.kill()
	if c.snapErr != nil {
		return c.snapErr
	}
	return c.start(dst)
}

// restart shuts the instance down cleanly and starts the next on the same
// spool dir.
func (c *core) restart(ctx context.Context) error {
	err := c.fs.Shutdown(ctx)
	c.fence.kill(0, "")
	if serr := c.start(c.dir); serr != nil {
		return serr
	}
	return err
}

// settle waits until the files the running instance recovered are
// published or have failed (adoption runs in the background), so that the
// steps after a remount see a state that does not change under them.
func (c *core) settle(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		busy := ""
		c.fs.mu.Lock()
		nodes := make([]*Node, 0, len(c.fs.nodes))
		for _, n := range c.fs.nodes {
			nodes = append(nodes, n)
		}
		c.fs.mu.Unlock()
		for _, n := range nodes {
			w := n.wst.Load()
			if w == nil {
				// Never opened, written or published: nothing of its own
				// to publish, and it must hold no local bytes.
				if n.spoolFile() != nil {
					busy = n.Path() + " (local bytes without a write state)"
					break
				}
				continue
			}
			if w.job.Busy() || w.job.Due() {
				busy = n.Path() + " (publishing)"
				break
			}
			pubErr, _ := w.job.Outcome()
			n.mu.Lock()
			pending := n.file != nil && n.dirtyLocked() && pubErr == nil && n.handles == 0
			n.mu.Unlock()
			if pending && !w.job.Waiting() {
				busy = n.Path()
				break
			}
		}
		if busy == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("recovered file %s still not published after %v (its state: %s)", busy, d, c.nodeState(busy))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// nodeState describes the core's node for p, for failure messages.
func (c *core) nodeState(p string) string {
	c.fs.mu.Lock()
	n := c.fs.byPath.get(p)
	c.fs.mu.Unlock()
	if n == nil {
		return "no node"
	}
	w := n.wst.Load()
	if w == nil {
		n.mu.Lock()
		defer n.mu.Unlock()
		return fmt.Sprintf("state=%v size=%d handles=%d no write state file=%v", n.state, n.size, n.handles, n.file != nil)
	}
	pubErr, _ := w.job.Outcome()
	n.mu.Lock()
	defer n.mu.Unlock()
	s := fmt.Sprintf("state=%v size=%d handles=%d writers=%d pubErr=%v", n.state, n.size, n.handles, w.writers, pubErr)
	if n.file != nil {
		s += fmt.Sprintf(" journal=%+v", n.file.Journal())
	}
	return s
}

// tick runs every publication the scheduler holds, now, as if its deadline
// had come (the intervals are an hour: publication is a step of the test).
func (c *core) tick() {
	fs := c.fs
	fs.mu.Lock()
	nodes := make([]*Node, 0, len(fs.nodes))
	for _, n := range fs.nodes {
		nodes = append(nodes, n)
	}
	fs.mu.Unlock()
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ino < nodes[j].ino })
	for _, n := range nodes {
		if w := n.wst.Load(); w != nil {
			w.job.RunWaiting() // a node without one has no job to run
		}
	}
}

// tickUntil runs the publication deadlines and waits for the
// publications until cond holds: one that was running when a tick came
// (its store calls failing then) waits for its retry, which a later tick
// runs. After 30 s it fails the test with failure's message.
func (c *core) tickUntil(t *testing.T, cond func() bool, failure func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.tick()
		if err := c.settle(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(failure())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logBuf keeps the last lines the instances logged, for failure reports.
type logBuf struct {
	mu    sync.Mutex
	lines []string
	total int // lines ever written
}

const logKeep = 60

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		l.lines = append(l.lines, s)
		l.total++
	}
	if len(l.lines) > 4*logKeep {
		l.lines = append([]string(nil), l.lines[len(l.lines)-logKeep:]...)
	}
	return len(p), nil
}

// mark is where the next line goes, for since.
func (l *logBuf) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// since: the lines written after mark (those still kept).
func (l *logBuf) since(mark int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := min(max(mark-(l.total-len(l.lines)), 0), len(l.lines))
	return append([]string(nil), l.lines[start:]...)
}

func (l *logBuf) Tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := l.lines
	if len(lines) > logKeep {
		lines = lines[len(lines)-logKeep:]
	}
	return strings.Join(lines, "\n")
}

// watch runs fn with a bound: a step that does not end in time is a hang.
func watch(d time.Duration, fn func()) (hung bool) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return false
	case <-t.C:
		return true
	}
}

// The harness's own checks: a step that never ends is reported as a hang,
// and a fenced store applies nothing after the kill (the call it is
// killed at only in "after" mode).
func TestHarnessWatchdogAndFence(t *testing.T) {
	r := &runner{stepTimeout: 50 * time.Millisecond}
	block := make(chan struct{})
	defer close(block)
	if f := r.guarded(func() *failure { <-block; return nil }); f == nil || f.kind != "hang" {
		t.Fatalf("a blocked step gave %v, want a hang", f)
	}
	for _, after := range []bool{false, true} {
		mem := memstore.New("b")
		fc := newFence(mem)
		snap := 0
		fc.killAt, fc.killAfter, fc.onKill = 2, after, func() { snap++ }
		ctx := context.Background()
		if _, err := fc.Put(ctx, "k1", bytes.NewReader([]byte("x")), 1, s3store.Cond{}); err != nil {
			t.Fatal(err)
		}
		if _, err := fc.Put(ctx, "k2", bytes.NewReader([]byte("y")), 1, s3store.Cond{}); !errors.Is(err, errKilled) {
			t.Fatalf("the call killed at: %v", err)
		}
		if _, err := fc.Put(ctx, "k3", bytes.NewReader([]byte("z")), 1, s3store.Cond{}); !errors.Is(err, errKilled) {
			t.Fatalf("a call after the kill: %v", err)
		}
		_, _, applied := mem.Object("k2")
		_, _, late := mem.Object("k3")
		if applied != after || late || snap != 1 || !fc.Dead() {
			t.Fatalf("after=%v: k2 applied %v, k3 applied %v, snapshots %d", after, applied, late, snap)
		}
	}
}
