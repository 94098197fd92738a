package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/shoalmq/shoal/actors"
	"github.com/shoalmq/shoal/actors/partition"
)

// partitionStat is one hosted partition as the HTTP side shows it.
type partitionStat struct {
	Topic         string
	Partition     int32
	LogStart      uint64
	LogEnd        uint64
	Bytes         uint64
	Produced      uint64 // records appended
	Fetched       uint64 // records returned to consumers
	BusyRejected  uint64 // produces refused with busy
	Failed        bool
	FailureReason string
}

// nodeView is what the HTTP endpoints read from the running node.
type nodeView interface {
	// NotReady says why the node is not ready (/readyz answers 503 with it), or "" when it is.
	NotReady() string
	Partitions() []partitionStat
	// Cluster is one line about the node's cluster for the status page ("" when standalone).
	Cluster() string
	// ClusterMetrics returns the cluster's figures, and false when the node is standalone.
	ClusterMetrics() (actors.ClusterMetrics, bool)
	// MoveThrottle returns the node's move budget and what its moves have left to send, and
	// false when the node is standalone.
	MoveThrottle() (partition.MoveThrottleStats, bool)
}

// movesPath serves the node's move figures as JSON (moveReport), for
// `shoal cluster rebalance --watch`, which sums them over the members.
const movesPath = "/moves"

// moveReport is the JSON of movesPath.
type moveReport struct {
	// RateLimit: --move-rate in bytes per second (0: unlimited).
	RateLimit int64 `json:"rate_limit_bytes"`
	// SentBytes: bytes this node's leaders sent to replicas catching up, since it started.
	SentBytes uint64 `json:"sent_bytes"`
	// HeldBytes: bytes of appends held back by the rate limit (resent later).
	HeldBytes uint64 `json:"held_bytes"`
	// BytesLeft estimates what the moves this node leads still have to send.
	BytesLeft int64 `json:"bytes_left"`
}

// httpServer serves /healthz, /readyz, /metrics and the status page.
type httpServer struct {
	srv      *http.Server
	listener net.Listener
	done     chan struct{}
}

// startHTTP binds addr and serves in the background.
func startHTTP(addr, nodeID string, view nodeView, fsyncSeconds prometheus.Histogram, log *slog.Logger) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on --http-addr %s: %w (is another node using it? pick another port)", addr, err)
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&partitionCollector{view: view}, &clusterCollector{view: view}, fsyncSeconds)
	mux := http.NewServeMux()
	// Go's profiler, for "where does the CPU go" under load (go tool pprof
	// http://HTTP-ADDR/debug/pprof/profile?seconds=10). The HTTP address is 127.0.0.1 by default.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if why := view.NotReady(); why != "" {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET "+movesPath, func(w http.ResponseWriter, _ *http.Request) {
		st, ok := view.MoveThrottle()
		if !ok {
			http.Error(w, "a standalone node moves no replicas", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(moveReport{RateLimit: st.RateBytes, SentBytes: st.GrantedBytes, HeldBytes: st.HeldBytes, BytesLeft: st.BytesLeft})
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := statusPage.Execute(w, statusData{NodeID: nodeID, Ready: view.NotReady() == "", Cluster: view.Cluster(), Partitions: view.Partitions()}); err != nil {
			log.Warn("status page", "err", err)
		}
	})
	h := &httpServer{
		srv:      &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
		listener: ln,
		done:     make(chan struct{}),
	}
	go func() {
		defer close(h.done)
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	return h, nil
}

// Addr is the bound address.
func (h *httpServer) Addr() string { return h.listener.Addr().String() }

// Shutdown stops the server and waits for its goroutine.
func (h *httpServer) Shutdown(ctx context.Context) error {
	err := h.srv.Shutdown(ctx)
	<-h.done
	return err
}

// partitionCollector turns the node's partition stats into Prometheus metrics at scrape time.
type partitionCollector struct{ view nodeView }

