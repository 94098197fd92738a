package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/shoalmq/shoal/actors"
	"github.com/shoalmq/shoal/cluster"
	"github.com/shoalmq/shoal/storage"
)

// Default addresses of a node started by `make run`; the client library's DefaultBroker matches.
const (
	defaultBrokerAddr = "127.0.0.1:7070"
	defaultHTTPAddr   = "127.0.0.1:7071"
	defaultDataDir    = "data/shoal"
)

// serveConfig is everything `shoal serve` is told, validated.
type serveConfig struct {
	NodeID     string
	DataDir    string
	BrokerAddr string
	HTTPAddr   string
	// RESPAddr is --resp-addr: where the Redis protocol front listens ("" off).
	RESPAddr string
	// RESPPassword is $SHOAL_RESP_PASSWORD: Redis AUTH for the front ("" none).
	RESPPassword      string
	Fsync             storage.Policy
	FsyncInterval     time.Duration
	SegmentBytes      int64
	RetentionMs       int64
	RetentionBytes    int64
	MaxRecordBytes    int
	AutoCreateTopics  bool
	DefaultPartitions int
	LogLevel          slog.Level
	LogFormat         string
	ShutdownTimeout   time.Duration

	// Cluster is nil for a standalone node (no --gossip-addr).
	Cluster *clusterFlags
}

// clusterFlags is the cluster part of serveConfig, validated.
type clusterFlags struct {
	GossipAddr string   // --gossip-addr, ip:port (port 0 picks one)
	Join       []string // --join, seed gossip addresses; empty for the first node of a cluster
	Profile    string   // cluster.ProfileLAN or cluster.ProfileLocal
	DeadGrace  time.Duration
	// MoveRate: --move-rate, bytes per second this node's leaders send to replicas catching up
	// (moves and RF restores); 0 unlimited.
	MoveRate int64
}

// defaultMoveRate is --move-rate's default: 64 MiB/s, about half of a 1 Gbit/s link (and a
// sixth of a 10 Gbit/s one), so moves leave clients most of the network and of a disk that
// also takes their writes; with the two-moves-per-node bound a 1 GB partition moves in 16 s.
const defaultMoveRate = 64 << 20

// serveFlags holds the raw flag values; validate turns them into a serveConfig.
type serveFlags struct {
	nodeID, dataDir, brokerAddr, httpAddr string
	respAddr                              string
	fsync, logLevel, logFormat            string
	fsyncInterval, shutdownTimeout        time.Duration
	segmentBytes, retentionMs, retention  int64
	maxRecordBytes, defaultPartitions     int
	autoCreate                            bool
	gossipAddr, join, gossipProfile       string
	deadGrace                             time.Duration
	moveRate                              int64
}

func defineServeFlags(fs *flag.FlagSet) *serveFlags {
	f := &serveFlags{}
	fs.StringVar(&f.nodeID, "node-id", "", "this node's id (kept in the data dir; generated on first start when empty)")
	fs.StringVar(&f.dataDir, "data-dir", defaultDataDir, "directory for the node's id, catalog and partition logs")
	fs.StringVar(&f.brokerAddr, "broker-addr", defaultBrokerAddr, "host:port for clients (native protocol)")
	fs.StringVar(&f.httpAddr, "http-addr", defaultHTTPAddr, "host:port for /healthz, /readyz, /metrics and the status page")
	fs.StringVar(&f.respAddr, "resp-addr", "", "host:port for Redis clients (redis-cli, go-redis: XADD, XREADGROUP, ...), e.g. 127.0.0.1:7379; empty: off. "+
		"A password for AUTH comes from $SHOAL_RESP_PASSWORD")
	fs.StringVar(&f.fsync, "fsync", "always", "durability: always (ack after fsync, group commit), interval or never")
	fs.DurationVar(&f.fsyncInterval, "fsync-interval", storage.DefaultFsyncInterval, "fsync period under --fsync interval")
	fs.Int64Var(&f.segmentBytes, "segment-bytes", storage.DefaultSegmentBytes, "roll a partition's segment file at this size")
	fs.Int64Var(&f.retentionMs, "retention-ms", 0, "default retention by age for new topics (0: keep forever)")
	fs.Int64Var(&f.retention, "retention-bytes", 0, "default retention by size per partition for new topics (0: no limit)")
	fs.IntVar(&f.maxRecordBytes, "max-record-bytes", storage.DefaultMaxRecordBytes, "largest record (key, value and headers) accepted")
	fs.BoolVar(&f.autoCreate, "auto-create-topics", true, "create a topic on its first produce")
	fs.IntVar(&f.defaultPartitions, "default-partitions", 1, "partitions of an auto-created topic")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long SIGTERM waits for in-flight requests")
	fs.StringVar(&f.gossipAddr, "gossip-addr", "", "ip:port for gossip (UDP and TCP) with the other nodes; empty runs a standalone node")
	fs.StringVar(&f.join, "join", "", "comma-separated gossip addresses of running nodes to join (needs --gossip-addr; none: start a new cluster)")
	fs.StringVar(&f.gossipProfile, "gossip-profile", cluster.ProfileLAN, "failure detection: lan (a few seconds) or local (fast, one host and tests)")
	fs.DurationVar(&f.deadGrace, "dead-grace", actors.DefaultDeadGrace, "how long a node must stay dead before its replicas are replaced elsewhere")
	fs.Int64Var(&f.moveRate, "move-rate", defaultMoveRate, "bytes per second this node's leaders send to replicas catching up (moves, RF restores); 0: unlimited")
	return f
}

