package testenv

import (
	"bytes"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Server is a running S3 server on 127.0.0.1.
type Server struct {
	Endpoint  string // http://127.0.0.1:port
	AccessKey string
	SecretKey string
	Region    string
	Kind      string // "versitygw" | "minio"
	Pid       int    // the server's process (benchmarks read its CPU time)

	clientOnce sync.Once
	client     *s3.Client
}

var (
	serverMu  sync.Mutex
	server    *Server
	serverErr error
)

// StartServer returns the process-wide server, starting it on first use.
func StartServer(t testing.TB) *Server {
	t.Helper()
	serverMu.Lock()
	defer serverMu.Unlock()
	if server == nil && serverErr == nil {
		server, serverErr = startServer()
	}
	if serverErr != nil {
		t.Fatalf("testenv: start S3 server: %v", serverErr)
	}
	return server
}

func startServer() (*Server, error) {
	kind := os.Getenv("S3MOUNT_TEST_SERVER")
	switch kind {
	case "", "versitygw":
		kind = "versitygw"
	case "minio":
	default:
		return nil, fmt.Errorf("S3MOUNT_TEST_SERVER=%q: want versitygw or minio", kind)
	}
	s := &Server{AccessKey: "testenvaccess", SecretKey: "testenvsecret0123", Region: "us-east-1", Kind: kind}
	var err error
	// A free port can be taken between our probe and the server's bind: retry.
	for try := 0; try < 3; try++ {
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	return nil, err
}

func (s *Server) start() error {
	dir, err := os.MkdirTemp("", "s3mount-"+s.Kind+"-")
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s.Endpoint = "http://" + addr
	var cmd *exec.Cmd
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID="+s.AccessKey, "AWS_SECRET_ACCESS_KEY="+s.SecretKey,
		"AWS_REGION="+s.Region)
	ready := s.Endpoint + "/"
	switch s.Kind {
	case "versitygw":
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		cmd = exec.Command(exe, "-test.run=^$")
		env = append(env, gatewayEnv+"="+dir, gatewayAddrEnv+"="+addr)
	case "minio":
		bin, err := minioBinary()
		if err != nil {
			return err
		}
		cmd = exec.Command(bin, "server", dir, "--address", addr, "--quiet")
		env = append(env, "MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
			"MINIO_REGION="+s.Region, "MINIO_BROWSER=off", "MINIO_UPDATE=off")
		ready = s.Endpoint + "/minio/health/ready"
	}
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out // bytes.Buffer is only read after Wait
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe() // closed when we die: the gateway child stops
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return err
	}
	s.Pid = cmd.Process.Pid
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		stdin.Close()
		os.RemoveAll(dir)
	}
	if err := waitReady(ready, exited); err != nil {
		stop()
		return fmt.Errorf("%s on %s: %v\n%s", s.Kind, addr, err, out.String())
	}
	atExit(stop)
	return nil
}

// waitReady polls url until the server answers anything but 5xx.
func waitReady(url string, exited <-chan struct{}) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("server exited")
		default:
		}
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after 60s")
}

func minioBinary() (string, error) {
	if p := os.Getenv("S3MOUNT_MINIO"); p != "" {
		return p, nil
	}
	gopath := build.Default.GOPATH
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		gopath = string(bytes.TrimSpace(out))
	}
	p := filepath.Join(filepath.SplitList(gopath)[0], "bin", "minio")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("minio binary not found at %s nor in PATH: install it (see DEVELOPERS.md) or unset S3MOUNT_TEST_SERVER", p)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Env is the credentials and region for child processes (append to os.Environ()).
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=" + s.Region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}
