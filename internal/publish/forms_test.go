package publish

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/compress"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/s3store/memstore"
	"github.com/s3mount/s3mount/internal/spool"
	"github.com/s3mount/s3mount/internal/testenv"
	"github.com/s3mount/s3mount/internal/zstore"
)

// beforeCalls is one host's raw store that runs a hook before each of its
// PUTs and HEADs reaches S3 (op "PutObject" or "HeadObject", the key).
type beforeCalls struct {
	s3store.Store
	mu   sync.Mutex
	hook func(op, key string)
}

func (b *beforeCalls) before(op, key string) {
	b.mu.Lock()
	h := b.hook
	b.mu.Unlock()
	if h != nil {
		h(op, key)
	}
}

func (b *beforeCalls) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, c s3store.Cond) (s3store.ObjectInfo, error) {
	b.before("PutObject", key)
	return b.Store.Put(ctx, key, body, size, c)
}

func (b *beforeCalls) Head(ctx context.Context, key string) (s3store.ObjectInfo, error) {
	b.before("HeadObject", key)
	return b.Store.Head(ctx, key)
}

// formHost is one mount writing the log app.log: compressed (the globs
// match it) or plain (they do not; the mount has --compress all the same).
type formHost struct {
	raw  *beforeCalls
	p    *Publisher
	f    *spool.File
	logs *testenv.LockedBuffer
}

func newFormHost(t *testing.T, st s3store.Store, compressed bool, line string) *formHost {
	globs := []string{"*.txt"}
	if compressed {
		globs = []string{"*.log"}
	}
	h := &formHost{raw: &beforeCalls{Store: st}, logs: &testenv.LockedBuffer{}}
	z := zstore.New(h.raw, compress.Gzip, globs)
	var sp *spool.Spool
	sp, h.f = newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend}, line)
	h.p = NewPublisher(z, nil, sp, Config{PartSize: 5 << 20}, slog.New(slog.NewTextHandler(h.logs, nil)))
	return h
}

func (h *formHost) publish(t *testing.T) {
	t.Helper()
	if _, err := h.p.Publish(context.Background(), h.f, &fakeFile{}, true); err != nil {
		t.Errorf("Publish: %v\n%s", err, h.logs.String())
	}
}

// setHook sets the host's hook: fn runs before the first call of op on key
// that comes after a PUT of this host landed when afterPut, else before
// the first one.
func (h *formHost) setHook(op, key string, afterPut bool, fn func()) {
	var once sync.Once
	put := !afterPut
	h.raw.mu.Lock()
	h.raw.hook = func(o, k string) {
		if o == op && k == key && put {
			once.Do(fn)
		}
		if o == "PutObject" {
			put = true // the hook runs before it: the next call is after
		}
	}
	h.raw.mu.Unlock()
}

// onCalls sets the host's hook: each "op key" of hooks runs once, before
// the first such call after the host's first PUT (the one of "PutObject
// ...", before that PUT); "op key#n" before the n-th such call.
func (h *formHost) onCalls(hooks map[string]func()) {
	put := false
	seen := map[string]int{}
	h.raw.mu.Lock()
	h.raw.hook = func(op, key string) {
		k := op + " " + key
		if put || op == "PutObject" {
			seen[k]++
			name := k
			if seen[k] > 1 {
				name = fmt.Sprintf("%s#%d", k, seen[k])
			}
			if fn := hooks[name]; fn != nil {
				fn()
			}
		}
		if op == "PutObject" {
			put = true
		}
	}
	h.raw.mu.Unlock()
}

// bucketHolds reads what S3 holds for app.log: its keys, and its lines
// (decompressed) sorted.
func bucketHolds(t *testing.T, srv *testenv.Server, b string) (keys []string, lines []string) {
	t.Helper()
	keys = srv.Keys(t, b, "")
	for _, k := range keys {
		data := srv.Get(t, b, k)
		if strings.HasSuffix(k, ".gz") {
			data = []byte(gunzip(t, data))
		}
		lines = append(lines, strings.SplitAfter(string(data), "\n")...)
	}
	lines = slicesWithout(lines, "")
	sort.Strings(lines)
	return keys, lines
}

