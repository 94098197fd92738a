// Tests of `shoal cluster status` against fake nodes: a transport server on 127.0.0.1:0 whose
// handler answers TypeClusterStatus with a fixed response (or an error). Each case checks the
// exact text or JSON printed, the exit code, and which of the --brokers addresses answered.
package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/transport"
)

// fakeStatusNode is a node that answers only cluster-status requests, with status or err, and
// counts them.
type fakeStatusNode struct {
	addr  string
	calls atomic.Int32
}

func startFakeStatusNode(t *testing.T, status protocol.ClusterStatusResponse, err error) *fakeStatusNode {
	t.Helper()
	n := &fakeStatusNode{}
	srv, listenErr := transport.Listen(transport.ServerConfig{
		Addr: "127.0.0.1:0", NodeID: "fake", Logger: slog.New(slog.DiscardHandler),
		Handler: transport.HandlerFunc(func(ctx context.Context, req transport.Request) (any, error) {
			if req.Type != protocol.TypeClusterStatus {
				return nil, protocol.Errorf(protocol.ErrInvalidArgument, "fake node: only cluster-status")
			}
			if uerr := protocol.Unmarshal(req.Body, &protocol.Empty{}); uerr != nil {
				return nil, uerr
			}
			n.calls.Add(1)
			if err != nil {
				return nil, err
			}
			return status, nil
		}),
	})
	if listenErr != nil {
		t.Fatal(listenErr)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	n.addr = srv.Addr()
	return n
}

func runClusterCLI(t *testing.T, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := clusterMain(ctx, args, &stdout, &stderr)
	return cliRun{code, stdout.String(), stderr.String()}
}

// threeNodes is a cluster of three with n3 dead: two partitions lost a replica, one its leader.
var threeNodes = protocol.ClusterStatusResponse{
	ClusterID: "c0ffee",
	Members: []protocol.MemberStatus{
		{ID: "n1", State: "alive", BrokerAddr: "127.0.0.1:7170", GossipAddr: "127.0.0.1:7172", Replicas: 4, Leaders: 3},
		{ID: "n2", State: "alive", BrokerAddr: "127.0.0.1:7270", Replicas: 4, Leaders: 1},
		{ID: "n3", State: "dead", BrokerAddr: "127.0.0.1:7370", Replicas: 3, Leaders: 0},
	},
	Partitions: protocol.PartitionCounts{Total: 4, Leaderless: 1, UnderReplicated: 2},
	Moves:      protocol.MoveCounts{InProgress: 1, Queued: 2},
	Problems:   []string{"orders/2: no leader (replicas n3)", "orders/0: under-replicated: 2 of 3 in sync"},
}

func TestClusterStatusText(t *testing.T) {
	node := startFakeStatusNode(t, threeNodes, nil)
	r := mustSucceed(t, "cluster status", runClusterCLI(t, "status", "--brokers", node.addr))
	want := `cluster c0ffee: 3 members
ID  STATE  BROKER          REPLICAS  LEADERS
n1  alive  127.0.0.1:7170  4         3
n2  alive  127.0.0.1:7270  4         1
n3  dead   127.0.0.1:7370  3         0
problem: orders/2: no leader (replicas n3)
problem: orders/0: under-replicated: 2 of 3 in sync
partitions: 4 total, 1 leaderless, 2 under-replicated; moves: 1 in progress, 2 queued
`
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestClusterStatusJSON(t *testing.T) {
	node := startFakeStatusNode(t, threeNodes, nil)
	r := mustSucceed(t, "cluster status --json", runClusterCLI(t, "status", "--json", "--brokers", node.addr))
	want := `{"cluster_id":"c0ffee","members":[` +
		`{"id":"n1","state":"alive","broker_addr":"127.0.0.1:7170","gossip_addr":"127.0.0.1:7172","replicas":4,"leaders":3},` +
		`{"id":"n2","state":"alive","broker_addr":"127.0.0.1:7270","replicas":4,"leaders":1},` +
		`{"id":"n3","state":"dead","broker_addr":"127.0.0.1:7370","replicas":3,"leaders":0}],` +
		`"partitions":{"total":4,"leaderless":1,"under_replicated":2},"moves":{"in_progress":1,"queued":2},` +
		`"problems":["orders/2: no leader (replicas n3)","orders/0: under-replicated: 2 of 3 in sync"]}` + "\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	// The contract's keys are there even for an empty answer: [] and zero counts, never null.
	empty := startFakeStatusNode(t, protocol.ClusterStatusResponse{}, nil)
	r = mustSucceed(t, "cluster status --json (empty)", runClusterCLI(t, "status", "--json", "--brokers", empty.addr))
	if want := `{"members":[],"partitions":{"total":0,"leaderless":0,"under_replicated":0},"moves":{"in_progress":0,"queued":0}}` + "\n"; r.stdout != want {
		t.Errorf("empty answer: stdout %s, want %s", r.stdout, want)
	}
}

func TestClusterStatusAsksTheFirstNodeThatAnswers(t *testing.T) {
	dead := refusedAddr(t)
	starting := startFakeStatusNode(t, protocol.ClusterStatusResponse{}, protocol.Errorf(protocol.ErrBusy, "node n2 is starting"))
	alive := startFakeStatusNode(t, threeNodes, nil)
	spare := startFakeStatusNode(t, threeNodes, nil)
	r := mustSucceed(t, "cluster status", runClusterCLI(t, "status", "--brokers", dead+","+starting.addr+", "+alive.addr+","+spare.addr))
	if !strings.HasPrefix(r.stdout, "cluster c0ffee: 3 members\n") {
		t.Errorf("stdout %q, want the status of the third address", r.stdout)
	}
	if starting.calls.Load() != 1 || alive.calls.Load() != 1 || spare.calls.Load() != 0 {
		t.Errorf("calls: starting %d, alive %d, spare %d; want 1, 1, 0 (stop at the first answer)",
			starting.calls.Load(), alive.calls.Load(), spare.calls.Load())
	}
}

func TestClusterStatusNoNodeAnswers(t *testing.T) {
	dead := refusedAddr(t)
	starting := startFakeStatusNode(t, protocol.ClusterStatusResponse{}, protocol.Errorf(protocol.ErrBusy, "node n2 is starting"))
	r := runClusterCLI(t, "status", "--brokers", dead+","+starting.addr)
	if r.code != exitFail || r.stdout != "" {
		t.Fatalf("got %v; want exit 1 and nothing on stdout", r)
	}
	for _, want := range []string{"shoal cluster status: no node answered: ", dead + ": connection refused", starting.addr + ": ", "node n2 is starting"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr %q lacks %q", r.stderr, want)
		}
	}
	r = runClusterCLI(t, "status", "--brokers", dead)
	if r.code != exitFail || r.stderr != "shoal cluster status: "+dead+": connection refused (is a node running there?)\n" {
		t.Errorf("one dead address: %v", r)
	}
}

func TestClusterUsage(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no subcommand", nil, exitUsage, "", "shoal cluster: missing subcommand"},
		{"help", []string{"help"}, exitOK, "status", ""},
		{"unknown subcommand", []string{"evict"}, exitUsage, "", `unknown subcommand "evict"`},
		{"drain without a node", []string{"drain"}, exitUsage, "", "missing NODE"},
		{"drain -h", []string{"drain", "-h"}, exitOK, "", "usage: shoal cluster drain NODE [--wait]"},
		{"remove with a stray argument", []string{"remove", "n2", "n3"}, exitUsage, "", `unexpected argument "n3"`},
		{"rebalance pause and resume", []string{"rebalance", "--pause", "--resume"}, exitUsage, "", "--pause and --resume together"},
		{"status -h", []string{"status", "-h"}, exitOK, "", "usage: shoal cluster status [--brokers ADDR[,ADDR...]]"},
		{"empty brokers", []string{"status", "--brokers", " , "}, exitUsage, "", "shoal cluster status: --brokers is empty"},
		{"bad timeout", []string{"status", "--timeout", "0s"}, exitUsage, "", "--timeout 0s: must be positive"},
		{"stray argument", []string{"status", "n1"}, exitUsage, "", `unexpected argument "n1"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runClusterCLI(t, tc.args...)
			if r.code != tc.wantCode || !strings.Contains(r.stdout, tc.wantStdout) || !strings.Contains(r.stderr, tc.wantStderr) ||
				(tc.wantStdout == "" && r.stdout != "") || (tc.wantStderr == "" && r.stderr != "") {
				t.Errorf("got %v; want exit %d, stdout with %q, stderr with %q", r, tc.wantCode, tc.wantStdout, tc.wantStderr)
			}
		})
	}
}
