package main

// Method: parseServeConfig and openDataDir are driven with tables of flags, environment
// variables and data-dir states; each case checks the exit code and the exact messages.

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoalmq/shoal/actors"
	"github.com/shoalmq/shoal/storage"
)

func envOf(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestServeConfigDefaultsFlagsAndEnv(t *testing.T) {
	var stderr strings.Builder
	cfg, code, ok := parseServeConfig(
		[]string{"--fsync", "interval", "--node-id", "n7"},
		envOf(map[string]string{"SHOAL_FSYNC": "never", "SHOAL_DATA_DIR": "/tmp/x", "SHOAL_FSYNC_INTERVAL": "250ms"}),
		&stderr)
	if !ok || code != exitOK {
		t.Fatalf("parse: code %d, stderr %q", code, stderr.String())
	}
	if cfg.Fsync != storage.FsyncInterval { // the flag wins over SHOAL_FSYNC
		t.Errorf("fsync %v, want interval (flag over env)", cfg.Fsync)
	}
	if cfg.DataDir != "/tmp/x" || cfg.FsyncInterval != 250*time.Millisecond || cfg.NodeID != "n7" {
		t.Errorf("env not applied: %+v", cfg)
	}
	if cfg.BrokerAddr != defaultBrokerAddr || !cfg.AutoCreateTopics || cfg.DefaultPartitions != 1 {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestServeConfigReportsEveryBadValue(t *testing.T) {
	var stderr strings.Builder
	_, code, ok := parseServeConfig(
		[]string{"--fsync", "sometimes", "--log-format", "xml", "--default-partitions", "0", "--broker-addr", "nohost"},
		envOf(map[string]string{"SHOAL_SEGMENT_BYTES": "lots"}), &stderr)
	if ok || code != exitUsage {
		t.Fatalf("code %d ok %v, want exit 2", code, ok)
	}
	out := stderr.String()
	for _, want := range []string{`--fsync "sometimes"`, `--log-format "xml"`, "--default-partitions 0", `--broker-addr "nohost"`, `SHOAL_SEGMENT_BYTES="lots"`} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "shoal serve: "); n != 5 {
		t.Errorf("%d messages, want one per bad value (5):\n%s", n, out)
	}
}

func TestServeConfigUnknownFlag(t *testing.T) {
	var stderr strings.Builder
	if _, code, _ := parseServeConfig([]string{"--no-such-flag"}, envOf(nil), &stderr); code != exitUsage {
		t.Fatalf("unknown flag: code %d, want 2", code)
	}
}

func TestDataDirKeepsNodeIDAndRefusesASecondProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	id, unlock, err := openDataDir(dir, "")
	if err != nil || !validNodeID(id) || !strings.HasPrefix(id, "node-") {
		t.Fatalf("first start: id %q, %v", id, err)
	}
	if _, _, err := openDataDir(dir, ""); err == nil || !strings.Contains(err.Error(), "in use by another shoal process") {
		t.Fatalf("second open while locked: %v", err)
	}
	unlock.Close()
	again, unlock, err := openDataDir(dir, "")
	if err != nil || again != id {
		t.Fatalf("restart: id %q (%v), want %q kept", again, err, id)
	}
	unlock.Close()
	if _, _, err := openDataDir(dir, "other"); err == nil || !strings.Contains(err.Error(), "belongs to node "+`"`+id+`"`) {
		t.Fatalf("wrong --node-id: %v", err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, nodeIDFile))
	if strings.TrimSpace(string(data)) != id {
		t.Fatalf("node.id holds %q", data)
	}
}

func TestServeConfigCluster(t *testing.T) {
	var stderr strings.Builder
	cfg, _, ok := parseServeConfig(nil, envOf(nil), &stderr)
	if !ok || cfg.Cluster != nil {
		t.Fatalf("no --gossip-addr: cluster %+v (%s), want a standalone node", cfg.Cluster, stderr.String())
	}
	cfg, _, ok = parseServeConfig([]string{"--gossip-addr", "127.0.0.1:0", "--join", "127.0.0.1:7172, 127.0.0.1:7272"},
		envOf(map[string]string{"SHOAL_GOSSIP_PROFILE": "local", "SHOAL_DEAD_GRACE": "2s", "SHOAL_MOVE_RATE": "1048576"}), &stderr)
	if !ok {
		t.Fatalf("parse: %s", stderr.String())
	}
	want := clusterFlags{GossipAddr: "127.0.0.1:0", Join: []string{"127.0.0.1:7172", "127.0.0.1:7272"}, Profile: "local", DeadGrace: 2 * time.Second, MoveRate: 1 << 20}
	if cfg.Cluster == nil || !reflect.DeepEqual(*cfg.Cluster, want) {
		t.Fatalf("cluster flags %+v, want %+v", cfg.Cluster, want)
	}
	cfg, _, ok = parseServeConfig([]string{"--gossip-addr", ":7946"}, envOf(nil), &stderr)
	if !ok || cfg.Cluster.Profile != "lan" || cfg.Cluster.DeadGrace != actors.DefaultDeadGrace || cfg.Cluster.Join != nil ||
		cfg.Cluster.MoveRate != defaultMoveRate {
		t.Fatalf("defaults: %+v (%s), want profile lan, dead grace %v, move rate %d, no seeds", cfg.Cluster, stderr.String(),
			actors.DefaultDeadGrace, defaultMoveRate)
	}
}

func TestServeConfigClusterMistakes(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want []string // one message each, in this order
	}{
		{"bad profile", []string{"--gossip-addr", "127.0.0.1:0", "--gossip-profile", "wan"},
			[]string{`--gossip-profile "wan": use lan or local`}},
		{"join without gossip addr", []string{"--join", "10.0.0.5:7946"},
			[]string{`--join "10.0.0.5:7946" needs --gossip-addr`}},
		{"negative dead grace", []string{"--gossip-addr", "127.0.0.1:0", "--dead-grace", "-1s"},
			[]string{"--dead-grace -1s: must be positive"}},
		{"negative move rate", []string{"--gossip-addr", "127.0.0.1:0", "--move-rate", "-1"},
			[]string{"--move-rate -1: must be 0 (unlimited)"}},
		{"gossip host name", []string{"--gossip-addr", "localhost:7946"},
			[]string{`--gossip-addr "localhost:7946": host "localhost": gossip binds an IP address`}},
		{"gossip without port", []string{"--gossip-addr", "127.0.0.1"},
			[]string{`--gossip-addr "127.0.0.1": want ip:port`}},
		{"gossip on the broker port", []string{"--gossip-addr", "127.0.0.1:7070"},
			[]string{`--gossip-addr "127.0.0.1:7070" is also the broker or HTTP address`}},
		{"bad seed", []string{"--gossip-addr", "127.0.0.1:0", "--join", "10.0.0.5"},
			[]string{`--join "10.0.0.5": want host:port of a running node's --gossip-addr`}},
		{"unreachable broker address", []string{"--gossip-addr", "127.0.0.1:0", "--broker-addr", ":7070"},
			[]string{`--broker-addr ":7070": the other nodes dial this address`}},
		{"every mistake at once", []string{"--join", "x", "--gossip-profile", "fast", "--dead-grace", "0s"},
			[]string{`--gossip-profile "fast"`, "--dead-grace 0s", `--join "x" needs --gossip-addr`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			_, code, ok := parseServeConfig(tc.args, envOf(nil), &stderr)
			if ok || code != exitUsage {
				t.Fatalf("code %d ok %v, want exit 2", code, ok)
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("%d messages, want %d:\n%s", len(lines), len(tc.want), stderr.String())
			}
			for i, want := range tc.want {
				if !strings.HasPrefix(lines[i], "shoal serve: ") || !strings.Contains(lines[i], want) {
					t.Errorf("message %d is %q, want it to say %q", i, lines[i], want)
				}
			}
		})
	}
}

func TestClusterIDFile(t *testing.T) {
	dir := t.TempDir()
	if id, err := readClusterID(dir); id != "" || err != nil {
		t.Fatalf("no file: %q, %v; want \"\" and no error", id, err)
	}
	id, err := newClusterID()
	if err != nil || len(id) != 32 || !validNodeID(id) {
		t.Fatalf("newClusterID: %q, %v; want 32 hex digits", id, err)
	}
	if err := writeClusterID(dir, id); err != nil {
		t.Fatal(err)
	}
	if got, err := readClusterID(dir); got != id || err != nil {
		t.Fatalf("read back %q, %v; want %q", got, err, id)
	}
	if err := os.WriteFile(filepath.Join(dir, clusterIDFile), []byte("not a/cluster\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readClusterID(dir); err == nil || !strings.Contains(err.Error(), "is not a cluster id") {
		t.Fatalf("a damaged file: %v", err)
	}
}
