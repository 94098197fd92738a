package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoalmq/shoal/actors"
	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/transport"
)

// runServe is `shoal serve`: one node serving the native protocol and HTTP until SIGINT or
// SIGTERM, then a graceful stop (stop accepting, finish in-flight requests, fsync, close).
func runServe(args []string, stdout, stderr io.Writer) int {
	cfg, code, ok := parseServeConfig(args, os.Getenv, stderr)
	if !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, stdout, stderr, nil); err != nil {
		fmt.Fprintf(stderr, "shoal serve: %v\n", err)
		return exitFail
	}
	return exitOK
}

// servingNode is a running node, for tests that start one in-process.
type servingNode struct {
	NodeID     string
	BrokerAddr string
	HTTPAddr   string
}

// serve runs a node until ctx is done. started, if not nil, is called once the node serves.
func serve(ctx context.Context, cfg serveConfig, stdout, stderr io.Writer, started func(servingNode)) error {
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	nodeID, unlock, err := openDataDir(cfg.DataDir, cfg.NodeID)
	if err != nil {
		return err
	}
	defer unlock.Close()
	fsync := newFsyncHistogram()
	// The listener comes first so that metadata names the address it bound (a :0 port is
	// chosen now); requests that arrive before the broker is up are told to retry.
	handler := &brokerHandler{nodeID: nodeID}
	server, err := transport.Listen(transport.ServerConfig{Addr: cfg.BrokerAddr, NodeID: nodeID, Logger: log, Handler: handler})
	if err != nil {
		return err
	}
	acfg := actorsConfig(cfg, nodeID, log, func(d time.Duration) { fsync.Observe(d.Seconds()) })
	acfg.BrokerAddr = server.Addr()
	b, err := actors.Start(acfg)
	if err != nil {
		shutdownServer(server, cfg.ShutdownTimeout, log)
		return fmt.Errorf("start broker: %w", err)
	}
	handler.broker.Store(b)
	web, err := startHTTP(cfg.HTTPAddr, nodeID, brokerView{b}, fsync, log)
	if err != nil {
		shutdownServer(server, cfg.ShutdownTimeout, log)
		stopBroker(b, cfg.ShutdownTimeout, log)
		return err
	}
	node := servingNode{NodeID: nodeID, BrokerAddr: server.Addr(), HTTPAddr: web.Addr()}
	printBanner(stdout, node, cfg)
	log.Info("node serving", "node_id", nodeID, "broker_addr", node.BrokerAddr, "http_addr", node.HTTPAddr,
		"data_dir", cfg.DataDir, "fsync", cfg.Fsync.String())
	if started != nil {
		started(node)
	}
	<-ctx.Done()
	log.Info("shutting down: finishing in-flight requests", "timeout", cfg.ShutdownTimeout)
	shutdownServer(server, cfg.ShutdownTimeout, log)
	err = stopBroker(b, cfg.ShutdownTimeout, log)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	_ = web.Shutdown(shutdownCtx)
	log.Info("stopped", "node_id", nodeID)
	return err
}

func actorsConfig(cfg serveConfig, nodeID string, log *slog.Logger, onFsync func(time.Duration)) actors.Config {
	c := actors.DefaultConfig()
	c.NodeID, c.DataDir, c.BrokerAddr = nodeID, cfg.DataDir, cfg.BrokerAddr
	c.Fsync, c.FsyncInterval, c.SegmentBytes = cfg.Fsync, cfg.FsyncInterval, cfg.SegmentBytes
	c.RetentionMs, c.RetentionBytes, c.MaxRecordBytes = cfg.RetentionMs, cfg.RetentionBytes, cfg.MaxRecordBytes
	c.AutoCreateTopics, c.DefaultPartitions = cfg.AutoCreateTopics, int32(cfg.DefaultPartitions)
	c.OnFsync, c.Logger = onFsync, log
	return c
}

func shutdownServer(server *transport.Server, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := server.Shutdown(ctx); err != nil {
		log.Warn("broker listener shutdown", "err", err)
	}
}

func stopBroker(broker *actors.Broker, timeout time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := broker.Stop(ctx); err != nil {
		log.Error("broker stop", "err", err)
		return fmt.Errorf("stop broker: %w", err)
	}
	return nil
}

func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func printBanner(w io.Writer, node servingNode, cfg serveConfig) {
	brokers := ""
	if node.BrokerAddr != defaultBrokerAddr {
		brokers = " --brokers " + node.BrokerAddr
	}
	fmt.Fprintf(w, "shoal node %s serving (data in %s, fsync %s)\n", node.NodeID, cfg.DataDir, cfg.Fsync)
	fmt.Fprintf(w, "  broker  %s\n", node.BrokerAddr)
	fmt.Fprintf(w, "  http    http://%s/  (metrics at /metrics)\n", node.HTTPAddr)
	fmt.Fprintf(w, "produce and consume from another shell:\n")
	fmt.Fprintf(w, "  printf 'hello\\nworld\\n' | go run ./cmd/shoal produce%s --topic demo\n", brokers)
	fmt.Fprintf(w, "  go run ./cmd/shoal consume%s --topic demo --from earliest --exit-at-end\n", brokers)
	fmt.Fprintf(w, "stop with Ctrl-C\n")
}

// brokerView adapts the broker's stats to the HTTP side.
type brokerView struct{ broker *actors.Broker }

func (v brokerView) Ready() bool { return v.broker.Ready() }

func (v brokerView) Partitions() []partitionStat {
	stats := v.broker.Stats()
	out := make([]partitionStat, len(stats))
	for i, s := range stats {
		out[i] = fromPartitionStats(s)
	}
	return out
}

func fromPartitionStats(s partition.Stats) partitionStat {
	return partitionStat{
		Topic: s.Topic, Partition: s.Partition, LogStart: s.LogStart, LogEnd: s.LogEnd, Bytes: uint64(max(s.Bytes, 0)),
		Produced: s.ProducedRecords, Fetched: s.FetchedRecords, BusyRejected: s.BusyRejections,
		Failed: s.Failed, FailureReason: s.Failure,
	}
}

// brokerHandler serves the transport's requests with the broker once it has started; before,
// requests are told to retry. It admits requests in arrival order (transport.Admitter), so a
// client's pipelined batches for one partition are appended in the order it sent them.
type brokerHandler struct {
	nodeID string
	broker atomic.Pointer[actors.Broker]
}

func (h *brokerHandler) starting() error {
	return protocol.Errorf(protocol.ErrBusy, "node %s is starting", h.nodeID)
}

func (h *brokerHandler) Handle(ctx context.Context, req transport.Request) (any, error) {
	b := h.broker.Load()
	if b == nil {
		return nil, h.starting()
	}
	return b.Handle(ctx, req.Type, req.Body)
}

func (h *brokerHandler) Admit(ctx context.Context, req transport.Request) func(context.Context) (any, error) {
	b := h.broker.Load()
	if b == nil {
		return func(context.Context) (any, error) { return nil, h.starting() }
	}
	return b.Admit(ctx, req.Type, req.Body)
}
