//go:build linux

package main

// Multi-process cluster tests: three `shoal serve` processes (the built binary) on 127.0.0.1
// with gossip profile local, fsync always, a topic of RF 3.
//
// Method: producers send unique values with acks=quorum through the Go client (idempotent,
// retrying forever) while the test SIGKILLs the leader of partition 0, then SIGSTOPs another
// node for longer than the failure timeout and SIGCONTs it, then restarts the killed node. The
// history (every acknowledged value with its partition and offset) is checked against what a
// consumer reads at the end: no acknowledged value missing or at another offset, no value read
// twice. Then every node is stopped with SIGTERM and the three logs of every partition are read
// from the data dirs with the storage package: each must be a byte-for-byte prefix of the
// longest (offsets agree across replicas). Waits are conditions with deadlines. SHOAL_FAILOVER_KILLS=N runs the
// failover-time measurement of the closing note instead (opt-in; see TestFailoverTimes).

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalmq/shoal/client"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/storage"
)

type clusterProc struct {
	id, dir              string
	broker, http, gossip string
	join                 []string
	bin                  string
	cmd                  *exec.Cmd
	killed               bool
}

func (p *clusterProc) start(t *testing.T) {
	t.Helper()
	args := []string{"serve", "--data-dir", p.dir, "--node-id", p.id, "--broker-addr", p.broker, "--http-addr", p.http,
		"--gossip-addr", p.gossip, "--gossip-profile", "local", "--fsync", "always", "--log-level", cmp.Or(os.Getenv("SHOAL_TEST_LOG_LEVEL"), "warn")}
	if len(p.join) > 0 {
		args = append(args, "--join", joinList(p.join))
	}
	cmd := exec.Command(p.bin, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if path := os.Getenv("SHOAL_TEST_LOG_DIR"); path != "" {
		f, err := os.OpenFile(filepath.Join(path, p.id+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			cmd.Stderr = f
			t.Cleanup(func() { f.Close() })
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd, p.killed = cmd, false
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

func joinList(addrs []string) string {
	s := ""
	for i, a := range addrs {
		if i > 0 {
			s += ","
		}
		s += a
	}
	return s
}

func (p *clusterProc) ready() error {
	resp, err := http.Get("http://" + p.http + "/readyz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s /readyz: %d", p.id, resp.StatusCode)
	}
	return nil
}

func (p *clusterProc) signal(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		_ = p.cmd.Wait()
		p.killed = true
	}
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %v", timeout, what, err)
		}
		time.Sleep(25 * time.Millisecond) // polling a condition with a deadline
	}
}

// startThreeNodes builds the binary and starts n1 (a new cluster), n2 and n3 (joining it).
func startThreeNodes(t *testing.T) []*clusterProc {
	t.Helper()
	bin, err := buildShoal()
	if err != nil {
		t.Fatal(err)
	}
	var procs []*clusterProc
	for _, id := range []string{"n1", "n2", "n3"} {
		procs = append(procs, &clusterProc{id: id, dir: t.TempDir(), broker: freeAddr(t), http: freeAddr(t), gossip: freeAddr(t), bin: bin})
	}
	for i, p := range procs {
		if i > 0 {
			p.join = []string{procs[0].gossip}
		}
		p.start(t)
	}
	for _, p := range procs {
		waitUntil(t, 30*time.Second, p.id+" ready", p.ready)
	}
	for _, p := range procs[1:] {
		p.join = []string{procs[0].gossip, procs[1].gossip, procs[2].gossip}
	}
	procs[0].join = []string{procs[1].gossip, procs[2].gossip}
	return procs
}

func brokerList(procs []*clusterProc) []string {
	var out []string
	for _, p := range procs {
		out = append(out, p.broker)
	}
	return out
}

// leaderProc returns the process leading partition part of topic, per any node's metadata.
func leaderProc(ctx context.Context, c *client.Client, procs []*clusterProc, topic string, part int32) (*clusterProc, error) {
	md, err := c.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	if len(md.Topics) != 1 || int(part) >= len(md.Topics[0].Partitions) {
		return nil, fmt.Errorf("metadata of %s: %+v", topic, md.Topics)
	}
	leader := md.Topics[0].Partitions[part].Leader
	for _, p := range procs {
		if p.id == leader && !p.killed {
			return p, nil
		}
	}
	return nil, fmt.Errorf("leader of %s/%d is %q", topic, part, leader)
}

// history is what the producers saw.
type history struct {
	mu    sync.Mutex
	acked map[string][2]int64 // value → (partition, offset)
	// failed counts sends that returned an error: their records may or may not be written;
	// errs counts them by message, for the log.
	failed int
	errs   map[string]int
	// maxGap is the longest time between two acknowledged produces; last the latest one.
	maxGap time.Duration
	last   time.Time
}

func (h *history) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.acked)
}