var (
	labels       = []string{"topic", "partition"}
	descLogEnd   = prometheus.NewDesc("shoal_partition_log_end_offset", "Offset the next record of the partition gets.", labels, nil)
	descLogStart = prometheus.NewDesc("shoal_partition_log_start_offset", "First offset the partition holds.", labels, nil)
	descBytes    = prometheus.NewDesc("shoal_partition_bytes", "Bytes of the partition's segment files.", labels, nil)
	descProduced = prometheus.NewDesc("shoal_partition_produced_records_total", "Records appended to the partition.", labels, nil)
	descFetched  = prometheus.NewDesc("shoal_partition_fetched_records_total", "Records fetched from the partition.", labels, nil)
	descBusy     = prometheus.NewDesc("shoal_partition_busy_rejections_total", "Produces refused because the partition had too many bytes in flight.", labels, nil)
	descFailed   = prometheus.NewDesc("shoal_partition_failed", "1 when the partition stopped after an error.", labels, nil)
)

func (c *partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLogEnd, descLogStart, descBytes, descProduced, descFetched, descBusy, descFailed} {
		ch <- d
	}
}

func (c *partitionCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.view.Partitions() {
		l := []string{p.Topic, fmt.Sprint(p.Partition)}
		failed := 0.0
		if p.Failed {
			failed = 1
		}
		ch <- prometheus.MustNewConstMetric(descLogEnd, prometheus.GaugeValue, float64(p.LogEnd), l...)
		ch <- prometheus.MustNewConstMetric(descLogStart, prometheus.GaugeValue, float64(p.LogStart), l...)
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(p.Bytes), l...)
		ch <- prometheus.MustNewConstMetric(descProduced, prometheus.CounterValue, float64(p.Produced), l...)
		ch <- prometheus.MustNewConstMetric(descFetched, prometheus.CounterValue, float64(p.Fetched), l...)
		ch <- prometheus.MustNewConstMetric(descBusy, prometheus.CounterValue, float64(p.BusyRejected), l...)
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.GaugeValue, failed, l...)
	}
}

// clusterCollector reports the cluster's health and replica moves as this node sees them.
type clusterCollector struct{ view nodeView }

