package testenv

import (
	"os"
	"sync"
	"testing"
)

var (
	stopMu sync.Mutex
	stops  []func() // run last-in first-out by stopAll
)

// atExit registers f to run when Main finishes (servers, leftover mounts).
func atExit(f func()) {
	stopMu.Lock()
	stops = append(stops, f)
	stopMu.Unlock()
}

func stopAll() {
	stopMu.Lock()
	fs := stops
	stops = nil
	stopMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// Main runs the tests, then stops every server and mount this package
// started, and exits with the tests' code.
func Main(m *testing.M) {
	// Tests must never reach for the EC2 metadata service (not loopback).
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	code := m.Run()
	stopAll()
	os.Exit(code)
}
