package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoalmq/shoal/actors"
	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/cluster"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/resp"
	respserver "github.com/shoalmq/shoal/protocol/resp/server"
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
	// RESPAddr is the Redis front's address ("" when off).
	RESPAddr string
	// GossipAddr and ClusterID are "" for a standalone node.
	GossipAddr string
	ClusterID  string
}

// serve runs a node until ctx is done. started, if not nil, is called once the node serves.
//
// The order matters: the broker listener and HTTP bind first (a :0 port is chosen now, and the
// membership advertises both addresses); a cluster node then joins (HTTP answers /readyz false
// meanwhile, the listener tells clients to retry) and keeps the cluster id in its data dir; the
// broker starts last. The stop runs the other way round, and the node leaves the cluster after
// its broker has stopped.
func serve(ctx context.Context, cfg serveConfig, stdout, stderr io.Writer, started func(servingNode)) error {
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	nodeID, unlock, err := openDataDir(cfg.DataDir, cfg.NodeID)
	if err != nil {
		return err
	}
	defer unlock.Close()
	storedClusterID, err := dataDirClusterID(cfg)
	if err != nil {
		return err
	}
	fsync := newFsyncHistogram()
	state := &nodeState{nodeID: nodeID, clustered: cfg.Cluster != nil}
	server, err := transport.Listen(transport.ServerConfig{Addr: cfg.BrokerAddr, NodeID: nodeID, Logger: log, Handler: &brokerHandler{state}})
	if err != nil {
		return err
	}
	web, err := startHTTP(cfg.HTTPAddr, nodeID, state, fsync, log)
	if err != nil {
		shutdownServer(server, cfg.ShutdownTimeout, log)
		return err
	}
	stopWeb := func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = web.Shutdown(shutdownCtx)
	}
	node := servingNode{NodeID: nodeID, BrokerAddr: server.Addr(), HTTPAddr: web.Addr()}
	acfg := actorsConfig(cfg, nodeID, log, func(d time.Duration) { fsync.Observe(d.Seconds()) })
	acfg.BrokerAddr = server.Addr()
	if cfg.Cluster != nil {
		m, bootstrap, err := joinCluster(ctx, *cfg.Cluster, node, cfg.DataDir, storedClusterID, log)
		if err != nil {
			shutdownServer(server, cfg.ShutdownTimeout, log)
			stopWeb()
			if ctx.Err() != nil {
				log.Info("stopped before joining the cluster", "node_id", nodeID)
				return nil
			}
			return err
		}
		state.membership.Store(m)
		node.GossipAddr, node.ClusterID = m.GossipAddr(), m.ClusterID()
		acfg.Cluster = actorsClusterConfig(*cfg.Cluster, m, bootstrap)
	}
	b, err := actors.Start(acfg)
	if err != nil {
		shutdownServer(server, cfg.ShutdownTimeout, log)
		leaveCluster(state.membership.Load(), leaveTimeout(cfg), log)
		stopWeb()
		return fmt.Errorf("start broker: %w", err)
	}
	state.broker.Store(b)
	var front *respserver.Server
	if cfg.RESPAddr != "" {
		if front, node.RESPAddr, err = startRESP(cfg, b, log); err != nil {
			shutdownServer(server, cfg.ShutdownTimeout, log)
			_ = stopBroker(b, cfg.ShutdownTimeout, log)
			leaveCluster(state.membership.Load(), leaveTimeout(cfg), log)
			stopWeb()
			return err
		}
	}
	printBanner(stdout, node, cfg)
	log.Info("node serving", servingAttrs(node, cfg)...)
	if started != nil {
		started(node)
	}
	<-ctx.Done()
	if cfg.Cluster != nil {
		// Leaderships first, while peers can still reach this node: producers see a handover,
		// not a failover.
		handCtx, cancel := context.WithTimeout(context.Background(), leaveTimeout(cfg))
		left := b.HandOver(handCtx)
		cancel()
		log.Info("leaderships handed over", "left", left)
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", cfg.ShutdownTimeout)
	if front != nil {
		closeCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		if err := front.Close(closeCtx); err != nil {
			log.Warn("redis front shutdown", "err", err)
		}
		cancel()
	}
	shutdownServer(server, cfg.ShutdownTimeout, log)
	err = stopBroker(b, cfg.ShutdownTimeout, log)
	leaveCluster(state.membership.Load(), leaveTimeout(cfg), log)
	stopWeb()
	log.Info("stopped", "node_id", nodeID)
	return err
}

