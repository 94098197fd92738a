package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

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
	NodeID            string
	DataDir           string
	BrokerAddr        string
	HTTPAddr          string
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
}

// serveFlags holds the raw flag values; validate turns them into a serveConfig.
type serveFlags struct {
	nodeID, dataDir, brokerAddr, httpAddr string
	fsync, logLevel, logFormat            string
	fsyncInterval, shutdownTimeout        time.Duration
	segmentBytes, retentionMs, retention  int64
	maxRecordBytes, defaultPartitions     int
	autoCreate                            bool
}

func defineServeFlags(fs *flag.FlagSet) *serveFlags {
	f := &serveFlags{}
	fs.StringVar(&f.nodeID, "node-id", "", "this node's id (kept in the data dir; generated on first start when empty)")
	fs.StringVar(&f.dataDir, "data-dir", defaultDataDir, "directory for the node's id, catalog and partition logs")
	fs.StringVar(&f.brokerAddr, "broker-addr", defaultBrokerAddr, "host:port for clients (native protocol)")
	fs.StringVar(&f.httpAddr, "http-addr", defaultHTTPAddr, "host:port for /healthz, /readyz, /metrics and the status page")
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
		NodeID: f.nodeID, DataDir: f.dataDir, BrokerAddr: f.brokerAddr, HTTPAddr: f.httpAddr,
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
	return cfg, errs
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
	if errs = append(envErrs, errs...); len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintf(stderr, "shoal serve: %v\n", err)
		}
		return serveConfig{}, exitUsage, false
	}
	return cfg, exitOK, true
}
