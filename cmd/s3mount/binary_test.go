package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/s3mount/s3mount/internal/testenv"
)

// serverModules are modules a mount tool has no use for: an S3 server and
// the event clients it brings (they came in with the demo, now
// cmd/s3mount-demo). People who install s3mount on production hosts audit
// what it links.
var serverModules = []string{"github.com/versity/", "kafka", "github.com/nats-io/"}

// TestBinaryLinksNoServer: `go version -m` of the s3mount binary lists no
// S3 server, Kafka or NATS module.
func TestBinaryLinksNoServer(t *testing.T) {
	out, err := exec.Command("go", "version", "-m", testenv.Binary(t)).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	deps := 0
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || (f[0] != "dep" && f[0] != "=>") {
			continue
		}
		if f[0] == "dep" {
			deps++
		}
		for _, m := range serverModules {
			if strings.Contains(f[1], m) {
				t.Errorf("s3mount links %s (%s)", f[1], m)
			}
		}
	}
	if deps == 0 {
		t.Fatalf("go version -m lists no modules:\n%s", out)
	}
	t.Logf("s3mount links %d modules", deps)
}
