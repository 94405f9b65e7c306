package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3mount/s3mount/internal/testenv"
)

// TestGrafanaDashboardMetrics: every metric that a query of
// packaging/grafana/s3mount.json uses is exported by a running mount
// (--metrics-addr) once it has read, written, published and answered a
// lookup with an error; the publication lag rises while a write is
// unpublished and is 0 once it is published.
func TestGrafanaDashboardMetrics(t *testing.T) {
	queries := dashboardQueries(t)
	srv := testenv.StartServer(t)
	b := srv.NewBucket(t)
	srv.Put(t, b, "seed.txt", []byte("from s3\n"))
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	m := testenv.MountBinary(t, srv.Endpoint, srv, b, "--metrics-addr", addr, "--upload-interval", "1h")

	if got, err := os.ReadFile(filepath.Join(m.Dir, "seed.txt")); err != nil || string(got) != "from s3\n" {
		t.Fatalf("read seed.txt: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(m.Dir, "missing")); !os.IsNotExist(err) {
		t.Fatalf("stat of a missing name: %v", err)
	}
	f, err := os.OpenFile(filepath.Join(m.Dir, "app.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("unpublished line\n"); err != nil {
		t.Fatal(err)
	}
	lag := func() float64 { return scrape(t, addr)["s3mount_publication_lag_seconds"] }
	if !waitUntil(30*time.Second, func() bool { return lag() > 0 }) {
		t.Fatalf("publication lag stays %v with an unpublished write", lag())
	}
	if err := f.Sync(); err != nil { // fsync publishes
		t.Fatal(err)
	}
	if v := lag(); v != 0 {
		t.Fatalf("publication lag %v after everything was published", v)
	}

	exported := scrape(t, addr)
	names := regexp.MustCompile(`\bs3mount_[a-z0-9_]+`)
	used := map[string]bool{}
	for _, q := range queries {
		for _, n := range names.FindAllString(q, -1) {
			used[n] = true
		}
	}
	if len(used) < 10 {
		t.Fatalf("the dashboard queries only %d metrics: %v", len(used), used)
	}
	for n := range used {
		if _, ok := exported[n]; !ok {
			t.Errorf("the dashboard queries %s, which the mount does not export", n)
		}
	}
}

// dashboardQueries returns the PromQL of every panel and variable, and
// checks the panels are well formed (unique ids, a query each).
func dashboardQueries(t *testing.T) []string {
	raw, err := os.ReadFile("../packaging/grafana/s3mount.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("packaging/grafana/s3mount.json: %v", err)
	}
	var qs []string
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q has an empty query", p.Title)
			}
			qs = append(qs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		qs = append(qs, v.Definition)
	}
	return qs
}

// scrape maps each sample name on /metrics (labels dropped) to its last
// value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, l := range strings.Split(scrapeText(t, addr), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		name := l[:strings.IndexAny(l, "{ ")]
		v, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		out[name] = v
	}
	return out
}

// scrapeText is the mount's /metrics page.
func scrapeText(t *testing.T, addr string) string {
	t.Helper()
	r, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
