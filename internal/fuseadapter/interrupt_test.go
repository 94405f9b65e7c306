package fuseadapter

import (
	"fmt"
	"syscall"
	"testing"
)

func status(pnd, shd, blk, ign, cgt uint64) []byte {
	return fmt.Appendf(nil, "Name:\tcat\nState:\tS (sleeping)\nSigQ:\t0/127\nSigPnd:\t%016x\nShdPnd:\t%016x\nSigBlk:\t%016x\nSigIgn:\t%016x\nSigCgt:\t%016x\nCapInh:\t0000000000000000\n",
		pnd, shd, blk, ign, cgt)
}

func TestDyingStatus(t *testing.T) {
	bit := func(s syscall.Signal) uint64 { return sigset(s) }
	cases := []struct {
		name                    string
		pnd, shd, blk, ign, cgt uint64
		want                    bool
	}{
		{"nothing pending", 0, 0, 0, 0, 0, false},
		{"SIGKILL pending on the thread", bit(syscall.SIGKILL), 0, 0, 0, 0, true},
		{"SIGKILL pending for the process", 0, bit(syscall.SIGKILL), 0, 0, 0, true},
		{"SIGURG caught (Go preemption)", bit(syscall.SIGURG), 0, 0, 0, bit(syscall.SIGURG), false},
		{"SIGURG not caught: default is ignore", bit(syscall.SIGURG), 0, 0, 0, 0, false},
		{"SIGTERM caught", 0, bit(syscall.SIGTERM), 0, 0, bit(syscall.SIGTERM), false},
		{"SIGTERM by default ends the process", 0, bit(syscall.SIGTERM), 0, 0, 0, true},
		{"SIGTERM blocked", 0, bit(syscall.SIGTERM), bit(syscall.SIGTERM), 0, 0, false},
		{"SIGQUIT by default dumps core", bit(syscall.SIGQUIT), 0, 0, 0, 0, true},
		{"SIGCHLD by default is ignored", bit(syscall.SIGCHLD), 0, 0, 0, 0, false},
		{"SIGINT ignored", bit(syscall.SIGINT), 0, 0, bit(syscall.SIGINT), 0, false},
		{"SIGRTMIN+2 by default ends the process", 1 << 35, 0, 0, 0, 0, true},
	}
	for _, c := range cases {
		if got := dyingStatus(status(c.pnd, c.shd, c.blk, c.ign, c.cgt)); got != c.want {
			t.Errorf("%s: dying %v, want %v", c.name, got, c.want)
		}
	}
}

// This test's own thread is alive and well; a thread that does not exist
// counts as dying.
func TestDyingReadsProc(t *testing.T) {
	if dying(uint32(syscall.Gettid())) {
		t.Fatal("the test's own thread looks dying")
	}
	if !dying(1 << 30) {
		t.Fatal("a thread that does not exist does not look dying")
	}
	if !dying(0) {
		t.Fatal("an unknown caller must count as dying (its interrupt honoured)")
	}
}

// The status parser takes any text without panicking.
func FuzzDyingStatus(f *testing.F) {
	f.Add(status(0, 1<<8, 0, 0, 0))
	f.Add([]byte("SigPnd:\tzz\nShdPnd:"))
	f.Fuzz(func(t *testing.T, b []byte) { dyingStatus(b) })
}
