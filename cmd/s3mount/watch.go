package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// watchCommand is the hidden subcommand of the --auto-unmount watcher: a
// small process that outlives the daemon and detaches its mount if the
// daemon dies (DirectMount has no fusermount to do it).
const watchCommand = "__auto-unmount-watch"

func startWatcher(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, watchCommand, strconv.Itoa(os.Getpid()), dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}

func runWatch(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: s3mount "+watchCommand+" PID DIR")
		return 2
	}
	pid, err := strconv.Atoi(args[0])
	if err != nil {
		return 2
	}
	for alive(pid) {
		time.Sleep(500 * time.Millisecond)
	}
	// The daemon is gone; a mount it left behind answers ENOTCONN.
	syscall.Unmount(args[1], syscall.MNT_DETACH)
	return 0
}

// alive: a zombie counts as dead (its parent may not have reaped it yet).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' {
			return i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
		}
	}
	return true
}