func slicesWithout(s []string, v string) []string {
	var out []string
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// Two hosts create app.log at once, one compressed (app.log.gz) and one
// plain, the other's write landing between a host's look before its write
// (adoptForm) and the write: both objects land. The host that sees both
// after its write gives its own object up and publishes its lines again
// in the other form; if both see both, both give up and both store the
// name plain. Either way S3 ends with the name in one form, every line
// once, and the host that gave up says so once.
func TestTwoHostsCreatingANameInBothFormsAtOnceKeepOne(t *testing.T) {
	srv := testenv.StartServer(t)
	for _, c := range []struct {
		name string
		// race: run the hosts so that both objects land; a is the
		// compressed host, b the plain one.
		race     func(t *testing.T, a, b *formHost)
		wantKey  string
		yielders []bool // which hosts give up: a, b
	}{
		{
			name: "the plain object lands inside the compressed host's publication",
			race: func(t *testing.T, a, b *formHost) {
				// b's whole first publication runs just before a's PUT:
				// a looked before it, b's look after its PUT is before
				// a's object exists.
				a.setHook("PutObject", "app.log.gz", false, func() { b.publish(t) })
				a.publish(t)
			},
			wantKey: "app.log", yielders: []bool{true, false},
		},
		{
			name: "the compressed object lands inside the plain host's publication",
			race: func(t *testing.T, a, b *formHost) {
				b.setHook("PutObject", "app.log", false, func() { a.publish(t) })
				b.publish(t)
			},
			wantKey: "app.log.gz", yielders: []bool{false, true},
		},
		{
			name: "both see both, one gives up first and joins the other's object, which its host then keeps",
			race: func(t *testing.T, a, b *formHost) {
				// a gives up and joins b's object before b would give
				// it up.
				aLooked, aDone := make(chan struct{}), make(chan struct{})
				bothLand(t, a, b, map[string]func(){
					"HeadObject app.log.gz": func() { awaitHost(t, aLooked) }, // b has looked too
				}, map[string]func(){
					"HeadObject app.log": func() { close(aLooked); awaitHost(t, aDone) },
				}, func() { close(aDone) })
			},
			wantKey: "app.log", yielders: []bool{true, false},
		},
		{
			name: "both give up at once: both store the name plain",
			race: func(t *testing.T, a, b *formHost) {
				// Each deletes its object before either looks at the
				// other's again.
				aLooked, bLooked := make(chan struct{}), make(chan struct{})
				aGaveUp, bGaveUp := make(chan struct{}), make(chan struct{})
				bothLand(t, a, b, map[string]func(){
					"HeadObject app.log.gz": func() { close(aLooked); awaitHost(t, bLooked) },
					"HeadObject app.log#2":  func() { close(aGaveUp); awaitHost(t, bGaveUp) },
				}, map[string]func(){
					"HeadObject app.log":      func() { close(bLooked); awaitHost(t, aLooked) },
					"HeadObject app.log.gz#2": func() { close(bGaveUp); awaitHost(t, aGaveUp) },
				}, func() {})
			},
			wantKey: "app.log", yielders: []bool{true, true},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			bk := srv.NewBucket(t)
			st := srv.Store(t, bk)
			a := newFormHost(t, st, true, "a line from the compressed host\n")
			b := newFormHost(t, st, false, "a line from the plain host\n")
			c.race(t, a, b)
			keys, lines := bucketHolds(t, srv, bk)
			if len(keys) != 1 || keys[0] != c.wantKey {
				t.Fatalf("S3 holds %v, want only %s (the name in one form)\na: %s\nb: %s", keys, c.wantKey, a.logs, b.logs)
			}
			want := []string{"a line from the compressed host\n", "a line from the plain host\n"}
			if strings.Join(lines, "") != strings.Join(want, "") {
				t.Fatalf("S3 holds the lines %q, want each host's once: %q\na: %s\nb: %s", lines, want, a.logs, b.logs)
			}
			for i, h := range []*formHost{a, b} {
				n := strings.Count(h.logs.String(), "this host gave its object up")
				if want := map[bool]int{true: 1, false: 0}[c.yielders[i]]; n != want {
					t.Errorf("host %c said %d times that it gives its object up, want %d:\n%s", 'a'+i, n, want, h.logs)
				}
				if j := h.f.Journal(); j.Yielding != nil || j.FormCheck != "" {
					t.Errorf("host %c's journal still has a look or a give-up due: %+v", 'a'+i, j)
				}
			}
		})
	}
}

