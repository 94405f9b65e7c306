package spool

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

// Freeing published bytes races readers of the same file: a reader gets the
// bytes or ErrNotLocal (and looks elsewhere), never the zeros of a hole.
func TestReadNeverSeesPunchedZeros(t *testing.T) {
	sp, _ := open(t, t.TempDir(), Options{})
	const size = 4 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	for round := 0; round < 20; round++ {
		f, err := sp.Create(Journal{Key: "k", Kind: KindAppend})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(data, 0); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var bad error
		var mu sync.Mutex
		for r := 0; r < 4; r++ {
			wg.Add(1)
			go func(r int) {
				defer wg.Done()
				buf := make([]byte, 64<<10)
				for off := int64(r) * 4096; ; off = (off + 64<<10) % (size - 64<<10) {
					select {
					case <-stop:
						return
					default:
					}
					n, err := f.ReadAt(buf, off)
					if errors.Is(err, ErrNotLocal) {
						continue
					}
					if err != nil || !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
						mu.Lock()
						bad = errors.Join(bad, err, errors.New("read returned bytes that are not the file's"))
						mu.Unlock()
						return
					}
				}
			}(r)
		}
		for off := int64(0); off < size; off += 256 << 10 {
			if err := f.Punch(off, 256<<10); err != nil {
				t.Fatal(err)
			}
		}
		close(stop)
		wg.Wait()
		if bad != nil {
			t.Fatalf("round %d: %v", round, bad)
		}
		f.Remove()
	}
}
