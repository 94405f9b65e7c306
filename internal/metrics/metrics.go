// Package metrics exposes a mount's counters: Prometheus on --metrics-addr
// and a one-line summary every minute with --log-metrics. It reads the
// counters the other packages keep (s3store.Stats, vfs.Stats, read-ahead
// memory); only FUSE operation latencies and the publication lag (lag.go)
// are derived here. packaging/grafana/s3mount.json charts them.
package metrics

import (
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/s3mount/s3mount/internal/readahead"
	"github.com/s3mount/s3mount/internal/s3store"
	"github.com/s3mount/s3mount/internal/vfs"
)

// M is one mount's metrics.
type M struct {
	st   s3store.Store
	fs   *vfs.FS
	pool *readahead.Pool
	reg  *prometheus.Registry

	fuseOps    *prometheus.HistogramVec
	fuseObs    sync.Map // op -> fuseOps' prometheus.Observer (FuseOp)
	fuseErrors *prometheus.CounterVec
	lag        lagTracker
}

// New registers the mount's metric families.
func New(st s3store.Store, fs *vfs.FS, pool *readahead.Pool) *M {
	m := &M{st: st, fs: fs, pool: pool, reg: prometheus.NewRegistry()}
	m.fuseOps = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "s3mount_fuse_op_seconds", Help: "FUSE operations by type and latency.",
		Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10),
	}, []string{"op"})
	m.fuseErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "s3mount_fuse_op_errors_total", Help: "FUSE operations that returned an error, by type and errno.",
	}, []string{"op", "errno"})
	m.reg.MustRegister(m.fuseOps, m.fuseErrors, collector{m})
	return m
}

// FuseOp records one FUSE operation.
func (m *M) FuseOp(op string, d time.Duration, errno syscall.Errno) {
	// Looked up once per op: WithLabelValues hashes the label and takes a
	// lock, on every write() of every log.
	o, ok := m.fuseObs.Load(op)
	if !ok {
		o, _ = m.fuseObs.LoadOrStore(op, m.fuseOps.WithLabelValues(op))
	}
	o.(prometheus.Observer).Observe(d.Seconds())
	if errno != 0 {
		m.fuseErrors.WithLabelValues(op, errno.Error()).Inc()
	}
}

// Serve starts the Prometheus endpoint (/metrics) and returns its address.
func (m *M) Serve(addr string) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	addPprof(mux, l)
	go http.Serve(l, mux)
	return l.Addr().String(), nil
}

// Summary is the one-line --log-metrics text.
func (m *M) Summary() []any {
	s := m.fs.Stats()
	ops := m.st.Stats()
	names := make([]string, 0, len(ops))
	for k := range ops {
		names = append(names, k)
	}
	sort.Strings(names)
	out := []any{"s3_requests", ops.Total(), "publications", s.Publications, "publish_errors", s.PublishErrors, "publish_waits", s.PublishWaits,
		"spool_bytes", s.SpoolUsed, "spool_files", s.SpoolFiles, "dropped_bytes", s.DroppedBytes,
		"readahead_bytes", m.pool.MemoryInUse()}
	for _, k := range names {
		out = append(out, "s3_"+k, ops[k].Requests)
	}
	return out
}

// LogEvery logs Summary every d, forever.
func (m *M) LogEvery(d time.Duration, log *slog.Logger) {
	for range time.Tick(d) {
		log.Info("metrics", m.Summary()...)
	}
}

// collector turns the counters the mount keeps into Prometheus samples at
// scrape time, so nothing is counted twice.
type collector struct{ m *M }