// dataDirClusterID returns the cluster id kept in the data dir ("" if none), and refuses to run
// a cluster's data dir as a standalone node, which would serve a stale copy of its partitions.
func dataDirClusterID(cfg serveConfig) (string, error) {
	id, err := readClusterID(cfg.DataDir)
	if err == nil && cfg.Cluster == nil && id != "" {
		err = fmt.Errorf("data dir %s belongs to cluster %s: start this node with --gossip-addr (and --join a running node of that cluster), or give another --data-dir",
			cfg.DataDir, id)
	}
	return id, err
}

func servingAttrs(node servingNode, cfg serveConfig) []any {
	attrs := []any{"node_id", node.NodeID, "broker_addr", node.BrokerAddr, "http_addr", node.HTTPAddr,
		"data_dir", cfg.DataDir, "fsync", cfg.Fsync.String()}
	if node.GossipAddr != "" {
		attrs = append(attrs, "gossip_addr", node.GossipAddr, "cluster_id", node.ClusterID)
	}
	return attrs
}

// joinCluster starts the node's gossip membership and waits until it has joined: at once for a
// node given no seeds, after a seed answered for the others. It keeps the cluster's id in the
// data dir. A refusal (another cluster's data dir, a duplicate node id, protocol versions that
// do not overlap) is an error wrapping cluster.ErrRefused; ctx ending first returns ctx.Err().
//
// bootstrap is true for the first start of a node given no seeds (no cluster id in its data
// dir yet): it makes the cluster id and the catalog (__meta) with itself as its only voter,
// which the catalog's log records as its first config entry. Later starts read the replica set
// from that log, so a node restarted without --join never leads a catalog of its own.
func joinCluster(ctx context.Context, cc clusterFlags, node servingNode, dataDir, storedID string, log *slog.Logger) (*cluster.Membership, bool, error) {
	clusterID, bootstrap := storedID, len(cc.Join) == 0 && storedID == ""
	if bootstrap {
		id, err := newClusterID()
		if err != nil {
			return nil, false, err
		}
		clusterID = id
	}
	m, err := cluster.Start(cluster.Config{
		NodeID: node.NodeID, ClusterID: clusterID, GossipAddr: cc.GossipAddr,
		BrokerAddr: node.BrokerAddr, HTTPAddr: node.HTTPAddr, Join: cc.Join, Profile: cc.Profile,
		ProtocolMin: protocol.VersionMin, ProtocolMax: protocol.VersionMax, Logger: log,
	})
	if err != nil {
		return nil, false, fmt.Errorf("cannot start gossip on --gossip-addr %s: %w", cc.GossipAddr, err)
	}
	shownID := clusterID
	if shownID == "" {
		shownID = "(adopted from the seeds on joining)"
	}
	log.Info("cluster membership started", "cluster_id", shownID, "gossip_addr", m.GossipAddr(),
		"seeds", strings.Join(cc.Join, ","), "profile", cc.Profile, "bootstrap", bootstrap)
	if err := m.WaitJoined(ctx); err != nil {
		_ = m.Shutdown()
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, false, fmt.Errorf("cannot join the cluster: %w", err)
	}
	if joined := m.ClusterID(); joined != storedID {
		if err := writeClusterID(dataDir, joined); err != nil {
			_ = m.Shutdown()
			return nil, false, err
		}
	}
	log.Info("joined the cluster", "cluster_id", m.ClusterID(), "members", len(m.Members()))
	return m, bootstrap, nil
}

