package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// --metrics-addr serves Prometheus metrics that follow what the mount does,
// and `s3mount status` shows per-file spool state over the 0600 socket.
func TestMetricsAndStatus(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	m := testenv.MountBinary(t, srv.Endpoint, srv, b, "--metrics-addr", addr, "--upload-interval", "1h")
	f, err := os.OpenFile(filepath.Join(m.Dir, "app.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Repeat("x", 999) + "\n"); err != nil {
		t.Fatal(err)
	}

	// status: the open log with its 1,000 unpublished bytes.
	out, err := exec.Command(testenv.Binary(t), "status", "--json", m.Dir).Output()
	if err != nil {
		t.Fatalf("s3mount status: %v", err)
	}
	var rep struct {
		SpoolDir string `json:"spool_dir"`
		Files    []struct {
			Key         string `json:"key"`
			Open        int    `json:"open_handles"`
			Unpublished int64  `json:"unpublished_bytes"`
		} `json:"files"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if len(rep.Files) != 1 || rep.Files[0].Key != "app.log" || rep.Files[0].Unpublished != 1000 || rep.Files[0].Open != 1 {
		t.Fatalf("status files: %+v", rep.Files)
	}
	st, err := os.Stat(filepath.Join(rep.SpoolDir, "status.sock"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("status socket: %v mode %v, want 0600", err, st.Mode().Perm())
	}
	text, err := exec.Command(testenv.Binary(t), "status", m.Dir).Output()
	if err != nil || !strings.Contains(string(text), "app.log") || !strings.Contains(string(text), "1000") {
		t.Fatalf("s3mount status text: %v\n%s", err, text)
	}

	metric := func(name string) float64 {
		t.Helper()
		r, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		body, _ := io.ReadAll(r.Body)
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(l, name+" ") {
				v, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
				return v
			}
		}
		t.Fatalf("metric %s missing", name)
		return 0
	}
	if v := metric("s3mount_spool_unpublished_bytes"); v != 1000 {
		t.Fatalf("s3mount_spool_unpublished_bytes = %v, want 1000", v)
	}
	if v := metric("s3mount_publications_total"); v != 0 {
		t.Fatalf("publications before fsync = %v", v)
	}
	if err := f.Sync(); err != nil { // fsync publishes
		t.Fatal(err)
	}
	if v := metric("s3mount_publications_total"); v != 1 {
		t.Fatalf("publications after fsync = %v, want 1", v)
	}
	if v := metric("s3mount_spool_unpublished_bytes"); v != 0 {
		t.Fatalf("unpublished after fsync = %v", v)
	}
	if v := metric(`s3mount_s3_requests_total{op="PutObject"}`); v < 1 {
		t.Fatalf("PutObject requests = %v", v)
	}
	if v := metric(`s3mount_fuse_op_seconds_count{op="write"}`); v < 1 {
		t.Fatalf("FUSE write ops = %v", v)
	}
}

// No credential ever reaches a log line, even with --debug and failing
// requests.
func TestLogsHaveNoSecrets(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	logDir := t.TempDir()
	p := testenv.NewProxy(t, srv.Endpoint)
	m := testenv.MountBinary(t, p.URL, srv, b, "--debug", "-l", logDir, "--upload-interval", "200ms")
	p.SetSlowDown(2)
	os.WriteFile(filepath.Join(m.Dir, "f.txt"), []byte("data\n"), 0o644)
	os.ReadFile(filepath.Join(m.Dir, "missing"))
	time.Sleep(300 * time.Millisecond)
	m.Unmount(t)
	p.SetSlowDown(0)
	files, _ := filepath.Glob(filepath.Join(logDir, "*.log"))
	if len(files) == 0 {
		t.Fatal("no log file written to --log-directory")
	}
	var all []byte
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all = append(all, b...)
	}
	if !strings.Contains(string(all), "mounted") {
		t.Fatalf("log has no mount line:\n%s", all)
	}
	for _, secret := range []string{srv.SecretKey, "X-Amz-Signature", "X-Amz-Credential", "Signature="} {
		if strings.Contains(string(all), secret) {
			t.Fatalf("log contains %q", secret)
		}
	}
}
