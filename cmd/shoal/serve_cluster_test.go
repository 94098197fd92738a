//go:build linux

package main

// Method: `shoal serve --gossip-addr` on 127.0.0.1 with real memberlist (profile local), TCP and
// files, in the test process (serve in a goroutine) and as the built binary. The cases check
// what the serve command owns: the cluster id is made by a first node, adopted by a joiner and
// kept in the data dir across restarts; a data dir of another cluster is refused; /readyz stays
// false while the node has not joined; the bound gossip address can be discovered when the
// flag says port 0. Waits are conditions with deadlines.

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalmq/shoal/client"
	"github.com/shoalmq/shoal/cluster"
	"github.com/shoalmq/shoal/protocol"
)

// testClusterConfig is testServeConfig for a cluster node: gossip on a free port, profile local.
func testClusterConfig(t *testing.T, dir, nodeID string, extra ...string) serveConfig {
	t.Helper()
	var stderr strings.Builder
	args := append([]string{"--data-dir", dir, "--broker-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--node-id", nodeID, "--log-level", "warn", "--gossip-addr", "127.0.0.1:0", "--gossip-profile", "local"}, extra...)
	cfg, _, ok := parseServeConfig(args, func(string) string { return "" }, &stderr)
	if !ok {
		t.Fatalf("config: %s", stderr.String())
	}
	return cfg
}

