package main

// Method: parseServeConfig and openDataDir are driven with tables of flags, environment
// variables and data-dir states; each case checks the exit code and the exact messages.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
