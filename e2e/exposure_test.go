package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3mount/s3mount/internal/testenv"
)

// listeners returns the TCP addresses (hex, as /proc/net/tcp shows them)
// the process pid listens on.
func listeners(t *testing.T, pid int) []string {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
			if len(fields) > 9 && fields[3] == "0A" && inodes[fields[9]] {
				out = append(out, fields[1])
			}
		}
		f.Close()
	}
	return out
}

// The daemon listens on no TCP port unless --metrics-addr says so, and
// then only where it says.
func TestNoListenerByDefault(t *testing.T) {
	srv, b := setup(t)
	m := mount(t, srv, b)
	if l := listeners(t, m.Cmd.Process.Pid); len(l) != 0 {
		t.Fatalf("the daemon listens on %v without --metrics-addr", l)
	}
	port := freeLoopbackPort(t)
	m2 := mount(t, srv, b, "--metrics-addr", fmt.Sprintf("127.0.0.1:%d", port))
	want := fmt.Sprintf("0100007F:%04X", port) // 127.0.0.1, as /proc/net/tcp writes it
	if l := listeners(t, m2.Cmd.Process.Pid); len(l) != 1 || l[0] != want {
		t.Fatalf("with --metrics-addr 127.0.0.1:%d the daemon listens on %v, want [%s]", port, l, want)
	}
}

// Neither `s3mount status` nor `s3mount recover` shows a credential or a
// byte of a file's content, even for a daemon run with --debug through
// failing requests and killed with data in the spool.
func TestStatusAndRecoverShowNoSecrets(t *testing.T) {
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	p := testenv.NewProxy(t, srv.Endpoint)
	m := testenv.MountBinaryEnv(t, []string{"AWS_MAX_ATTEMPTS=2"}, p.URL, srv, b, "--debug", "--upload-interval", "1h")
	const content = "CONTENT-MARKER-4f1d9c\n"
	f, err := os.OpenFile(filepath.Join(m.Dir, "private.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	p.SetSlowDown(1) // every request fails: fsync logs its errors
	f.Sync()
	p.SetSlowDown(0)
	var out []byte
	for _, args := range [][]string{{"status", m.Dir}, {"status", "--json", m.Dir}} {
		o, err := exec.Command(testenv.Binary(t), args...).CombinedOutput()
		if err != nil || !strings.Contains(string(o), "private.log") {
			t.Fatalf("s3mount %v: %v\n%s", args, err, o)
		}
		out = append(out, o...)
	}
	f.Close()
	m.Kill(t)
	o, err := exec.Command(testenv.Binary(t), "recover", m.SpoolDir).CombinedOutput()
	if err != nil || !strings.Contains(string(o), "private.log") {
		t.Fatalf("s3mount recover: %v\n%s", err, o)
	}
	out = append(out, o...)
	out = append(out, m.Stderr()...)
	for _, secret := range []string{srv.SecretKey, "X-Amz-Signature", "X-Amz-Credential", "Signature=", strings.TrimSpace(content)} {
		if strings.Contains(string(out), secret) {
			t.Fatalf("status, recover or the --debug log show %q:\n%s", secret, out)
		}
	}
}
