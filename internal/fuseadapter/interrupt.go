package fuseadapter

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/s3mount/s3mount/internal/vfs"
)

// request is the context the core works under for one FUSE request. The
// kernel interrupts a request whenever its caller takes any signal it
// catches, and Go programs take SIGURG (goroutine preemption) many times a
// second: answering those with EINTR made rename(2), stat(2) and open(2)
// fail in callers that never expect EINTR from a file system. So the
// interrupt is honoured only when the caller is dying (SIGKILL, or a
// signal whose default action ends the process, is pending): a killed
// process is let go at once instead of waiting out a slow S3 request.
//
// Done is made on first use, so a request that never waits costs no
// goroutine.
type request struct {
	context.Context // go-fuse's: the caller's values; Done fires on every interrupt
	pid             uint32

	mu       sync.Mutex // guards the fields below; nothing is called under it
	done     chan struct{}
	ended    chan struct{} // closed by end: the watcher stops
	finished bool
	dying    bool
}

// newRequest wraps go-fuse's request context; end must be called when the
// request is answered.
func newRequest(ctx context.Context) *request {
	r := &request{Context: ctx}
	if c, ok := fuse.FromContext(ctx); ok {
		r.pid = c.Pid
		r.Context = vfs.WithCaller(ctx, c.Uid, c.Gid)
	}
	return r
}

func (r *request) Done() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done == nil {
		r.done = make(chan struct{})
		r.ended = make(chan struct{})
		if r.dying {
			close(r.done)
		} else if !r.finished {
			go r.watch(r.done, r.ended)
		}
	}
	return r.done
}

func (r *request) Err() error {
	if r.interrupted() && r.callerDying() {
		return context.Canceled
	}
	return nil
}

// end stops the watcher, if any.
func (r *request) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.finished {
		r.finished = true
		if r.ended != nil {
			close(r.ended)
		}
	}
}

func (r *request) interrupted() bool {
	select {
	case <-r.Context.Done():
		return true
	default:
		return false
	}
}

// callerDying checks the caller's signals once more, remembering a yes.
func (r *request) callerDying() bool {
	r.mu.Lock()
	known := r.dying
	r.mu.Unlock()
	if known {
		return true
	}
	if !dying(r.pid) {
		return false
	}
	r.mu.Lock()
	r.dying = true
	if r.done != nil {
		select {
		case <-r.done:
		default:
			close(r.done)
		}
	}
	r.mu.Unlock()
	return true
}

// watchPoll is how often an interrupted request looks at its caller again:
// a caller that first took a harmless signal may be killed later.
const watchPoll = 100 * time.Millisecond

func (r *request) watch(done, ended chan struct{}) {
	select {
	case <-r.Context.Done():
	case <-ended:
		return
	}
	t := time.NewTicker(watchPoll)
	defer t.Stop()
	for !r.callerDying() {
		select {
		case <-ended:
			return
		case <-t.C:
		}
	}
}

// dying reports whether thread tid is being killed: SIGKILL pending, or a
// pending signal that is neither blocked, caught nor ignored and whose
// default action ends the process. An unknown caller (tid 0) or one
// already gone counts as dying: the interrupt is then honoured as before.
func dying(tid uint32) bool {
	if tid == 0 {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(tid), 10) + "/status")
	if err != nil {
		return true
	}
	return dyingStatus(b)
}

// harmless are the signals whose default action does not end a process.
var harmless = sigset(syscall.SIGCHLD, syscall.SIGURG, syscall.SIGWINCH, syscall.SIGCONT,
	syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU)

func sigset(sigs ...syscall.Signal) uint64 {
	var m uint64
	for _, s := range sigs {
		m |= 1 << (uint(s) - 1)
	}
	return m
}

// dyingStatus reads the signal masks of a /proc/<tid>/status text.
func dyingStatus(status []byte) bool {
	var pnd, shd, blk, ign, cgt uint64
	fields := map[string]*uint64{"SigPnd": &pnd, "ShdPnd": &shd, "SigBlk": &blk, "SigIgn": &ign, "SigCgt": &cgt}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		name, val, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if p := fields[string(name)]; ok && p != nil {
			fmt.Sscanf(string(bytes.TrimSpace(val)), "%x", p)
		}
	}
	pending := pnd | shd
	if pending&sigset(syscall.SIGKILL) != 0 {
		return true
	}
	return pending&^blk&^ign&^cgt&^harmless != 0
}