// bothLand runs the two hosts' first publications so that both PUTs land
// before either host looks again: b's from inside a's, before a's PUT, up
// to b's look after its own PUT, which waits for a's look after a's PUT.
// aMore and bMore add each host's further hooks (onCalls); afterA runs once
// a's publication returned, before waiting for b's.
func bothLand(t *testing.T, a, b *formHost, aMore, bMore map[string]func(), afterA func()) {
	aCreated, bCreated := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	ah := map[string]func(){
		"PutObject app.log.gz": func() {
			wg.Add(1)
			go func() { defer wg.Done(); b.publish(t) }()
			awaitHost(t, bCreated)
		},
		"HeadObject app.log": func() { close(aCreated) },
	}
	bh := map[string]func(){
		"HeadObject app.log.gz": func() { close(bCreated); awaitHost(t, aCreated) },
	}
	maps.Copy(ah, aMore)
	maps.Copy(bh, bMore)
	a.onCalls(ah)
	b.onCalls(bh)
	a.publish(t)
	afterA()
	wg.Wait()
}

func awaitHost(t *testing.T, ch chan struct{}) {
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Error("the other host did not get there within 30s")
	}
}

// A look at the other form or a give-up that a failure cut (a HEAD that
// fails, a DELETE whose answer is lost or that fails, the look at the
// other object after the delete) is finished by the next publication (or
// by the same one): the journal says what is due. Nothing is lost or
// written twice, and S3 ends with the name in one form.
func TestAGiveUpCutByAFailureIsFinishedNextTime(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		op    string // the call that fails
		key   string
		nth   int // its n-th call on key (after our PUT)
		fault memstore.Fault
		// due: the first Publish leaves the look (or the give-up) due.
		due bool
	}{
		{"the look after the write fails", "HeadObject", "app.log", 1, memstore.Fail, true},
		{"the delete's answer is lost", "DeleteObject", "app.log.gz", 1, memstore.LoseAnswer, false},
		{"the delete fails", "DeleteObject", "app.log.gz", 1, memstore.Fail, true},
		{"the look at the other object after the delete fails", "HeadObject", "app.log", 2, memstore.Fail, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := memstore.New("b")
			z := zstore.New(mem, compress.Gzip, []string{"*.log"})
			sp, f := newSpoolFile(t, spool.Journal{Key: "app.log", Kind: spool.KindAppend}, "ours\n")
			var logs testenv.LockedBuffer
			p := NewPublisher(z, nil, sp, Config{PartSize: 5 << 20}, slog.New(slog.NewTextHandler(&logs, nil)))
			put, n := false, 0
			mem.SetHook(func(call memstore.Call) memstore.Fault {
				if call.Op == "PutObject" && call.Key == "app.log.gz" && !put {
					put = true
					mem.PutObject("app.log", []byte("theirs\n")) // another host's, inside our publication
					return memstore.Pass
				}
				if put && call.Op == c.op && call.Key == c.key {
					if n++; n == c.nth {
						return c.fault
					}
				}
				return memstore.Pass
			})
			// Our bytes land either way; a look or a give-up still due
			// is an error, so that the job tries again.
			if _, err := p.Publish(ctx, f, &fakeFile{}, true); (err != nil) != c.due {
				t.Fatalf("Publish: %v, want an error: %v", err, c.due)
			}
			j := f.Journal()
			if got := j.FormCheck != "" || j.Yielding != nil; got != c.due {
				t.Fatalf("after the first publication a look or a give-up is due: %v, want %v (%+v)\n%s", got, c.due, j, logs.String())
			}
			if c.due {
				if _, err := p.Publish(ctx, f, &fakeFile{}, true); err != nil {
					t.Fatalf("second Publish: %v\n%s", err, logs.String())
				}
			}
			if keys := mem.Keys(); len(keys) != 1 || keys[0] != "app.log" {
				t.Fatalf("keys %v, want only app.log\n%s", keys, logs.String())
			}
			if got, _, _ := mem.Object("app.log"); string(got) != "theirs\nours\n" {
				t.Fatalf("app.log holds %q, want %q\n%s", got, "theirs\nours\n", logs.String())
			}
			if j := f.Journal(); j.FormCheck != "" || j.Yielding != nil || j.Form != spool.FormPlain {
				t.Fatalf("journal after: %+v", j)
			}
		})
	}
}
