// In-process cluster tests: three brokers on 127.0.0.1:0 with real memberlist (local profile),
// real TCP between them (the broker transport) and real files.
//
// Method: every wait is a condition polled with a deadline (waitFor); no sleep stands in for
// synchronisation. The failover test records every value a quorum-acked produce returned with
// its offset, kills the leader of a partition under that load (memberlist shut down without a
// leave, its listener closed, its broker stopped), keeps producing until a produce succeeds on a
// new leader, and then checks that every acked value is readable at its offset from the new
// leader and that the surviving replicas hold identical bytes below the commit point.
package actors

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/cluster"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/protocol/resp"
	"github.com/shoalmq/shoal/protocol/transport"
	"github.com/shoalmq/shoal/storage"
)

type testMember struct {
	id     string
	ms     *cluster.Membership
	b      *Broker
	srv    *transport.Server
	addr   string
	broker atomic.Pointer[Broker]
	// killed: stopped (a test may stop a node beside the goroutines that look it up).
	killed atomic.Bool
}

func (m *testMember) Handle(ctx context.Context, req transport.Request) (any, error) {
	b := m.broker.Load()
	if b == nil {
		return nil, protocol.Errorf(protocol.ErrBusy, "starting")
	}
	return b.Handle(ctx, req.Type, req.Body)
}

func (m *testMember) Admit(ctx context.Context, req transport.Request) func(context.Context) (any, error) {
	b := m.broker.Load()
	if b == nil {
		return func(context.Context) (any, error) { return nil, protocol.Errorf(protocol.ErrBusy, "starting") }
	}
	return b.Admit(ctx, req.Type, req.Body)
}

func clusterLogger(t testing.TB, id string) *slog.Logger {
	if os.Getenv("SHOAL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", id)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", id)
}

// startMember starts one node: listener, membership, broker.
func startMember(t testing.TB, id, dir string, seeds []string) *testMember {
	return startMemberGrace(t, id, dir, seeds, time.Minute)
}

func startMemberGrace(t testing.TB, id, dir string, seeds []string, grace time.Duration) *testMember {
	t.Helper()
	return startMemberWith(t, id, dir, seeds, ClusterConfig{DeadGrace: grace})
}