// leaveTimeout bounds the broadcasts of a graceful leave: about twice what gossip takes to reach
// every member under the profile, and never more than --shutdown-timeout.
func leaveTimeout(cfg serveConfig) time.Duration {
	timeout := 10 * time.Second
	if cfg.Cluster != nil && cfg.Cluster.Profile == cluster.ProfileLocal {
		timeout = 2 * time.Second
	}
	return min(timeout, cfg.ShutdownTimeout)
}

// Replication timing per gossip profile: the replication cores tick every TickInterval, a
// leader heartbeats every HeartbeatTicks and a silent leader is replaced after ElectionTicks.
var profileTiming = map[string]struct {
	tick                      time.Duration
	heartbeatTicks, elections int
}{
	cluster.ProfileLAN:   {100 * time.Millisecond, 2, 20},
	cluster.ProfileLocal: {actors.DefaultTickInterval, actors.DefaultHeartbeatTicks, actors.DefaultElectionTicks},
}

func actorsClusterConfig(cc clusterFlags, m *cluster.Membership, bootstrap bool) *actors.ClusterConfig {
	timing := profileTiming[cc.Profile]
	return &actors.ClusterConfig{
		Membership: m, Bootstrap: bootstrap, DeadGrace: cc.DeadGrace, MoveRate: cc.MoveRate,
		TickInterval: timing.tick, HeartbeatTicks: timing.heartbeatTicks, ElectionTicks: timing.elections,
	}
}

// leaveCluster leaves gracefully, so the others see this node as left rather than dead. m may
// be nil (a standalone node).
func leaveCluster(m *cluster.Membership, timeout time.Duration, log *slog.Logger) {
	if m == nil {
		return
	}
	if err := m.Leave(timeout); err != nil {
		log.Warn("leaving the cluster", "err", err)
	}
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
	if node.RESPAddr != "" {
		host, port, _ := net.SplitHostPort(node.RESPAddr)
		fmt.Fprintf(w, "  redis   %s  (redis-cli -h %s -p %s)\n", node.RESPAddr, host, port)
	}
	if node.GossipAddr != "" {
		fmt.Fprintf(w, "  gossip  %s  (cluster %s)\n", node.GossipAddr, node.ClusterID)
	}
	fmt.Fprintf(w, "produce and consume from another shell:\n")
	fmt.Fprintf(w, "  printf 'hello\\nworld\\n' | go run ./cmd/shoal produce%s --topic demo\n", brokers)
	fmt.Fprintf(w, "  go run ./cmd/shoal consume%s --topic demo --from earliest --exit-at-end\n", brokers)
	if node.GossipAddr != "" {
		fmt.Fprintf(w, "  go run ./cmd/shoal cluster status%s\n", brokers)
	}
	fmt.Fprintf(w, "stop with Ctrl-C\n")
}

// nodeState is the parts of a node that come up one after the other: the membership (a cluster
// node, once joined) and then the broker. The broker handler and the HTTP side read it.
type nodeState struct {
	nodeID     string
	clustered  bool
	membership atomic.Pointer[cluster.Membership]
	broker     atomic.Pointer[actors.Broker]
}

// NotReady says why the node is not ready to serve, or "" when it is.
func (s *nodeState) NotReady() string {
	if s.clustered && s.membership.Load() == nil {
		return "not ready: joining the cluster"
	}
	if b := s.broker.Load(); b == nil || !b.Ready() {
		return "not ready: partitions are still opening"
	}
	return ""
}

// Partitions returns the stats of the partitions this node hosts (none before the broker).
func (s *nodeState) Partitions() []partitionStat {
	b := s.broker.Load()
	if b == nil {
		return nil
	}
	stats := b.Stats()
	out := make([]partitionStat, len(stats))
	for i, st := range stats {
		out[i] = fromPartitionStats(st)
	}
	return out
}

