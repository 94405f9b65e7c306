package metrics

import "github.com/prometheus/client_golang/prometheus"

// compressionStats is the --compress store view's side (internal/zstore).
type compressionStats interface {
	CompressionStats() (raw, comp int64)
}

var (
	descZIn  = prometheus.NewDesc("s3mount_compress_input_bytes_total", "Bytes published by compressed log files before compression (--compress).", nil, nil)
	descZOut = prometheus.NewDesc("s3mount_compress_output_bytes_total", "Bytes those publications stored after compression (--compress).", nil, nil)
)

// collectCompression adds the compression counters when the mount
// compresses.
func (c collector) collectCompression(ch chan<- prometheus.Metric) {
	z, ok := c.m.st.(compressionStats)
	if !ok {
		return
	}
	raw, comp := z.CompressionStats()
	ch <- prometheus.MustNewConstMetric(descZIn, prometheus.CounterValue, float64(raw))
	ch <- prometheus.MustNewConstMetric(descZOut, prometheus.CounterValue, float64(comp))
}