// startMemberWith starts a node with cc's cluster settings (Membership and Bootstrap are set
// here).
func startMemberWith(t testing.TB, id, dir string, seeds []string, cc ClusterConfig) *testMember {
	t.Helper()
	m := &testMember{id: id}
	logger := clusterLogger(t, id)
	srv, err := transport.Listen(transport.ServerConfig{Addr: "127.0.0.1:0", NodeID: id, Handler: m, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	m.srv, m.addr = srv, srv.Addr()
	clusterID := ""
	if len(seeds) == 0 {
		clusterID = "test-cluster"
	}
	ms, err := cluster.Start(cluster.Config{NodeID: id, ClusterID: clusterID, GossipAddr: "127.0.0.1:0", BrokerAddr: m.addr, HTTPAddr: "127.0.0.1:1",
		Join: seeds, Profile: cluster.ProfileLocal, ProtocolMin: 1, ProtocolMax: 1, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	m.ms = ms
	cfg := DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.BrokerAddr, cfg.Logger = id, dir, m.addr, logger
	cc.Membership, cc.Bootstrap = ms, len(seeds) == 0
	cfg.Cluster = &cc
	b, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.b = b
	m.broker.Store(b)
	t.Cleanup(func() { m.stop(false) })
	return m
}

// stop stops the node; crash skips the graceful leave (as a SIGKILL would).
func (m *testMember) stop(crash bool) {
	if m.killed.Swap(true) {
		return
	}
	if crash {
		_ = m.ms.Shutdown()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !crash {
		handCtx, cancelHand := context.WithTimeout(ctx, 2*time.Second)
		m.b.HandOver(handCtx)
		cancelHand()
	}
	_ = m.srv.Shutdown(ctx)
	_ = m.b.Stop(ctx)
	if !crash {
		_ = m.ms.Leave(time.Second)
		_ = m.ms.Shutdown()
	}
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
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
		time.Sleep(20 * time.Millisecond) // polling interval of a condition with a deadline
	}
}

func rpc(ctx context.Context, addr string, typ protocol.MessageType, req, resp any) error {
	conn, err := transport.Dial(ctx, addr, transport.DialOptions{ClientID: "test"})
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Call(ctx, typ, req, resp)
}

func startCluster(t *testing.T) []*testMember { return startClusterB(t) }

func startClusterB(t testing.TB) []*testMember {
	t.Helper()
	n1 := startMember(t, "n1", t.TempDir(), nil)
	seed := []string{n1.ms.GossipAddr()}
	n2 := startMember(t, "n2", t.TempDir(), seed)
	n3 := startMember(t, "n3", t.TempDir(), seed)
	members := []*testMember{n1, n2, n3}
	waitFor(t, 20*time.Second, "__meta on three voters everywhere", func() error {
		for _, m := range members {
			if r := m.b.Node().Meta().Leadership().Replicas; len(r) != 3 {
				return fmt.Errorf("%s sees __meta voters %v", m.id, r)
			}
		}
		return nil
	})
	return members
}

func TestClusterCreatesReplicatedTopics(t *testing.T) {
	members := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Created through n3, which does not lead __meta (n1 does): the request is forwarded.
	err := rpc(ctx, members[2].addr, protocol.TypeCreateTopic, &protocol.CreateTopicRequest{Name: "t",
		Config: protocol.TopicConfig{Partitions: 3, Replication: 3}}, nil)
	if err != nil {
		t.Fatalf("create topic through n3: %v", err)
	}
	err = rpc(ctx, members[1].addr, protocol.TypeCreateTopic, &protocol.CreateTopicRequest{Name: "big",
		Config: protocol.TopicConfig{Partitions: 1, Replication: 4}}, nil)
	if protocol.CodeOf(err) != protocol.CodeInvalidArgument {
		t.Fatalf("replication 4 on 3 nodes: %v, want an invalid-argument refusal", err)
	}
	waitFor(t, 10*time.Second, "every partition led with three in sync", func() error {
		var md protocol.MetadataResponse
		if err := rpc(ctx, members[0].addr, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{"t"}}, &md); err != nil {
			return err
		}
		if len(md.Topics) != 1 || len(md.Brokers) != 3 {
			return fmt.Errorf("metadata: %d topics, brokers %v", len(md.Topics), md.Brokers)
		}
		for _, p := range md.Topics[0].Partitions {
			// In sync comes from the leader, also through n1 where n1 does not lead.
			if p.Leader == "" || len(p.Replicas) != 3 || len(p.InSync) != 3 {
				return fmt.Errorf("partition %d: leader %q replicas %v in sync %v", p.Partition, p.Leader, p.Replicas, p.InSync)
			}
		}
		return nil
	})
	// Deleted through n2: every node's catalog loses it, and its data.
	if err := rpc(ctx, members[1].addr, protocol.TypeDeleteTopic, &protocol.DeleteTopicRequest{Name: "t"}, nil); err != nil {
		t.Fatalf("delete topic through n2: %v", err)
	}
	waitFor(t, 10*time.Second, "the topic gone from every node", func() error {
		for _, m := range members {
			if _, ok := m.b.Node().Topic("t"); ok {
				return fmt.Errorf("%s still has topic t", m.id)
			}
		}
		return nil
	})
}

func produceOne(ctx context.Context, addr, topic string, part int32, value string) (uint64, error) {
	bld := batch.NewBuilder(256)
	bld.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
	if err := bld.Add(batch.ID{}, time.Now().UnixMilli(), nil, []byte(value), nil); err != nil {
		return 0, err
	}
	b, err := bld.Finish()
	if err != nil {
		return 0, err
	}
	var resp protocol.ProduceResponse
	req := &protocol.ProduceRequest{Topic: topic, Acks: protocol.AcksQuorum, Batches: []protocol.ProducePartition{{Partition: part, Batch: b}}}
	if err := rpc(ctx, addr, protocol.TypeProduce, req, &resp); err != nil {
		return 0, err
	}
	if len(resp.Results) != 1 {
		return 0, fmt.Errorf("%d results", len(resp.Results))
	}
	if err := resp.Results[0].Error.Err(); err != nil {
		return 0, err
	}
	if r := resp.Results[0].Replicas; len(r) < 2 {
		return 0, fmt.Errorf("acks=quorum answered with the batch durable on %v: not a majority of three", r)
	}
	return resp.Results[0].BaseOffset, nil
}

// leaderOf asks any live member for the leader of a partition.
func leaderOf(ctx context.Context, members []*testMember, topic string, part int32) (*testMember, uint64, error) {
	for _, m := range members {
		if m.killed.Load() {
			continue
		}
		var md protocol.MetadataResponse
		if err := rpc(ctx, m.addr, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{topic}}, &md); err != nil {
			continue
		}
		if len(md.Topics) != 1 {
			continue
		}
		p := md.Topics[0].Partitions[part]
		for _, l := range members {
			if l.id == p.Leader && !l.killed.Load() {
				return l, p.Epoch, nil
			}
		}
	}
	return nil, 0, fmt.Errorf("no live leader known for %s/%d", topic, part)
}

func TestClusterFailoverLosesNoAckedRecord(t *testing.T) {
	members := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rpc(ctx, members[0].addr, protocol.TypeCreateTopic, &protocol.CreateTopicRequest{Name: "f",
		Config: protocol.TopicConfig{Partitions: 1, Replication: 3}}, nil); err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]string{}
	produce := func(i int) error {
		leader, _, err := leaderOf(ctx, members, "f", 0)
		if err != nil {
			return err
		}
		v := fmt.Sprintf("v%d", i)
		off, err := produceOne(ctx, leader.addr, "f", 0, v)
		if err != nil {
			return err
		}
		acked[off] = v
		return nil
	}
	for i := range 50 {
		waitFor(t, 10*time.Second, "a produce before the kill", func() error { return produce(i) })
	}
	old, _, err := leaderOf(ctx, members, "f", 0)
	if err != nil {
		t.Fatal(err)
	}
	old.stop(true)
	killed := time.Now()
	waitFor(t, 20*time.Second, "a produce on a new leader", func() error { return produce(1000) })
	t.Logf("first quorum-acked produce %v after the kill of %s", time.Since(killed), old.id)
	for i := 51; i < 80; i++ {
		waitFor(t, 10*time.Second, "a produce after the failover", func() error { return produce(i) })
	}
	leader, _, err := leaderOf(ctx, members, "f", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Every acked value at its offset on the new leader.
	var fr protocol.FetchResponse
	err = rpc(ctx, leader.addr, protocol.TypeFetch, &protocol.FetchRequest{Topic: "f",
		Partitions: []protocol.FetchPartition{{Partition: 0, From: protocol.Position{Kind: protocol.PositionEarliest}, MaxBytes: 1 << 20}}}, &fr)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]string{}
	res := storage.ReadResult{Data: fr.Results[0].Batches, From: fr.Results[0].From, Next: fr.Results[0].Next}
	for it := res.Records(); it.Next(); {
		r := it.Record()
		got[r.Offset] = string(r.Value)
	}
	for off, v := range acked {
		if got[off] != v {
			t.Errorf("acked %q at offset %d; the new leader has %q there", v, off, got[off])
		}
	}
	// The survivors hold the same bytes below the commit point.
	var survivors []*partition.Partition
	for _, m := range members {
		if !m.killed.Load() {
			p, err := m.b.Node().Partition("f", 0)
			if err != nil {
				t.Fatal(err)
			}
			survivors = append(survivors, p)
		}
	}
	waitFor(t, 10*time.Second, "the follower's commit point to reach the leader's", func() error {
		a, b := survivors[0].HighWatermark(), survivors[1].HighWatermark()
		if a != b {
			return fmt.Errorf("commit points %d and %d", a, b)
		}
		return nil
	})
	hw := survivors[0].HighWatermark()
	a, errA := survivors[0].ReadCommitted(0, 4<<20)
	b, errB := survivors[1].ReadCommitted(0, 4<<20)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if !slices.Equal(a.Data, b.Data) {
		t.Fatalf("the survivors differ below the commit point %d: %d and %d bytes", hw, len(a.Data), len(b.Data))
	}
	t.Logf("%d acked records checked, %d bytes identical on both survivors below %d", len(acked), len(a.Data), hw)
}

// TestClusterRestoresReplicationFactor: four nodes, a topic of RF 3; a node holding replicas
// dies and stays dead past the grace period; every partition's leader adds the fourth node as
// a learner, streams it the log, promotes it and removes the dead one, without an operator.
func TestClusterRestoresReplicationFactor(t *testing.T) {
	const grace = 1500 * time.Millisecond
	n1 := startMemberGrace(t, "n1", t.TempDir(), nil, grace)
	seed := []string{n1.ms.GossipAddr()}
	members := []*testMember{n1}
	for _, id := range []string{"n2", "n3", "n4"} {
		members = append(members, startMemberGrace(t, id, t.TempDir(), seed, grace))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitFor(t, 20*time.Second, "four alive members on n1", func() error {
		if n := len(n1.b.Node().View().Alive); n != 4 {
			return fmt.Errorf("%d alive", n)
		}
		return nil
	})
	if err := rpc(ctx, n1.addr, protocol.TypeCreateTopic, &protocol.CreateTopicRequest{Name: "rf",
		Config: protocol.TopicConfig{Partitions: 4, Replication: 3}}, nil); err != nil {
		t.Fatal(err)
	}
	for part := range int32(4) {
		waitFor(t, 10*time.Second, "a produce", func() error {
			leader, _, err := leaderOf(ctx, members, "rf", part)
			if err != nil {
				return err
			}
			_, err = produceOne(ctx, leader.addr, "rf", part, fmt.Sprintf("p%d", part))
			return err
		})
	}
	// The victim: a node other than n1 (which answers status) that holds replicas.
	victim := members[3]
	victim.stop(true)
	killed := time.Now()
	waitFor(t, 30*time.Second, "every partition back at three in-sync replicas without the victim", func() error {
		var st protocol.ClusterStatusResponse
		if err := rpc(ctx, n1.addr, protocol.TypeClusterStatus, &protocol.Empty{}, &st); err != nil {
			return err
		}
		if st.Partitions.UnderReplicated != 0 || st.Partitions.Leaderless != 0 {
			return fmt.Errorf("%+v: %v", st.Partitions, st.Problems)
		}
		for _, m := range st.Members {
			if m.ID == victim.id && m.Replicas != 0 {
				return fmt.Errorf("%s still holds %d replicas", m.ID, m.Replicas)
			}
		}
		return nil
	})
	t.Logf("replication factor restored %v after the kill (grace %v)", time.Since(killed), grace)
}

func clusterStatusOf(ctx context.Context, m *testMember) (protocol.ClusterStatusResponse, error) {
	var st protocol.ClusterStatusResponse
	err := rpc(ctx, m.addr, protocol.TypeClusterStatus, &protocol.Empty{}, &st)
	return st, err
}

func memberOf(st protocol.ClusterStatusResponse, id string) protocol.MemberStatus {
	for _, m := range st.Members {
		if m.ID == id {
			return m
		}
	}
	return protocol.MemberStatus{}
}

// TestClusterJoinRebalancesAndDrainEmptiesANode: three nodes, a topic of 12 partitions RF 2; a
// fourth node joins and placement moves replicas onto it in the background; then n2 is drained
// (asked through n3): every replica and leadership moves off it, with moves limited per node.
// Refusals are checked on the way: a second drain while one runs, and a remove of a live node.
func TestClusterJoinRebalancesAndDrainEmptiesANode(t *testing.T) {
	members := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := rpc(ctx, members[0].addr, protocol.TypeCreateTopic, &protocol.CreateTopicRequest{Name: "e",
		Config: protocol.TopicConfig{Partitions: 12, Replication: 2}}, nil); err != nil {
		t.Fatal(err)
	}
	n4 := startMember(t, "n4", t.TempDir(), []string{members[0].ms.GossipAddr()})
	members = append(members, n4)
	settled := func(what string, check func(protocol.ClusterStatusResponse) error) {
		waitFor(t, 90*time.Second, what, func() error {
			st, err := clusterStatusOf(ctx, members[0])
			if err != nil {
				return err
			}
			if st.Partitions.UnderReplicated != 0 || st.Partitions.Leaderless != 0 || st.Moves.InProgress != 0 || st.Moves.Queued != 0 {
				var md protocol.MetadataResponse
				_ = rpc(ctx, members[0].addr, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{"e"}}, &md)
				var parts []string
				for _, tm := range md.Topics {
					for _, p := range tm.Partitions {
						parts = append(parts, fmt.Sprintf("%d:%s%v", p.Partition, p.Leader, p.Replicas))
					}
				}
				return fmt.Errorf("%+v %+v: %v; partitions %v", st.Partitions, st.Moves, st.Problems, parts)
			}
			return check(st)
		})
	}
	settled("replicas moved onto n4", func(st protocol.ClusterStatusResponse) error {
		if r := memberOf(st, "n4").Replicas; r < 4 {
			return fmt.Errorf("n4 holds %d replicas", r)
		}
		return nil
	})
	err := rpc(ctx, members[2].addr, protocol.TypeClusterAdmin, &protocol.ClusterAdminRequest{Op: protocol.AdminRemove, Node: "n2"}, nil)
	if protocol.CodeOf(err) != protocol.CodeInvalidArgument {
		t.Fatalf("remove of a live node without --force: %v, want a refusal", err)
	}
	if err := rpc(ctx, members[2].addr, protocol.TypeClusterAdmin, &protocol.ClusterAdminRequest{Op: protocol.AdminDrain, Node: "n2"}, nil); err != nil {
		t.Fatalf("drain n2: %v", err)
	}
	err = rpc(ctx, members[2].addr, protocol.TypeClusterAdmin, &protocol.ClusterAdminRequest{Op: protocol.AdminDrain, Node: "n3"}, nil)
	if protocol.CodeOf(err) != protocol.CodeInvalidArgument {
		t.Fatalf("a second drain while n2 drains: %v, want a refusal", err)
	}
	settled("n2 drained", func(st protocol.ClusterStatusResponse) error {
		if m := memberOf(st, "n2"); m.Replicas != 0 || m.Leaders != 0 || m.Operator != "draining" {
			return fmt.Errorf("n2: %+v", m)
		}
		return nil
	})
	// A drained node still hears the catalog (a learner of __meta): it may host replicas again
	// (undrain), and one that stopped hearing it forgot their topics on its next start.
	waitFor(t, 10*time.Second, "n2 a learner of __meta", func() error {
		for _, m := range members {
			if meta := m.b.Node().Meta(); meta.Leadership().IsLeader {
				st, err := meta.Replication(ctx)
				if err != nil {
					return err
				}
				if !slices.Contains(st.Config.Learners, "n2") {
					return fmt.Errorf("__meta's replica set %v", st.Config)
				}
				return nil
			}
		}
		return fmt.Errorf("no leader of __meta")
	})
	for part := range int32(12) {
		waitFor(t, 10*time.Second, "a produce after the drain", func() error {
			leader, _, err := leaderOf(ctx, members, "e", part)
			if err != nil {
				return err
			}
			_, err = produceOne(ctx, leader.addr, "e", part, "after")
			return err
		})
	}
}

// TestClusterLeaveHandsOverLeaderships: a leader stopped gracefully (SIGTERM) hands its
// leaderships over before it closes its listener, so a producer sees a short pause, not a
// failover timeout. The longest gap between two acknowledged produces is logged and bounded.
func TestClusterLeaveHandsOverLeaderships(t *testing.T) {
	members := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rpc(ctx, members[0].addr, protocol.TypeCreateTopic, &protocol.CreateTopicRequest{Name: "l",
		Config: protocol.TopicConfig{Partitions: 1, Replication: 3}}, nil); err != nil {
		t.Fatal(err)
	}
	var leader *testMember
	waitFor(t, 10*time.Second, "a leader", func() error {
		var err error
		leader, _, err = leaderOf(ctx, members, "l", 0)
		return err
	})
	done := make(chan struct{})
	stopped := make(chan struct{})
	var maxGap atomic.Int64
	var acked atomic.Int64
	go func() {
		defer close(done)
		last := time.Now()
		for i := 0; acked.Load() < 300; i++ {
			l, _, err := leaderOf(ctx, members, "l", 0)
			if err == nil {
				_, err = produceOne(ctx, l.addr, "l", 0, fmt.Sprintf("v%d", i))
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				continue
			}
			if gap := time.Since(last); gap.Nanoseconds() > maxGap.Load() {
				maxGap.Store(gap.Nanoseconds())
			}
			last = time.Now()
			if acked.Add(1) == 100 {
				// The node stops beside the producer: stopping inside its loop counted the
				// stop's own time (handover, shutdown, leaving gossip) as a produce gap.
				go func() { defer close(stopped); leader.stop(false) }()
			}
		}
	}()
	<-done
	if acked.Load() >= 100 {
		<-stopped // the stop began at the 100th ack
	}
	if acked.Load() < 300 {
		t.Fatalf("only %d produces acknowledged", acked.Load())
	}
	gap := time.Duration(maxGap.Load())
	t.Logf("longest gap between acknowledged produces while %s left: %v", leader.id, gap)
	if gap > time.Second {
		t.Fatalf("a graceful leave paused produces for %v: the leadership was not handed over", gap)
	}
}

// TestClusterGroupsSurviveFailover: Redis commands sent to a node that does not lead the stream
// are forwarded to the leader; consumer-group state (pending entries, delivery counts, the
// last-delivered id) is replicated with the log, so after the leader is killed the new leader
// answers XPENDING and XINFO GROUPS exactly as before, and XREADGROUP goes on where it was.
func TestClusterGroupsSurviveFailover(t *testing.T) {
	members := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rpc(ctx, members[0].addr, protocol.TypeCreateTopic, &protocol.CreateTopicRequest{Name: "gs",
		Config: protocol.TopicConfig{Partitions: 1, Replication: 3}}, nil); err != nil {
		t.Fatal(err)
	}
	var leader *testMember
	waitFor(t, 10*time.Second, "a leader of gs/0", func() error {
		var err error
		leader, _, err = leaderOf(ctx, members, "gs", 0)
		return err
	})
	var other *testMember // a node that does not lead: every command is forwarded
	for _, m := range members {
		if m != leader {
			other = m
			break
		}
	}
	do := func(m *testMember, line string) string {
		t.Helper()
		var got string
		waitFor(t, 15*time.Second, line, func() error {
			got = redisDo(t, m.b, line)
			if strings.HasPrefix(got, "-TRYAGAIN") {
				return fmt.Errorf("%s: %s", line, got)
			}
			return nil
		})
		return got
	}
	for i := 1; i <= 10; i++ {
		if got := do(other, fmt.Sprintf("XADD gs 1-%d n %d", i, i)); got != fmt.Sprintf("$3\r\n1-%d\r\n", i) && got != fmt.Sprintf("$4\r\n1-%d\r\n", i) {
			t.Fatalf("XADD 1-%d through %s: %q", i, other.id, got)
		}
	}
	steps := []string{
		"XGROUP CREATE gs g 0",
		"XREADGROUP GROUP g alice COUNT 4 STREAMS gs >",
		"XREADGROUP GROUP g bob COUNT 3 STREAMS gs >",
		"XACK gs g 1-1 1-5",
		"XREADGROUP GROUP g alice STREAMS gs 0", // alice's history: delivery counts go to 2
		"XCLAIM gs g carol 0 1-6 JUSTID",        // JUSTID leaves the delivery count as it is (Redis)
	}
	for _, s := range steps {
		if got := do(other, s); strings.HasPrefix(got, "-") {
			t.Fatalf("%s: %q", s, got)
		}
	}
	// Idle times differ between the two reads: compare ids, owners and delivery counts.
	pending := func(m *testMember) string {
		v := do(m, "XPENDING gs g - + 100")
		parsed, _, err := resp.ParseReply([]byte(v))
		if err != nil {
			t.Fatalf("XPENDING reply %q: %v", v, err)
		}
		var out []string
		for _, e := range parsed.Elems() {
			f := e.Elems()
			out = append(out, fmt.Sprintf("%s:%s:%d", f[0].Bytes(), f[1].Bytes(), f[3].Int()))
		}
		return strings.Join(out, " ")
	}
	groups := func(m *testMember) string { return do(m, "XINFO GROUPS gs") }
	wantPending, wantGroups := pending(other), groups(other)
	if wantPending != "1-2:alice:2 1-3:alice:2 1-4:alice:2 1-6:carol:1 1-7:bob:1" {
		t.Fatalf("pending before the kill: %s", wantPending)
	}
	leader.stop(true)
	var survivor *testMember
	for _, m := range members {
		if !m.killed.Load() {
			survivor = m
			break
		}
	}
	waitFor(t, 20*time.Second, "a new leader of gs/0", func() error {
		l, _, err := leaderOf(ctx, members, "gs", 0)
		if err == nil && l == leader {
			return fmt.Errorf("still the old leader")
		}
		return err
	})
	if got := pending(survivor); got != wantPending {
		t.Errorf("pending after the failover:\n got %s\nwant %s", got, wantPending)
	}
	if got := groups(survivor); got != wantGroups {
		t.Errorf("XINFO GROUPS after the failover:\n got %q\nwant %q", got, wantGroups)
	}
	want := "*1\r\n*2\r\n$2\r\ngs\r\n*1\r\n*2\r\n$3\r\n1-8\r\n*2\r\n$1\r\nn\r\n$1\r\n8\r\n"
	if got := do(survivor, "XREADGROUP GROUP g dave COUNT 1 STREAMS gs >"); got != want {
		t.Errorf("the next new entry after the failover:\n got %q\nwant %q", got, want)
	}
}
