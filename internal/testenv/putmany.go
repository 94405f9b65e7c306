package testenv

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/s3store"
)

// PutMany uploads n objects (key(i), body(i)) through st, workers at a
// time; the first error stops the rest and fails the test.
func PutMany(t testing.TB, st s3store.Store, n, workers int, key func(int) string, body func(int) []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				b := body(i)
				if _, err := st.Put(ctx, key(i), bytes.NewReader(b), int64(len(b)), s3store.Cond{}); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		t.Fatalf("testenv: put %d objects: %v", n, first)
	}
}