// ClusterMetrics returns the cluster's figures; false standalone or before the broker runs.
func (s *nodeState) ClusterMetrics() (actors.ClusterMetrics, bool) {
	b := s.broker.Load()
	if b == nil || !s.clustered {
		return actors.ClusterMetrics{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return b.ClusterMetrics(ctx), true
}

// MoveThrottle returns the node's move budget and bytes left; false standalone or before the
// broker runs.
func (s *nodeState) MoveThrottle() (partition.MoveThrottleStats, bool) {
	b := s.broker.Load()
	if b == nil || !s.clustered {
		return partition.MoveThrottleStats{}, false
	}
	return b.MoveThrottle()
}

// Cluster describes the node's cluster for the status page ("" for a standalone node).
func (s *nodeState) Cluster() string {
	m := s.membership.Load()
	if m == nil {
		if s.clustered {
			return "joining a cluster"
		}
		return ""
	}
	members := m.Members()
	names := make([]string, len(members))
	for i, member := range members {
		names[i] = member.ID + " (" + member.State.String() + ")"
	}
	return fmt.Sprintf("cluster %s, gossip on %s, members: %s", m.ClusterID(), m.GossipAddr(), strings.Join(names, ", "))
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
type brokerHandler struct{ state *nodeState }

func (h *brokerHandler) starting() error {
	return protocol.Errorf(protocol.ErrBusy, "node %s is starting", h.state.nodeID)
}

func (h *brokerHandler) Handle(ctx context.Context, req transport.Request) (any, error) {
	b := h.state.broker.Load()
	if b == nil {
		return nil, h.starting()
	}
	return b.Handle(ctx, req.Type, req.Body)
}

func (h *brokerHandler) Admit(ctx context.Context, req transport.Request) func(context.Context) (any, error) {
	b := h.state.broker.Load()
	if b == nil {
		return func(context.Context) (any, error) { return nil, h.starting() }
	}
	return b.Admit(ctx, req.Type, req.Body)
}

// startRESP listens on --resp-addr and serves Redis clients with the broker's stream commands.
func startRESP(cfg serveConfig, b *actors.Broker, log *slog.Logger) (*respserver.Server, string, error) {
	ln, err := net.Listen("tcp", cfg.RESPAddr)
	if err != nil {
		return nil, "", fmt.Errorf("listen on --resp-addr %s: %w (is a Redis server or another node using it? give another port)", cfg.RESPAddr, err)
	}
	front := respserver.New(respserver.Config{Password: cfg.RESPPassword}, redisBackend{b})
	go func() {
		if err := front.Serve(ln); err != nil && !errors.Is(err, respserver.ErrClosed) && !errors.Is(err, net.ErrClosed) {
			log.Error("redis front stopped", "err", err)
		}
	}()
	log.Info("redis front listening", "resp_addr", ln.Addr().String(), "auth", cfg.RESPPassword != "")
	return front, ln.Addr().String(), nil
}

// redisBackend runs the Redis front's commands on the broker, one session per connection (the
// session batches a pipeline's XADDs to one stream into one log append).
type redisBackend struct{ b *actors.Broker }

func (r redisBackend) session(c *respserver.Client) *actors.RedisSession {
	s, ok := c.Data().(*actors.RedisSession)
	if !ok {
		s = r.b.NewRedisSession()
		c.SetData(s)
	}
	return s
}

// Submit runs one command (on the connection's goroutine, in arrival order).
func (r redisBackend) Submit(ctx context.Context, c *respserver.Client, cmd resp.Command, args [][]byte) func(context.Context) resp.Value {
	return r.session(c).Command(ctx, cmd, args, c.Protocol())
}

// EndPipeline sends the XADDs the session held back.
func (r redisBackend) EndPipeline(c *respserver.Client) { r.session(c).Flush() }