var (
	descReq      = prometheus.NewDesc("s3mount_s3_requests_total", "S3 requests sent (retries included), by operation.", []string{"op"}, nil)
	descReqErr   = prometheus.NewDesc("s3mount_s3_request_errors_total", "S3 calls that failed after retries, by operation.", []string{"op"}, nil)
	descBytesIn  = prometheus.NewDesc("s3mount_s3_bytes_in_total", "Body bytes received from S3, by operation.", []string{"op"}, nil)
	descBytesOut = prometheus.NewDesc("s3mount_s3_bytes_out_total", "Body bytes sent to S3, by operation.", []string{"op"}, nil)
	descPubs     = prometheus.NewDesc("s3mount_publications_total", "Publications that succeeded.", nil, nil)
	descPubErr   = prometheus.NewDesc("s3mount_publication_errors_total", "Publications that failed (data kept in the spool).", nil, nil)
	descPubWait  = prometheus.NewDesc("s3mount_publication_waits_total", "Publications that waited, not failed: with --compress, a new plain NAME.gz whose key is the compressed file NAME's object is published once NAME is gone (data kept in the spool).", nil, nil)
	descConfl    = prometheus.NewDesc("s3mount_publication_conflicts_total", "Conditional writes refused because another writer changed the object.", nil, nil)
	descPubLat   = prometheus.NewDesc("s3mount_publication_last_seconds", "Duration of the last publication.", nil, nil)
	descSpool    = prometheus.NewDesc("s3mount_spool_unpublished_bytes", "Unpublished bytes held in the spool.", nil, nil)
	descFiles    = prometheus.NewDesc("s3mount_spool_files", "Files held in the spool.", nil, nil)
	descDropB    = prometheus.NewDesc("s3mount_dropped_bytes_total", "Bytes dropped by non-blocking mode while the buffer was full.", nil, nil)
	descDropW    = prometheus.NewDesc("s3mount_dropped_writes_total", "Writes dropped by non-blocking mode while the buffer was full.", nil, nil)
	descRA       = prometheus.NewDesc("s3mount_readahead_memory_bytes", "Memory held by read-ahead buffers.", nil, nil)
	descLocal    = prometheus.NewDesc("s3mount_passthrough_opens_total", "Read-only opens the kernel serves from a local file directly (FUSE passthrough: the spool's file, or the data cache's): their reads never reach the daemon.", nil, nil)
	descLocalC   = prometheus.NewDesc("s3mount_passthrough_cache_opens_total", "Of s3mount_passthrough_opens_total, opens of wholly cached objects the kernel serves from the data cache's file (--cache, --read-only).", nil, nil)
	descLag      = prometheus.NewDesc("s3mount_publication_lag_seconds", "Age of the oldest unpublished write (0: everything published), as seen by scrapes: to within one scrape interval.", nil, nil)
	descDelay    = prometheus.NewDesc("s3mount_publication_delay_seconds", "How long scheduled publications (a log's interval, a close, a retry, a full buffer) waited past their due time for a free publisher: near 0 while the publishers keep up.", nil, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReq, descReqErr, descBytesIn, descBytesOut, descPubs, descPubErr, descPubWait, descConfl, descPubLat, descSpool, descFiles, descDropB, descDropW, descRA, descLocal, descLocalC, descLag, descDelay, descZIn, descZOut} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for op, s := range c.m.st.Stats() {
		ch <- prometheus.MustNewConstMetric(descReq, prometheus.CounterValue, float64(s.Requests), op)
		ch <- prometheus.MustNewConstMetric(descReqErr, prometheus.CounterValue, float64(s.Errors), op)
		ch <- prometheus.MustNewConstMetric(descBytesIn, prometheus.CounterValue, float64(s.BytesIn), op)
		ch <- prometheus.MustNewConstMetric(descBytesOut, prometheus.CounterValue, float64(s.BytesOut), op)
	}
	s := c.m.fs.Stats()
	ch <- prometheus.MustNewConstMetric(descPubs, prometheus.CounterValue, float64(s.Publications))
	ch <- prometheus.MustNewConstMetric(descPubErr, prometheus.CounterValue, float64(s.PublishErrors))
	ch <- prometheus.MustNewConstMetric(descPubWait, prometheus.CounterValue, float64(s.PublishWaits))
	ch <- prometheus.MustNewConstMetric(descConfl, prometheus.CounterValue, float64(s.Conflicts))
	ch <- prometheus.MustNewConstMetric(descPubLat, prometheus.GaugeValue, s.LastPublish.Seconds())
	ch <- prometheus.MustNewConstMetric(descSpool, prometheus.GaugeValue, float64(s.SpoolUsed))
	ch <- prometheus.MustNewConstMetric(descFiles, prometheus.GaugeValue, float64(s.SpoolFiles))
	ch <- prometheus.MustNewConstMetric(descDropB, prometheus.CounterValue, float64(s.DroppedBytes))
	ch <- prometheus.MustNewConstMetric(descDropW, prometheus.CounterValue, float64(s.DroppedWrites))
	ch <- prometheus.MustNewConstMetric(descRA, prometheus.GaugeValue, float64(c.m.pool.MemoryInUse()))
	ch <- prometheus.MustNewConstMetric(descLocal, prometheus.CounterValue, float64(c.m.fs.LocalOpens()))
	ch <- prometheus.MustNewConstMetric(descLocalC, prometheus.CounterValue, float64(c.m.fs.CacheOpens()))
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, c.m.lag.observe(time.Now(), c.m.fs.Files()).Seconds())
	d := c.m.fs.PublicationDelays()
	ch <- prometheus.MustNewConstHistogram(descDelay, d.Count, d.Sum.Seconds(), d.Buckets)
	c.collectCompression(ch)
}
