package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// withFusermountStderr runs mount with os.Stderr pointing at a pipe and
// returns what was written there. Without root, go-fuse mounts through the
// fusermount3 helper and hands it os.Stderr (read at that moment); when
// fusermount fails, go-fuse's error says only "fusermount exited with code
// 256" while fusermount's reason ("failed to open /dev/fuse: Permission
// denied", "option allow_other only allowed if 'user_allow_other' is set")
// went to our stderr: the terminal in the foreground, nowhere once in the
// background. Only os.Stderr the variable changes, not fd 2: log lines
// (whose writer holds the old *os.File) and panics are unaffected.
func withFusermountStderr[T any](mount func() (T, error)) (T, string, error) {
	r, w, err := os.Pipe()
	if err != nil {
		v, err := mount()
		return v, "", err
	}
	var out capped
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1024)
		for {
			n, err := r.Read(buf)
			out.write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	saved := os.Stderr
	os.Stderr = w
	v, merr := mount()
	os.Stderr = saved
	w.Close()
	// fusermount has exited when the mount returns, so its words are in
	// the pipe; the deadline only guards against a helper that lingers
	// with the pipe open.
	r.SetReadDeadline(time.Now().Add(2 * time.Second))
	<-done
	r.Close()
	return v, strings.TrimSpace(out.String()), merr
}

// mountError is the one-line reason a mount failed, with fusermount's own
// words when it said any.
func mountError(dir string, err error, fusermount string) error {
	msg := strings.TrimSpace(err.Error())
	if said := strings.Join(strings.Fields(fusermount), " "); said != "" {
		msg = said + " (" + msg + ")"
	}
	return fmt.Errorf("cannot mount at %s: %s", dir, msg)
}

// capped keeps the first 4 KiB written to it.
type capped struct {
	mu  sync.Mutex
	buf []byte
}

func (c *capped) write(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p[:min(len(p), 4096-len(c.buf))]...)
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}
