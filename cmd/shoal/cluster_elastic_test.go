//go:build linux

package main

// Multi-process elastic-cluster test: three `shoal serve` processes (the built binary), a topic
// of 12 partitions RF 2 under a produce load; a fourth node joins and takes replicas; one of the
// first three is drained with `shoal cluster drain --wait` and then stopped with SIGTERM.
//
// Method: the history of acknowledged values is checked against what a consumer reads at the
// end (none missing, none moved, none twice); the status must show every partition at RF 2 with
// nothing on the drained node; and the longest gap between two acknowledged produces is logged
// and bounded (no produce may fail outright). Waits are conditions with deadlines.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalmq/shoal/client"
	"github.com/shoalmq/shoal/protocol"
)

func TestClusterProcessesJoinDrainLeave(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs four nodes")
	}
	procs := startThreeNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	c, err := client.New(ctx, client.Config{Brokers: brokerList(procs)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.CreateTopic(ctx, "el", protocol.TopicConfig{Partitions: 12, Replication: 2}); err != nil {
		t.Fatal(err)
	}
	h := &history{acked: map[string][2]int64{}}
	stop := make(chan struct{})
	wg, err := produceLoad(ctx, c, "el", 4, h, stop)
	if err != nil {
		t.Fatal(err)
	}
	grow := func(n int, what string) {
		start := h.count()
		waitUntil(t, 60*time.Second, what, func() error {
			if got := h.count() - start; got < n {
				return fmt.Errorf("%d more acknowledged", got)
			}
			return nil
		})
	}
	grow(300, "acks with three nodes")

	n4 := &clusterProc{id: "n4", dir: t.TempDir(), broker: freeAddr(t), http: freeAddr(t), gossip: freeAddr(t), bin: procs[0].bin,
		join: []string{procs[0].gossip, procs[1].gossip, procs[2].gossip}}
	n4.start(t)
	waitUntil(t, 30*time.Second, "n4 ready", n4.ready)
	procs = append(procs, n4)
	brokers := strings.Join(brokerList(procs), ",")
	settled := func(what string, check func(protocol.ClusterStatusResponse) error) {
		waitUntil(t, 60*time.Second, what, func() error {
			st, err := fetchClusterStatus(ctx, brokerList(procs), 5*time.Second)
			if err != nil {
				return err
			}
			if st.Partitions.UnderReplicated != 0 || st.Partitions.Leaderless != 0 || st.Moves.InProgress != 0 || st.Moves.Queued != 0 {
				return fmt.Errorf("%+v %+v %v", st.Partitions, st.Moves, st.Problems)
			}
			return check(st)
		})
	}
	settled("replicas on n4", func(st protocol.ClusterStatusResponse) error {
		for _, m := range st.Members {
			if m.ID == "n4" && m.Replicas < 4 {
				return fmt.Errorf("n4 holds %d replicas", m.Replicas)
			}
		}
		return nil
	})
	grow(300, "acks after the join")
	finished, moved := 0.0, 0.0
	for _, p := range procs {
		finished += scrapeMetric(t, p.http, "shoal_cluster_moves_finished_total")
		moved += scrapeMetric(t, p.http, "shoal_cluster_moved_bytes_total")
	}
	if finished < 1 || moved <= 0 {
		t.Fatalf("after the join: %v moves finished, %v bytes moved in /metrics; want some of each", finished, moved)
	}
	t.Logf("join: %v moves finished, %v bytes moved", finished, moved)

	drained := procs[1]
	out, err := exec.CommandContext(ctx, procs[0].bin, "cluster", "drain", drained.id, "--wait", "--brokers", brokers).CombinedOutput()
	if err != nil {
		t.Fatalf("shoal cluster drain %s --wait: %v\n%s", drained.id, err, out)
	}
	if !strings.Contains(string(out), "is drained: it is safe to stop it") {
		t.Fatalf("drain output:\n%s", out)
	}
	settled(drained.id+" empty", func(st protocol.ClusterStatusResponse) error {
		for _, m := range st.Members {
			if m.ID == drained.id && (m.Replicas != 0 || m.Leaders != 0) {
				return fmt.Errorf("%s: %+v", m.ID, m)
			}
		}
		return nil
	})
	drained.signal(syscall.SIGTERM)
	grow(300, "acks after the drained node stopped")
	close(stop)
	wg.Wait()

	var live []*clusterProc
	for _, p := range procs {
		if !p.killed {
			live = append(live, p)
		}
	}
	got := readEverything(t, ctx, live[0].broker, "el")
	h.mu.Lock()
	defer h.mu.Unlock()
	for value, at := range h.acked {
		if got[value] != at {
			t.Errorf("acknowledged %q at %v; read at %v", value, at, got[value])
		}
	}
	if h.failed > 0 {
		t.Errorf("%d produces failed: %v", h.failed, h.errs)
	}
	t.Logf("%d acknowledged, %d failed, %d read; longest produce gap %v", len(h.acked), h.failed, len(got), h.maxGap)
}

// scrapeMetric reads one unlabelled metric from a node's /metrics.
func scrapeMetric(t *testing.T, httpAddr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("%s has no %s", httpAddr, name)
	return 0
}
