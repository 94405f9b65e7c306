package fuseadapter

import (
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// An open reply whose flags carry a slot gets the slot's backing id and
// FOPEN_PASSTHROUGH, and loses the private bits; other replies pass as
// they are; a slot is used once.
func TestPassthroughReplyCarriesBackingID(t *testing.T) {
	slots := &slotTable{}
	p := &passthroughFS{slots: slots}
	slot := slots.put(42)
	out := &fuse.OpenOut{OpenFlags: fuse.FOPEN_DIRECT_IO | slotMark | slot<<slotShift}
	p.apply(out)
	if out.BackingID != 42 || out.OpenFlags != fuse.FOPEN_DIRECT_IO|fuse.FOPEN_PASSTHROUGH {
		t.Fatalf("reply: backing id %d, flags %#x; want 42, %#x", out.BackingID, out.OpenFlags, fuse.FOPEN_DIRECT_IO|fuse.FOPEN_PASSTHROUGH)
	}
	if _, ok := slots.take(slot); ok {
		t.Fatal("the slot is still taken after its reply")
	}
	plain := &fuse.OpenOut{OpenFlags: fuse.FOPEN_DIRECT_IO}
	p.apply(plain)
	if plain.BackingID != 0 || plain.OpenFlags != fuse.FOPEN_DIRECT_IO {
		t.Fatalf("a reply without a slot changed: %+v", plain)
	}
	// Slots wrap around without handing out one in use.
	held := slots.put(7)
	for i := 0; i < 2*(slotMask+1); i++ {
		s := slots.put(1)
		if s == held || s > slotMask {
			t.Fatalf("slot %d handed out (held %d, max %d)", s, held, slotMask)
		}
		slots.take(s)
	}
}

// A node registers its backing file once for all the opens that name it,
// and lets go of it with the last.
func TestBackingRegisteredOncePerUsers(t *testing.T) {
	srv := &fakeBackingServer{}
	var b backing
	a := &adapter{log: nil}
	id1, err := b.acquire(srv, 5, true)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := b.acquire(srv, 5, true)
	if err != nil || id2 != id1 || srv.registered != 1 {
		t.Fatalf("second open: id %d (%v), %d registrations; want %d, 1", id2, err, srv.registered, id1)
	}
	b.release(srv, a)
	if srv.unregistered != 0 {
		t.Fatal("unregistered while an open still names it")
	}
	b.release(srv, a)
	if srv.unregistered != 1 {
		t.Fatalf("%d unregistrations after the last release, want 1", srv.unregistered)
	}
	if _, err := b.acquire(srv, 0, false); err == nil {
		t.Fatal("acquire with no fd and no registration succeeded")
	}
}

type fakeBackingServer struct{ registered, unregistered int }

func (f *fakeBackingServer) RegisterBackingFd(*fuse.BackingMap) (int32, syscall.Errno) {
	f.registered++
	return int32(f.registered), 0
}

func (f *fakeBackingServer) UnregisterBackingFd(int32) syscall.Errno {
	f.unregistered++
	return 0
}