// envName is the environment variable of a flag: --fsync-interval is SHOAL_FSYNC_INTERVAL.
func envName(flagName string) string {
	return "SHOAL_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets every flag that has an environment variable; flags given on the command line are
// parsed after this, so they win. It returns one error per bad value.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) []error {
	var errs []error
	fs.VisitAll(func(fl *flag.Flag) {
		value := getenv(envName(fl.Name))
		if value == "" {
			return
		}
		if err := fs.Set(fl.Name, value); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %v", envName(fl.Name), value, err))
			_ = fs.Set(fl.Name, fl.DefValue) // a failed Set may leave a zero: report the env only
		}
	})
	return errs
}

// validate checks every value and returns the config, or one error per bad value.
func (f *serveFlags) validate() (serveConfig, []error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	cfg := serveConfig{
		NodeID: f.nodeID, DataDir: f.dataDir, BrokerAddr: f.brokerAddr, HTTPAddr: f.httpAddr, RESPAddr: f.respAddr,
		FsyncInterval: f.fsyncInterval, SegmentBytes: f.segmentBytes, RetentionMs: f.retentionMs,
		RetentionBytes: f.retention, MaxRecordBytes: f.maxRecordBytes, AutoCreateTopics: f.autoCreate,
		DefaultPartitions: f.defaultPartitions, LogFormat: f.logFormat, ShutdownTimeout: f.shutdownTimeout,
	}
	var err error
	if cfg.Fsync, err = storage.ParsePolicy(f.fsync); err != nil {
		bad("--fsync %q: use always, interval or never", f.fsync)
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(f.logLevel)); err != nil {
		bad("--log-level %q: use debug, info, warn or error", f.logLevel)
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		bad("--log-format %q: use text or json", f.logFormat)
	}
	if f.nodeID != "" && !validNodeID(f.nodeID) {
		bad("--node-id %q: use 1 to 64 letters, digits, '.', '_' or '-'", f.nodeID)
	}
	if f.dataDir == "" {
		bad("--data-dir is empty: give a directory for the node's data")
	}
	for _, a := range []struct{ flag, value string }{{"--broker-addr", f.brokerAddr}, {"--http-addr", f.httpAddr}} {
		if _, _, err := net.SplitHostPort(a.value); err != nil {
			bad("%s %q: want host:port, e.g. 127.0.0.1:7070 (%v)", a.flag, a.value, err)
		}
	}
	if f.respAddr != "" {
		if _, _, err := net.SplitHostPort(f.respAddr); err != nil {
			bad("--resp-addr %q: want host:port, e.g. 127.0.0.1:7379 (%v), or leave it out", f.respAddr, err)
		} else if !strings.HasSuffix(f.respAddr, ":0") && (f.respAddr == f.brokerAddr || f.respAddr == f.httpAddr) {
			bad("--resp-addr %q is also the broker or HTTP address: give it its own port", f.respAddr)
		}
	}
	if f.brokerAddr == f.httpAddr && !strings.HasSuffix(f.brokerAddr, ":0") {
		bad("--broker-addr and --http-addr are both %q: give them different ports", f.brokerAddr)
	}
	if f.fsyncInterval <= 0 {
		bad("--fsync-interval %v: must be positive", f.fsyncInterval)
	}
	if f.segmentBytes < 1<<20 || f.segmentBytes > 1<<31 {
		bad("--segment-bytes %d: use 1 MiB to 2 GiB", f.segmentBytes)
	}
	if f.retentionMs < 0 || f.retention < 0 {
		bad("--retention-ms %d / --retention-bytes %d: must not be negative", f.retentionMs, f.retention)
	}
	if f.maxRecordBytes < 1 || f.maxRecordBytes > 16<<20 {
		bad("--max-record-bytes %d: use 1 to 16 MiB", f.maxRecordBytes)
	}
	if f.defaultPartitions < 1 || f.defaultPartitions > 10000 {
		bad("--default-partitions %d: use 1 to 10000", f.defaultPartitions)
	}
	if f.shutdownTimeout <= 0 {
		bad("--shutdown-timeout %v: must be positive", f.shutdownTimeout)
	}
	cfg.Cluster, errs = f.validateCluster(errs)
	return cfg, errs
}