func storedClusterID(t *testing.T, dir string) string {
	t.Helper()
	id, err := readClusterID(dir)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestServeClusterFirstNodeKeepsItsClusterID(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	node, stop := startServing(t, testClusterConfig(t, dir, "n1"))
	if !validNodeID(node.ClusterID) || len(node.ClusterID) != 32 {
		t.Fatalf("cluster id %q, want 32 hex digits made at the first start", node.ClusterID)
	}
	if stored := storedClusterID(t, dir); stored != node.ClusterID {
		t.Fatalf("%s holds %q, want %q", clusterIDFile, stored, node.ClusterID)
	}
	if strings.HasSuffix(node.GossipAddr, ":0") || !strings.HasPrefix(node.GossipAddr, "127.0.0.1:") {
		t.Fatalf("gossip address %q, want the bound 127.0.0.1 port", node.GossipAddr)
	}
	if code, body := httpGet(t, "http://"+node.HTTPAddr+"/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	if code, body := httpGet(t, "http://"+node.HTTPAddr+"/"); code != 200 || !strings.Contains(body, "cluster "+node.ClusterID) {
		t.Fatalf("status page: %d, want it to name cluster %s:\n%s", code, node.ClusterID, body)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// Restarted alone (no --join), the first node still leads the catalog: it creates a topic.
	again, stop := startServing(t, testClusterConfig(t, dir, "n1"))
	createTopic(t, again.BrokerAddr, "after-restart")
	if err := stop(); err != nil {
		t.Fatalf("stop after the restart: %v", err)
	}
	if again.ClusterID != node.ClusterID || storedClusterID(t, dir) != node.ClusterID {
		t.Fatalf("after a restart: cluster id %q, file %q; want %q kept", again.ClusterID, storedClusterID(t, dir), node.ClusterID)
	}
}

// createTopic creates a one-partition topic through the client, failing the test on an error.
// While the catalog has no leader (ErrUnavailable: an election is under way) it tries again,
// until e2eTimeout.
func createTopic(t *testing.T, brokerAddr, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	c, err := client.New(ctx, client.Config{Brokers: []string{brokerAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the catalog to have a leader", func() bool {
		err = c.CreateTopic(ctx, name, protocol.TopicConfig{Partitions: 1})
		return !errors.Is(err, protocol.ErrUnavailable)
	})
	if err != nil {
		t.Fatalf("create topic %s on %s: %v", name, brokerAddr, err)
	}
}

func TestServeClusterJoinerAdoptsTheClusterID(t *testing.T) {
	first, stopFirst := startServing(t, testClusterConfig(t, t.TempDir(), "n1"))
	defer stopFirst()
	dir := t.TempDir()
	joiner, stopJoiner := startServing(t, testClusterConfig(t, dir, "n2", "--join", first.GossipAddr))
	defer stopJoiner()
	if joiner.ClusterID != first.ClusterID || storedClusterID(t, dir) != first.ClusterID {
		t.Fatalf("joiner: cluster id %q, file %q; want the first node's %q", joiner.ClusterID, storedClusterID(t, dir), first.ClusterID)
	}
}

func TestServeClusterRefusesAnotherClustersDataDir(t *testing.T) {
	first, stopFirst := startServing(t, testClusterConfig(t, t.TempDir(), "n1"))
	defer stopFirst()
	dir := t.TempDir()
	if err := writeClusterID(dir, "another-cluster"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	err := serve(ctx, testClusterConfig(t, dir, "n2", "--join", first.GossipAddr), io.Discard, io.Discard, nil)
	if !errors.Is(err, cluster.ErrRefused) || !strings.Contains(err.Error(), "another-cluster") {
		t.Fatalf("joining with another cluster's data dir: %v; want a refusal naming another-cluster", err)
	}
	if stored := storedClusterID(t, dir); stored != "another-cluster" {
		t.Fatalf("the refused node's %s now holds %q", clusterIDFile, stored)
	}
}

func TestServeStandaloneRefusesAClusterDataDir(t *testing.T) {
	dir := t.TempDir()
	if err := writeClusterID(dir, "c1"); err != nil {
		t.Fatal(err)
	}
	err := serve(context.Background(), testServeConfig(t, dir), io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "belongs to cluster c1: start this node with --gossip-addr") {
		t.Fatalf("standalone on a cluster's data dir: %v", err)
	}
}

// TestServeClusterNotReadyUntilJoined: a seed where nothing answers keeps the node joining;
// /healthz answers, /readyz says why it is not ready, and SIGTERM (the context) stops it cleanly.
func TestServeClusterNotReadyUntilJoined(t *testing.T) {
	dir, httpAddr := t.TempDir(), freeAddr(t)
	cfg := testClusterConfig(t, dir, "n2", "--join", freeAddr(t))
	cfg.HTTPAddr = httpAddr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard, io.Discard, nil) }()
	var code int
	var body string
	waitFor(t, "/readyz to answer", func() bool {
		resp, err := httpClientGet("http://" + httpAddr + "/readyz")
		code, body = resp.code, resp.body
		return err == nil
	})
	if code != 503 || !strings.Contains(body, "not ready: joining the cluster") {
		t.Fatalf("/readyz while joining: %d %q", code, body)
	}
	if code, _ := httpGet(t, "http://"+httpAddr+"/healthz"); code != 200 {
		t.Fatalf("/healthz while joining: %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve stopped while joining returned %v, want nil", err)
		}
	case <-time.After(e2eTimeout):
		t.Fatal("serve did not stop while joining")
	}
	if id := storedClusterID(t, dir); id != "" {
		t.Fatalf("a node that never joined wrote cluster id %q", id)
	}
}

type httpAnswer struct {
	code int
	body string
}

func httpClientGet(url string) (httpAnswer, error) {
	resp, err := http.Get(url)
	if err != nil {
		return httpAnswer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return httpAnswer{resp.StatusCode, string(body)}, err
}

// waitFor polls cond until it holds, failing the test after e2eTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(e2eTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", e2eTimeout, what)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// clusterProcess is one `shoal serve --gossip-addr` process and the addresses it printed.
type clusterProcess struct {
	cmd *exec.Cmd
	servingNode
}

// bannerLine matches the lines of serve's banner that name an address.
var bannerLine = regexp.MustCompile(`^  (broker|http|gossip) +(?:http://)?([0-9.]+:[0-9]+)/?(?: +\(cluster ([A-Za-z0-9._-]+)\))?`)

// startClusterProcess starts the binary as a cluster node with every address on a free port
// (127.0.0.1:0), and returns once the node serves, with the addresses read from its banner on
// stdout: a test learns the gossip address of a first node this way and passes it to --join.
func startClusterProcess(t *testing.T, bin, dir, nodeID string, extra ...string) *clusterProcess {
	t.Helper()
	args := append([]string{"serve", "--data-dir", dir, "--node-id", nodeID, "--broker-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--gossip-profile", "local", "--log-level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	banner := make(chan servingNode, 1)
	go readBanner(stdout, banner)
	select {
	case node, ok := <-banner:
		if !ok {
			t.Fatalf("shoal serve %s exited before serving (its stderr is above)", nodeID)
		}
		return &clusterProcess{cmd: cmd, servingNode: node}
	case <-time.After(e2eTimeout):
		t.Fatalf("shoal serve %s did not print its banner within %v", nodeID, e2eTimeout)
	}
	return nil
}

// readBanner parses serve's banner into a servingNode, sends it, and drains the rest of stdout;
// it closes the channel without sending if stdout ends first.
func readBanner(stdout io.Reader, banner chan<- servingNode) {
	lines := bufio.NewScanner(stdout)
	var node servingNode
	sent := false
	for lines.Scan() {
		if sent {
			continue
		}
		if m := bannerLine.FindStringSubmatch(lines.Text()); m != nil {
			switch m[1] {
			case "broker":
				node.BrokerAddr = m[2]
			case "http":
				node.HTTPAddr = m[2]
			case "gossip":
				node.GossipAddr, node.ClusterID = m[2], m[3]
			}
		}
		if strings.HasPrefix(lines.Text(), "stop with Ctrl-C") {
			banner <- node
			sent = true
		}
	}
	if !sent {
		close(banner)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *clusterProcess) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("node at %s after SIGTERM: %v, want exit 0", p.BrokerAddr, err)
	}
}

// TestBinaryClusterNodesJoinAndKeepTheirClusterID runs the binary as an operator would: a first
// node on port 0 prints its gossip address, a second joins it, both keep the cluster id across
// a SIGTERM and a restart, and a node whose data dir belongs to another cluster exits 1.
func TestBinaryClusterNodesJoinAndKeepTheirClusterID(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildShoal()
	if err != nil {
		t.Fatal(err)
	}
	dir1, dir2 := t.TempDir(), t.TempDir()
	n1 := startClusterProcess(t, bin, dir1, "n1")
	if n1.GossipAddr == "" || strings.HasSuffix(n1.GossipAddr, ":0") || n1.ClusterID == "" {
		t.Fatalf("banner: gossip %q cluster %q, want the bound address and the new cluster id", n1.GossipAddr, n1.ClusterID)
	}
	n2 := startClusterProcess(t, bin, dir2, "n2", "--join", n1.GossipAddr)
	if n2.ClusterID != n1.ClusterID {
		t.Fatalf("n2 joined cluster %q, want n1's %q", n2.ClusterID, n1.ClusterID)
	}
	n2.stop(t)
	n1.stop(t)
	n1 = startClusterProcess(t, bin, dir1, "n1")
	defer n1.stop(t)
	if n1.ClusterID != storedClusterID(t, dir2) || n1.ClusterID != n2.ClusterID {
		t.Fatalf("after a restart n1 is in cluster %q; n2's data dir holds %q; want %q", n1.ClusterID, storedClusterID(t, dir2), n2.ClusterID)
	}

	other := t.TempDir()
	if err := writeClusterID(other, "another-cluster"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--data-dir", other, "--node-id", "n3", "--broker-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--gossip-profile", "local", "--join", n1.GossipAddr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitFail || !strings.Contains(string(out), "shoal serve: cannot join the cluster") {
		t.Fatalf("a node of another cluster: %v, want exit 1 with the refusal:\n%s", err, out)
	}
}