// produceLoad runs producers until stop closes.
func produceLoad(ctx context.Context, c *client.Client, topic string, workers int, h *history, stop <-chan struct{}) (*sync.WaitGroup, error) {
	p, err := c.NewProducer(client.ProducerConfig{Retries: 1000, Linger: time.Millisecond, RequestTimeout: 2 * time.Second,
		RetryBackoffMax: 100 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				value := fmt.Sprintf("w%d-%d", w, i)
				sendCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
				res, err := p.SendSync(sendCtx, client.Record{Topic: topic, Key: []byte(value), Value: []byte(value)})
				cancel()
				h.mu.Lock()
				if err != nil {
					h.failed++
					if h.errs == nil {
						h.errs = map[string]int{}
					}
					if len(h.errs) < 20 {
						h.errs[err.Error()]++
					}
				} else {
					h.acked[value] = [2]int64{int64(res.Partition), int64(res.Offset)}
					now := time.Now()
					if !h.last.IsZero() && now.Sub(h.last) > h.maxGap {
						h.maxGap = now.Sub(h.last)
					}
					h.last = now
				}
				h.mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-stop
		_ = p.Close(ctx)
	}()
	return &wg, nil
}

func TestClusterProcessesSIGKILLAndSIGSTOPLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three nodes")
	}
	procs := startThreeNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c, err := client.New(ctx, client.Config{Brokers: brokerList(procs)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.CreateTopic(ctx, "h", protocol.TopicConfig{Partitions: 3, Replication: 3}); err != nil {
		t.Fatal(err)
	}
	h := &history{acked: map[string][2]int64{}}
	stop := make(chan struct{})
	wg, err := produceLoad(ctx, c, "h", 4, h, stop)
	if err != nil {
		t.Fatal(err)
	}
	grow := func(n int, what string) {
		start := h.count()
		waitUntil(t, 30*time.Second, what, func() error {
			if got := h.count() - start; got < n {
				return fmt.Errorf("%d more acknowledged", got)
			}
			return nil
		})
	}
	grow(300, "acks before the kill")
	victim, err := leaderProc(ctx, c, procs, "h", 0)
	if err != nil {
		t.Fatal(err)
	}
	victim.signal(syscall.SIGKILL)
	t.Logf("SIGKILL %s (leader of h/0)", victim.id)
	grow(300, "acks after the kill")

	var paused *clusterProc
	for _, p := range procs {
		if p != victim {
			paused = p
			break
		}
	}
	_ = paused.cmd.Process.Signal(syscall.SIGSTOP)
	t.Logf("SIGSTOP %s", paused.id)
	// Longer than the failure timeout of profile local (about a second): the others declare it
	// dead. Nothing to wait for here but time passing while the node is frozen.
	time.Sleep(3 * time.Second)
	_ = paused.cmd.Process.Signal(syscall.SIGCONT)
	t.Logf("SIGCONT %s", paused.id)
	grow(300, "acks after the pause")

	victim.start(t)
	waitUntil(t, 30*time.Second, victim.id+" ready again", victim.ready)
	grow(200, "acks after the restart")
	close(stop)
	wg.Wait()

	waitUntil(t, 30*time.Second, "every partition with three replicas in sync", func() error {
		md, err := c.Metadata(ctx, "h")
		if err != nil {
			return err
		}
		for _, p := range md.Topics[0].Partitions {
			leader, err := leaderProc(ctx, c, procs, "h", p.Partition)
			if err != nil {
				return err
			}
			lc, err := client.New(ctx, client.Config{Brokers: []string{leader.broker}})
			if err != nil {
				return err
			}
			lmd, err := lc.Metadata(ctx, "h")
			lc.Close()
			if err != nil {
				return err
			}
			if in := lmd.Topics[0].Partitions[p.Partition].InSync; len(in) != 3 {
				return fmt.Errorf("h/%d in sync: %v", p.Partition, in)
			}
		}
		return nil
	})
	got := readEverything(t, ctx, procs[0].broker, "h")
	h.mu.Lock()
	for value, at := range h.acked {
		if got[value] != at {
			t.Errorf("acknowledged %q at %v; read at %v", value, at, got[value])
		}
	}
	t.Logf("%d acknowledged, %d sends failed (unknown outcome), %d read; errors: %v", len(h.acked), h.failed, len(got), h.errs)
	h.mu.Unlock()

	for _, p := range procs {
		p.signal(syscall.SIGTERM)
	}
	// Offsets agree across replicas: every log is a prefix of the longest. (Nodes were stopped
	// one by one, so the last ones may hold epoch-start entries of elections among themselves
	// that the first ones never saw.)
	for part := range 3 {
		var logs [][]byte
		for _, p := range procs {
			logs = append(logs, readLogFile(t, filepath.Join(p.dir, "topics", "h", strconv.Itoa(part))))
		}
		longest := slices.MaxFunc(logs, func(a, b []byte) int { return len(a) - len(b) })
		for i, l := range logs {
			if !slices.Equal(l, longest[:len(l)]) {
				t.Errorf("h/%d: the log of %s (%d bytes) is not a prefix of the longest (%d bytes)", part, procs[i].id, len(l), len(longest))
			}
		}
	}
}

// readLogFile reads a partition's whole log from its directory.
func readLogFile(t *testing.T, dir string) []byte {
	t.Helper()
	l, _, err := storage.Open(storage.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var out []byte
	for from := l.LogStart(); from < l.LogEnd(); {
		res, err := l.Read(from, 4<<20, l.LogEnd(), nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.Data...)
		from = res.Next
	}
	return out
}

// TestFailoverTimes measures, over SHOAL_FAILOVER_KILLS kills (opt-in), the time from a SIGKILL
// of partition 0's leader to the first quorum-acked produce on that partition, and the time
// until the restarted node is back in sync (RF restored).
func TestFailoverTimes(t *testing.T) {
	kills, _ := strconv.Atoi(os.Getenv("SHOAL_FAILOVER_KILLS"))
	if kills <= 0 {
		t.Skip("set SHOAL_FAILOVER_KILLS=20 to measure failover times")
	}
	procs := startThreeNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(kills)*30*time.Second)
	defer cancel()
	c, err := client.New(ctx, client.Config{Brokers: brokerList(procs)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.CreateTopic(ctx, "ft", protocol.TopicConfig{Partitions: 1, Replication: 3}); err != nil {
		t.Fatal(err)
	}
	p, err := c.NewProducer(client.ProducerConfig{Retries: 1000, Linger: -1, RequestTimeout: time.Second, RetryBackoffMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	zero := int32(0)
	send := func(v string) error {
		_, err := p.SendSync(ctx, client.Record{Topic: "ft", Partition: &zero, Value: []byte(v)})
		return err
	}
	var failovers, restores []time.Duration
	for k := range kills {
		for i := range 50 {
			if err := send(fmt.Sprintf("k%d-%d", k, i)); err != nil {
				t.Fatal(err)
			}
		}
		victim, err := leaderProc(ctx, c, procs, "ft", 0)
		if err != nil {
			t.Fatal(err)
		}
		// A load: a producer keeps sending while the leader dies.
		killed := time.Now()
		victim.signal(syscall.SIGKILL)
		if err := send(fmt.Sprintf("k%d-after", k)); err != nil {
			t.Fatal(err)
		}
		failovers = append(failovers, time.Since(killed))
		victim.start(t)
		waitUntil(t, 60*time.Second, victim.id+" back", victim.ready)
		waitUntil(t, 60*time.Second, "three in sync", func() error {
			leader, err := leaderProc(ctx, c, procs, "ft", 0)
			if err != nil {
				return err
			}
			lc, err := client.New(ctx, client.Config{Brokers: []string{leader.broker}})
			if err != nil {
				return err
			}
			defer lc.Close()
			md, err := lc.Metadata(ctx, "ft")
			if err != nil {
				return err
			}
			if in := md.Topics[0].Partitions[0].InSync; len(in) != 3 {
				return fmt.Errorf("in sync %v", in)
			}
			return nil
		})
		restores = append(restores, time.Since(killed))
		t.Logf("kill %d of %s: first acked produce after %v, three in sync again after %v", k+1, victim.id, failovers[k], restores[k])
	}
	report := func(name string, d []time.Duration) {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		t.Logf("%s over %d kills: p50 %v, max %v", name, len(d), d[len(d)/2], d[len(d)-1])
	}
	report("failover (kill to first quorum-acked produce)", failovers)
	report("kill to three replicas in sync (includes the restart)", restores)
}