// validateCluster checks the cluster flags, appending one error per bad value to errs. It
// returns nil flags for a standalone node.
func (f *serveFlags) validateCluster(errs []error) (*clusterFlags, []error) {
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	seeds := splitList(f.join)
	if f.gossipProfile != cluster.ProfileLAN && f.gossipProfile != cluster.ProfileLocal {
		bad("--gossip-profile %q: use lan or local", f.gossipProfile)
	}
	if f.deadGrace <= 0 {
		bad("--dead-grace %v: must be positive (e.g. 5s)", f.deadGrace)
	}
	if f.moveRate < 0 {
		bad("--move-rate %d: must be 0 (unlimited) or a rate in bytes per second (e.g. %d)", f.moveRate, defaultMoveRate)
	}
	if f.gossipAddr == "" {
		if len(seeds) > 0 {
			bad("--join %q needs --gossip-addr: give this node's own gossip address too, e.g. --gossip-addr 127.0.0.1:7946", f.join)
		}
		return nil, errs
	}
	if why := gossipAddrProblem(f.gossipAddr); why != "" {
		bad("--gossip-addr %q: %s", f.gossipAddr, why)
	} else if !strings.HasSuffix(f.gossipAddr, ":0") && (f.gossipAddr == f.brokerAddr || f.gossipAddr == f.httpAddr) {
		bad("--gossip-addr %q is also the broker or HTTP address: give it a port of its own", f.gossipAddr)
	}
	for _, seed := range seeds {
		if _, port, err := net.SplitHostPort(seed); err != nil || port == "0" || !isPort(port) {
			bad("--join %q: want host:port of a running node's --gossip-addr, e.g. 10.0.0.5:7946", seed)
		}
	}
	if host, _, err := net.SplitHostPort(f.brokerAddr); err == nil && unspecifiedHost(host) {
		bad("--broker-addr %q: the other nodes dial this address, so give one they can reach (e.g. 10.0.0.5:7070), not an unspecified host", f.brokerAddr)
	}
	return &clusterFlags{GossipAddr: f.gossipAddr, Join: seeds, Profile: f.gossipProfile, DeadGrace: f.deadGrace, MoveRate: f.moveRate}, errs
}

// gossipAddrProblem says why addr cannot be bound by memberlist (an IP and a port), or "".
func gossipAddrProblem(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	switch {
	case err != nil:
		return fmt.Sprintf("want ip:port, e.g. 127.0.0.1:7946 (%v)", err)
	case !isPort(port):
		return fmt.Sprintf("port %q: use a number from 0 to 65535", port)
	case host != "" && net.ParseIP(host) == nil:
		return fmt.Sprintf("host %q: gossip binds an IP address, e.g. 10.0.0.5:7946 or 127.0.0.1:0", host)
	}
	return ""
}

func isPort(s string) bool {
	n, err := strconv.ParseUint(s, 10, 16)
	return err == nil && n <= 65535
}

func unspecifiedHost(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}

// splitList splits a comma-separated flag value, dropping spaces and empty items.
func splitList(value string) []string {
	var items []string
	for _, item := range strings.Split(value, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

func validNodeID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// parseServeConfig parses flags over environment variables and validates; ok false means exit
// with code (usage errors are printed to stderr, one line per bad value).
func parseServeConfig(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, int, bool) {
	fs := newFlagSet("serve", "serve [flags]   (every flag is also SHOAL_<FLAG>, e.g. SHOAL_DATA_DIR)", stderr)
	f := defineServeFlags(fs)
	envErrs := applyEnv(fs, getenv)
	if code, ok := parseFlags(fs, args); !ok {
		return serveConfig{}, code, false
	}
	cfg, errs := f.validate()
	cfg.RESPPassword = getenv("SHOAL_RESP_PASSWORD") // a secret: not a flag, so not in ps
	if errs = append(envErrs, errs...); len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintf(stderr, "shoal serve: %v\n", err)
		}
		return serveConfig{}, exitUsage, false
	}
	return cfg, exitOK, true
}
