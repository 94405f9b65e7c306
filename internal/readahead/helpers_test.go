package readahead

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const mib = 1 << 20

// smallOpts exercise the multi-part logic with small objects.
func smallOpts() PoolOptions {
	return PoolOptions{PartSize: 1 * mib, FirstRequest: 256 << 10, MaxWindow: 8 * mib,
		MemoryTarget: 64 * mib, MaxThreads: 8}
}

type fixture struct {
	srv *testenv.Server
	b   string
	st  s3store.Store
}

func newFixture(t *testing.T) *fixture {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	return &fixture{srv: srv, b: b, st: srv.Store(t, b)}
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// put stores data under key and returns its ETag.
func (f *fixture) put(t *testing.T, key string, data []byte) string {
	t.Helper()
	f.srv.Put(t, f.b, key, data)
	info, err := f.st.Head(context.Background(), key)
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	if info.Size != int64(len(data)) {
		t.Fatalf("head %s: size %d, want %d", key, info.Size, len(data))
	}
	return info.ETag
}

func (f *fixture) gets() int64 { return f.st.Stats()["GetObject"].Requests }

// readSeq reads r from 0 to EOF in chunk-sized reads, checking ReaderAt
// semantics on the way.
func readSeq(t *testing.T, r *Reader, chunk int) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, chunk)
	for off := int64(0); ; {
		n, err := r.ReadAt(context.Background(), buf, off)
		out = append(out, buf[:n]...)
		off += int64(n)
		if err == io.EOF {
			if off != r.Size() {
				t.Fatalf("EOF at %d, size %d", off, r.Size())
			}
			return out
		}
		if err != nil {
			t.Fatalf("ReadAt(%d): %v", off, err)
		}
		if n != chunk {
			t.Fatalf("ReadAt(%d) = %d bytes and no error", off, n)
		}
		if off == r.Size() {
			// A full read ending exactly at EOF may return nil; the next gives EOF.
			if n, err := r.ReadAt(context.Background(), buf, off); n != 0 || err != io.EOF {
				t.Fatalf("ReadAt at EOF = %d, %v", n, err)
			}
			return out
		}
	}
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if len(got) != len(want) || sha256.Sum256(got) != sha256.Sum256(want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: got %d bytes, want %d; first difference at %d", what, len(got), len(want), i)
	}
}

// checkRead reads len(buf) at off and compares with data.
func checkRead(ctx context.Context, r *Reader, data []byte, buf []byte, off int64) error {
	n, err := r.ReadAt(ctx, buf, off)
	want := int64(len(buf))
	if off+want > int64(len(data)) {
		want = max(int64(len(data))-off, 0)
		if err != io.EOF {
			return errors.New("short read without io.EOF")
		}
	} else if err != nil {
		return err
	}
	if int64(n) != want {
		return errors.New("wrong byte count")
	}
	if n > 0 && !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
		return errors.New("bytes differ from the object")
	}
	return nil
}

// failingStore fails chosen GETs, to play transient failures that outlived
// the store's retries.
type failingStore struct {
	s3store.Store
	mu       sync.Mutex
	fail     map[int64]int // GET offset -> how many more times to fail it
	failOver int64         // > 0: fail the first GET of every distinct range longer than this
	seen     map[[2]int64]bool
	injected int
}

func (f *failingStore) Get(ctx context.Context, key string, off, n int64, ifMatch string) (io.ReadCloser, error) {
	f.mu.Lock()
	fail := f.fail[off] > 0
	f.fail[off]--
	if f.failOver > 0 && n > f.failOver && !f.seen[[2]int64{off, n}] {
		f.seen[[2]int64{off, n}] = true
		fail = true
	}
	if fail {
		f.injected++
	}
	f.mu.Unlock()
	if fail {
		return nil, errors.New("injected failure")
	}
	return f.Store.Get(ctx, key, off, n, ifMatch)
}

// loggingStore records every GET's range.
type loggingStore struct {
	s3store.Store
	mu  sync.Mutex
	log [][2]int64
}

func (l *loggingStore) Get(ctx context.Context, key string, off, n int64, ifMatch string) (io.ReadCloser, error) {
	l.mu.Lock()
	l.log = append(l.log, [2]int64{off, n})
	l.mu.Unlock()
	return l.Store.Get(ctx, key, off, n, ifMatch)
}
