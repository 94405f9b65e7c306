package spool

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A blocking writer waiting for room when the spool closes (unmount) gets
// ErrClosed, never a nil or ErrFull that a caller could take for a drop.
func TestWaitForRoomEndsWithErrClosed(t *testing.T) {
	sp, _ := open(t, t.TempDir(), Options{MaxBuffer: 10})
	if !sp.TryReserve(10) {
		t.Fatal("the first 10 bytes do not fit an empty 10-byte buffer")
	}
	done := make(chan error, 1)
	go func() { done <- sp.Reserve(context.Background(), 5) }()
	select {
	case err := <-done:
		t.Fatalf("Reserve returned %v while the buffer was full", err)
	case <-time.After(50 * time.Millisecond):
	}
	sp.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Reserve after Close: %v, want ErrClosed", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Reserve still waiting a minute after Close")
	}
}