var (
	descUnderReplicated = prometheus.NewDesc("shoal_cluster_under_replicated_partitions", "Partitions with fewer in-sync replicas than their replication factor.", nil, nil)
	descLeaderless      = prometheus.NewDesc("shoal_cluster_leaderless_partitions", "Partitions without a live leader.", nil, nil)
	descMovesInProgress = prometheus.NewDesc("shoal_cluster_moves_in_progress", "Replica moves under way (rebalancing, drains).", nil, nil)
	descMovesQueued     = prometheus.NewDesc("shoal_cluster_moves_queued", "Replica moves waiting for others to finish.", nil, nil)
	descMovesStarted    = prometheus.NewDesc("shoal_cluster_moves_started_total", "Replica moves this node's leaders started.", nil, nil)
	descMovesFinished   = prometheus.NewDesc("shoal_cluster_moves_finished_total", "Replica moves this node's leaders finished.", nil, nil)
	descMovesCancelled  = prometheus.NewDesc("shoal_cluster_moves_cancelled_total", "Replica moves stopped short of their target (no longer wanted).", nil, nil)
	descMovedBytes      = prometheus.NewDesc("shoal_cluster_moved_bytes_total", "Log bytes this node's leaders sent to new replicas.", nil, nil)
	descMoveRate        = prometheus.NewDesc("shoal_cluster_move_rate_limit_bytes", "Bytes per second this node's leaders may send to replicas catching up (--move-rate; 0: unlimited).", nil, nil)
	descMoveHeld        = prometheus.NewDesc("shoal_cluster_move_held_bytes_total", "Bytes of appends to replicas catching up held back by --move-rate (the replication core resends them).", nil, nil)
	descMoveResent      = prometheus.NewDesc("shoal_cluster_move_resent_bytes_total", "Bytes sent again to replicas catching up (lost or held-back appends, a move restarted by a new leader).", nil, nil)
	descMoveBytesLeft   = prometheus.NewDesc("shoal_cluster_move_bytes_left", "Estimated bytes the moves this node leads still have to send.", nil, nil)
)

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUnderReplicated, descLeaderless, descMovesInProgress, descMovesQueued,
		descMovesStarted, descMovesFinished, descMovesCancelled, descMovedBytes, descMoveRate, descMoveHeld, descMoveResent, descMoveBytesLeft} {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	m, ok := c.view.ClusterMetrics()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(descUnderReplicated, prometheus.GaugeValue, float64(m.UnderReplicated))
	ch <- prometheus.MustNewConstMetric(descLeaderless, prometheus.GaugeValue, float64(m.Leaderless))
	ch <- prometheus.MustNewConstMetric(descMovesInProgress, prometheus.GaugeValue, float64(m.MovesInProgress))
	ch <- prometheus.MustNewConstMetric(descMovesQueued, prometheus.GaugeValue, float64(m.MovesQueued))
	ch <- prometheus.MustNewConstMetric(descMovesStarted, prometheus.CounterValue, float64(m.MovesStarted))
	ch <- prometheus.MustNewConstMetric(descMovesFinished, prometheus.CounterValue, float64(m.MovesFinished))
	ch <- prometheus.MustNewConstMetric(descMovesCancelled, prometheus.CounterValue, float64(m.MovesCancelled))
	ch <- prometheus.MustNewConstMetric(descMovedBytes, prometheus.CounterValue, float64(m.MovedBytes))
	if t, ok := c.view.MoveThrottle(); ok {
		ch <- prometheus.MustNewConstMetric(descMoveRate, prometheus.GaugeValue, float64(t.RateBytes))
		ch <- prometheus.MustNewConstMetric(descMoveHeld, prometheus.CounterValue, float64(t.HeldBytes))
		ch <- prometheus.MustNewConstMetric(descMoveResent, prometheus.CounterValue, float64(t.ResentBytes))
		ch <- prometheus.MustNewConstMetric(descMoveBytesLeft, prometheus.GaugeValue, float64(t.BytesLeft))
	}
}

// newFsyncHistogram is the fsync latency histogram that storage reports into.
func newFsyncHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "shoal_fsync_seconds",
		Help:    "Latency of fsync (fdatasync) of partition segment files.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
}

type statusData struct {
	NodeID     string
	Ready      bool
	Cluster    string
	Partitions []partitionStat
}

var statusPage = template.Must(template.New("status").Parse(`<!doctype html>
<html><head><title>shoal {{.NodeID}}</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:.2em .8em;text-align:right}th{background:#eee}td:first-child{text-align:left}</style>
</head><body>
<h1>shoal node {{.NodeID}}</h1>
<p>{{if .Ready}}ready{{else}}not ready{{end}} · <a href="/metrics">metrics</a> · <a href="/healthz">healthz</a> · <a href="/readyz">readyz</a></p>
{{if .Cluster}}<p>{{.Cluster}}</p>{{end}}
<table><tr><th>topic</th><th>partition</th><th>log start</th><th>log end</th><th>bytes</th><th>produced</th><th>fetched</th><th>busy</th><th>state</th></tr>
{{range .Partitions}}<tr><td>{{.Topic}}</td><td>{{.Partition}}</td><td>{{.LogStart}}</td><td>{{.LogEnd}}</td><td>{{.Bytes}}</td><td>{{.Produced}}</td><td>{{.Fetched}}</td><td>{{.BusyRejected}}</td><td>{{if .Failed}}failed: {{.FailureReason}}{{else}}ok{{end}}</td></tr>
{{else}}<tr><td colspan="9">no partitions yet: produce to a topic to create one</td></tr>{{end}}
</table></body></html>
`))
