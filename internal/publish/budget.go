package publish

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/s3mount/s3mount/internal/s3store"
)

// memoryBudget bounds the bytes all publications of a mount hold in memory
// at once: compressed members waiting to be sent and an object's old bytes
// fetched to be re-put with the new ones. Publications are I/O-bound and
// many run at once (vfs.Options.Publishers); one that finds the budget
// spent keeps its bytes in an unlinked file in the spool directory instead
// of waiting, so a backlog of large publications cannot add up in memory.
const memoryBudget = 64 << 20

// Budget is a count of bytes that can be taken and given back. A nil
// Budget has no bound.
type Budget struct {
	mu   sync.Mutex
	free int64
}

// NewBudget makes a budget of n bytes.
func NewBudget(n int64) *Budget { return &Budget{free: n} }

// TryTake takes n bytes if that many are free.
func (b *Budget) TryTake(n int64) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.free {
		return false
	}
	b.free -= n
	return true
}

// Give returns n bytes taken.
func (b *Budget) Give(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.free += n
	b.mu.Unlock()
}

// buffer is n bytes that are written once then read: in memory if the
// budget allows, else in an unlinked file in dir (nothing is left behind
// by a crash). release gives back what it took.
type buffer struct {
	mem   []byte
	file  *os.File
	n     int64
	taken int64
	b     *Budget
}

func newBuffer(b *Budget, dir string, n int64) (*buffer, error) {
	if n <= spillAbove && b.TryTake(n) {
		return &buffer{b: b, taken: n}, nil
	}
	if dir == "" {
		return &buffer{}, nil // nowhere to spill: memory, unaccounted
	}
	f, err := os.CreateTemp(dir, "publishing-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("buffering a publication: %w", err)
	}
	os.Remove(f.Name())
	return &buffer{file: f}, nil
}

func (w *buffer) Write(p []byte) (int, error) {
	if w.file != nil {
		n, err := w.file.Write(p)
		w.n += int64(n)
		return n, err
	}
	w.mem = append(w.mem, p...)
	w.n += int64(len(p))
	return len(p), nil
}

// reader is the bytes written (seekable, ReaderAt).
func (w *buffer) reader() *io.SectionReader {
	if w.file != nil {
		return io.NewSectionReader(w.file, 0, w.n)
	}
	return io.NewSectionReader(bytes.NewReader(w.mem), 0, w.n)
}

func (w *buffer) release() {
	if w.file != nil {
		w.file.Close()
	}
	if w.taken > 0 {
		w.b.Give(w.taken)
		w.taken = 0
	}
}

// fetchOld reads [0, size) of key at etag (an object's old bytes, re-put
// with new ones) into a buffer of the budget. The caller releases it.
func fetchOld(ctx context.Context, st s3store.Store, key string, size int64, etag string, cfg Config) (*buffer, error) {
	rc, err := st.Get(ctx, key, 0, size, etag)
	if err != nil {
		return nil, conflict(key, err)
	}
	defer rc.Close()
	buf, err := newBuffer(cfg.Budget, cfg.SpillDir, size)
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(buf, io.LimitReader(rc, size+1))
	if err == nil && n != size {
		err = fmt.Errorf("%w: %s: read %d bytes of a %d byte base", ErrConflict, key, n, size)
	}
	if err != nil {
		buf.release()
		return nil, err
	}
	return buf, nil
}
