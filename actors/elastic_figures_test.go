package actors

// TestElasticFigures measures the figures of the elastic-cluster issue (opt-in:
// SHOAL_ELASTIC_FIGURES=1; about a minute): in-process brokers on real memberlist, TCP and
// files, a topic of 24 partitions RF 3 with about 300 KB per partition (RF 3 so that a leave
// and a crash each leave a majority: with RF 2 one lost node stops a partition until it returns).
//  1. bytes sent to new replicas on a join 3→4, a join 4→5 and a drain, against the minimum:
//     the bytes of the replicas whose node changed (each partition's log size);
//  2. the longest gap between acknowledged produces while a node drains and while a leader leaves;
//  3. the time to restore RF after a crash, against the bytes copied;
//  4. leaders per node (max/mean) after the joins and the drain.
//
// TestMoveThrottleBoundsACatchUp (in make test) checks --move-rate on the same in-process nodes.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
)

const figTopic = "fig"

// replicaSets returns each partition's voters as the leaders report them.
func replicaSets(ctx context.Context, m *testMember, topic string, parts int) (map[int32][]string, error) {
	var md protocol.MetadataResponse
	if err := rpc(ctx, m.addr, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{topic}}, &md); err != nil {
		return nil, err
	}
	if len(md.Topics) != 1 || len(md.Topics[0].Partitions) != parts {
		return nil, fmt.Errorf("metadata: %+v", md.Topics)
	}
	out := map[int32][]string{}
	for _, p := range md.Topics[0].Partitions {
		out[p.Partition] = p.Replicas
	}
	return out, nil
}

// movedBytes sums the bytes the nodes' leaders sent to new replicas.
func movedBytes(members []*testMember) uint64 {
	var n uint64
	for _, m := range members {
		if m.killed.Load() {
			continue
		}
		for _, s := range m.b.Node().Stats() {
			n += s.MovedBytes
		}
	}
	return n
}

// resentBytes sums the bytes the nodes' leaders sent to new replicas a second time.
func resentBytes(members []*testMember) uint64 {
	var n uint64
	for _, m := range members {
		if !m.killed.Load() {
			st, _ := m.b.MoveThrottle()
			n += st.ResentBytes
		}
	}
	return n
}

// partitionBytes returns each partition's log size on any live replica.
func partitionBytes(members []*testMember, topic string) map[int32]int64 {
	out := map[int32]int64{}
	for _, m := range members {
		if m.killed.Load() {
			continue
		}
		for _, s := range m.b.Node().Stats() {
			if s.Topic == topic && s.Bytes > out[s.Partition] {
				out[s.Partition] = s.Bytes
			}
		}
	}
	return out
}

// minimumBytes: the bytes of the replica slots whose node changed between two assignments.
func minimumBytes(before, after map[int32][]string, sizes map[int32]int64) int64 {
	var total int64
	for p, set := range after {
		for _, id := range set {
			if !slices.Contains(before[p], id) {
				total += sizes[p]
			}
		}
	}
	return total
}

func leaderBalance(st protocol.ClusterStatusResponse) string {
	maxLeaders, sum, n := 0, 0, 0
	for _, m := range st.Members {
		if m.State != "alive" || m.Operator != "" {
			continue
		}
		maxLeaders, sum, n = max(maxLeaders, m.Leaders), sum+m.Leaders, n+1
	}
	if n == 0 || sum == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f (max %d, mean %.1f over %d nodes)", float64(maxLeaders)/(float64(sum)/float64(n)), maxLeaders, float64(sum)/float64(n), n)
}

func TestElasticFigures(t *testing.T) {
	if os.Getenv("SHOAL_ELASTIC_FIGURES") == "" {
		t.Skip("set SHOAL_ELASTIC_FIGURES=1 to measure the elastic-cluster figures")
	}
	const parts, grace = 24, 1500 * time.Millisecond
	n1 := startMemberGrace(t, "n1", t.TempDir(), nil, grace)
	seed := []string{n1.ms.GossipAddr()}
	members := []*testMember{n1, startMemberGrace(t, "n2", t.TempDir(), seed, grace), startMemberGrace(t, "n3", t.TempDir(), seed, grace)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	waitFor(t, 20*time.Second, "three members", func() error {
		if n := len(n1.b.Node().View().Alive); n != 3 {
			return fmt.Errorf("%d alive", n)
		}
		return nil
	})
	if err := rpc(ctx, n1.addr, protocol.TypeCreateTopic, &protocol.CreateTopicRequest{Name: figTopic,
		Config: protocol.TopicConfig{Partitions: parts, Replication: 3}}, nil); err != nil {
		t.Fatal(err)
	}
	for part := range int32(parts) {
		for range 30 { // 30 batches of 100 records of 100 bytes: ~300 KB per partition
			waitFor(t, 10*time.Second, "a load produce", func() error {
				leader, _, err := leaderOf(ctx, members, figTopic, part)
				if err != nil {
					return err
				}
				return produceBatch(ctx, leader.addr, figTopic, part, 100)
			})
		}
	}
	settle := func(what string, extra ...func(protocol.ClusterStatusResponse) error) protocol.ClusterStatusResponse {
		var st protocol.ClusterStatusResponse
		waitFor(t, 90*time.Second, what, func() error {
			var err error
			for _, m := range members {
				if m.killed.Load() {
					continue
				}
				if st, err = clusterStatusOf(ctx, m); err == nil {
					break
				}
			}
			if err != nil {
				return err
			}
			if st.Partitions.UnderReplicated != 0 || st.Partitions.Leaderless != 0 || st.Moves.InProgress != 0 || st.Moves.Queued != 0 {
				return fmt.Errorf("%+v %+v %v", st.Partitions, st.Moves, st.Problems)
			}
			for _, check := range extra {
				if err := check(st); err != nil {
					return err
				}
			}
			return nil
		})
		return st
	}
	emptied := func(id string) func(protocol.ClusterStatusResponse) error {
		return func(st protocol.ClusterStatusResponse) error {
			if m := memberOf(st, id); m.Replicas != 0 || m.Leaders != 0 {
				return fmt.Errorf("%s still holds %d replicas, %d leaderships", id, m.Replicas, m.Leaders)
			}
			return nil
		}
	}
	live := func() *testMember {
		for _, m := range members {
			if !m.killed.Load() {
				return m
			}
		}
		return nil
	}
	step := func(name string, act func(), extra ...func(protocol.ClusterStatusResponse) error) {
		before, err := replicaSets(ctx, live(), figTopic, parts)
		if err != nil {
			t.Fatal(err)
		}
		sizes := partitionBytes(members, figTopic)
		sent, resent := movedBytes(members), resentBytes(members)
		start := time.Now()
		act()
		st := settle(name, extra...)
		after, err := replicaSets(ctx, live(), figTopic, parts)
		if err != nil {
			t.Fatal(err)
		}
		moved, minimum := movedBytes(members)-sent, minimumBytes(before, after, sizes)
		ratio := 0.0
		if minimum > 0 {
			ratio = float64(moved) / float64(minimum)
		}
		t.Logf("%s: %d bytes sent to new replicas (%d of them sent again), minimum %d (%.2f×), settled in %v; leaders max/mean %s",
			name, moved, resentBytes(members)-resent, minimum, ratio, time.Since(start).Round(time.Millisecond), leaderBalance(st))
	}
	settle("the topic placed")
	step("join 3→4", func() { members = append(members, startMemberGrace(t, "n4", t.TempDir(), seed, grace)) })
	step("join 4→5", func() { members = append(members, startMemberGrace(t, "n5", t.TempDir(), seed, grace)) })

	// A producer runs through the drain and the leave: the longest gap between acks.
	gapDuring := func(what string, act func()) {
		var maxGap atomic.Int64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			last := time.Now()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				part := int32(i % parts)
				leader, _, err := leaderOf(ctx, members, figTopic, part)
				if err == nil {
					_, err = produceOne(ctx, leader.addr, figTopic, part, "g")
				}
				if err != nil {
					continue
				}
				if gap := time.Since(last); gap.Nanoseconds() > maxGap.Load() {
					maxGap.Store(gap.Nanoseconds())
				}
				last = time.Now()
			}
		}()
		act()
		close(stop)
		<-done
		t.Logf("%s: longest gap between acknowledged produces %v", what, time.Duration(maxGap.Load()).Round(time.Millisecond))
	}
	gapDuring("drain n2", func() {
		step("drain n2", func() {
			if err := rpc(ctx, n1.addr, protocol.TypeClusterAdmin, &protocol.ClusterAdminRequest{Op: protocol.AdminDrain, Node: "n2"}, nil); err != nil {
				t.Fatal(err)
			}
		}, emptied("n2"))
	})
	var left *testMember
	gapDuring("SIGTERM leave of a leader", func() {
		var err error
		if left, _, err = leaderOf(ctx, members, figTopic, 0); err != nil {
			t.Fatal(err)
		}
		left.stop(false)
	})
	settle("RF restored after "+left.id+" left", emptied(left.id))
	// n2 takes replicas again, so a crash leaves a spare node to restore RF on.
	if err := rpc(ctx, n1.addr, protocol.TypeClusterAdmin, &protocol.ClusterAdminRequest{Op: protocol.AdminUndrain, Node: "n2"}, nil); err != nil {
		t.Fatal(err)
	}
	settle("n2 undrained")
	// A crash: RF restored after the grace period; the copy rate.
	var victim *testMember
	for _, m := range members {
		if !m.killed.Load() && m.id != "n1" && m.id != "n2" {
			victim = m
			break
		}
	}
	if victim == nil {
		t.Fatal("no node left to crash")
	}
	killed := time.Now()
	victim.stop(true)
	sent := movedBytes(members) // without the victim's, as after
	settle("RF restored after the crash of "+victim.id, emptied(victim.id))
	took, copied := time.Since(killed), movedBytes(members)-sent
	copyTime := took - grace
	t.Logf("crash of %s: RF restored %v after the kill (grace %v), %d bytes copied: %.1f MB/s over the time after the grace",
		victim.id, took.Round(time.Millisecond), grace, copied, float64(copied)/copyTime.Seconds()/1e6)
}

// produceBatch produces one batch of n 100-byte records with acks=quorum.
func produceBatch(ctx context.Context, addr, topic string, part int32, n int) error {
	bld := batch.NewBuilder(n * 130)
	bld.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
	value := make([]byte, 100)
	for range n {
		if err := bld.Add(batch.ID{}, time.Now().UnixMilli(), nil, value, nil); err != nil {
			return err
		}
	}
	b, err := bld.Finish()
	if err != nil {
		return err
	}
	var resp protocol.ProduceResponse
	req := &protocol.ProduceRequest{Topic: topic, Batches: []protocol.ProducePartition{{Partition: part, Batch: b}}}
	if err := rpc(ctx, addr, protocol.TypeProduce, req, &resp); err != nil {
		return err
	}
	return resp.Results[0].Error.Err()
}

// startMemberMoveRate starts a node as startMemberGrace does, with a --move-rate.
func startMemberMoveRate(t testing.TB, id, dir string, seeds []string, moveRate int64) *testMember {
	t.Helper()
	return startMemberWith(t, id, dir, seeds, ClusterConfig{DeadGrace: time.Minute, MoveRate: moveRate})
}

// TestMoveThrottleBoundsACatchUp: a node alone holds a topic of 8 partitions RF 1 with 1 MB in
// each and a --move-rate of 2 MiB/s; a second node joins and placement moves about half of the
// partitions onto it (learners caught up, promoted, the first replica removed). Checked with
// the throttle's counters, not timings: while it runs, the bytes granted never exceed the burst
// plus rate × the time since the node started; appends were held back; the moves sent the
// whole logs, so they took at least (bytes − burst) / rate, a lower bound no slow machine breaks.
func TestMoveThrottleBoundsACatchUp(t *testing.T) {
	const rate, parts = 2 << 20, 8
	started := time.Now()
	n1 := startMemberMoveRate(t, "n1", t.TempDir(), nil, rate)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rpc(ctx, n1.addr, protocol.TypeCreateTopic, &protocol.CreateTopicRequest{Name: "thr",
		Config: protocol.TopicConfig{Partitions: parts, Replication: 1}}, nil); err != nil {
		t.Fatal(err)
	}
	for part := range int32(parts) {
		for range 8 { // 8 batches of 1,000 records of 100 bytes: about 1 MB
			waitFor(t, 10*time.Second, "a load produce", func() error { return produceBatch(ctx, n1.addr, "thr", part, 1000) })
		}
	}
	sizes := partitionBytes([]*testMember{n1}, "thr")
	joined := time.Now()
	n2 := startMemberMoveRate(t, "n2", t.TempDir(), []string{n1.ms.GossipAddr()}, rate)
	burst := float64(max(rate/4, 1<<20)) // the bucket's: moveBurstTime 250 ms, at least 1 MiB
	var moved int64
	waitFor(t, 45*time.Second, "partitions moved to n2 and no move left", func() error {
		st, _ := n1.b.MoveThrottle()
		if bound := burst + rate*time.Since(started).Seconds(); float64(st.GrantedBytes) > bound {
			t.Fatalf("the throttle granted %d bytes, over burst + rate × elapsed = %.0f", st.GrantedBytes, bound)
		}
		sets, err := replicaSets(ctx, n1, "thr", parts)
		if err != nil {
			return err
		}
		cs, err := clusterStatusOf(ctx, n1)
		if err != nil {
			return err
		}
		moved = 0
		for p, set := range sets {
			if slices.Equal(set, []string{"n2"}) {
				moved += sizes[p]
			}
		}
		if moved == 0 || cs.Moves.InProgress+cs.Moves.Queued > 0 {
			return fmt.Errorf("replicas %v, moves %+v, throttle %+v", sets, cs.Moves, st)
		}
		return nil
	})
	took := time.Since(joined)
	st, _ := n1.b.MoveThrottle()
	if st.GrantedBytes < uint64(moved) || st.HeldAppends == 0 {
		t.Fatalf("throttle %+v: want at least the moved logs' %d bytes granted and appends held back", st, moved)
	}
	if least := time.Duration((float64(moved) - burst) / rate * float64(time.Second)); took < least {
		t.Fatalf("moves of %d bytes at %d B/s took %v, less than (bytes − burst) / rate = %v", moved, rate, took, least)
	}
	t.Logf("moved %d bytes to %s in %v at --move-rate %d B/s (%.0f%% of the rate, join and promotions included); throttle %+v",
		moved, n2.id, took.Round(time.Millisecond), rate, 100*float64(moved)/took.Seconds()/rate, st)
}

// TestElasticRestoreRate measures the copy rate of an RF restore with enough data for the rate
// to mean something (opt-in: SHOAL_ELASTIC_FIGURES=1; SHOAL_RESTORE_MB sets the data, default
// 200 MB across 8 partitions RF 3 on four nodes, no --move-rate). One node other than n1 is
// killed; the copy time runs from the first byte sent to a new replica to the last partition
// back at RF 3, so detection and the grace period are left out.
func TestElasticRestoreRate(t *testing.T) {
	if os.Getenv("SHOAL_ELASTIC_FIGURES") == "" {
		t.Skip("set SHOAL_ELASTIC_FIGURES=1 to measure the RF-restore copy rate")
	}
	const parts, grace = 8, 1500 * time.Millisecond
	totalMB := 200
	if v := os.Getenv("SHOAL_RESTORE_MB"); v != "" {
		if _, err := fmt.Sscan(v, &totalMB); err != nil {
			t.Fatalf("SHOAL_RESTORE_MB=%q: %v", v, err)
		}
	}
	// SHOAL_RESTORE_MOVE_RATE (bytes/s) runs the nodes with a move throttle (default: none).
	var moveRate int64
	if v := os.Getenv("SHOAL_RESTORE_MOVE_RATE"); v != "" {
		if _, err := fmt.Sscan(v, &moveRate); err != nil {
			t.Fatalf("SHOAL_RESTORE_MOVE_RATE=%q: %v", v, err)
		}
	}
	cc := ClusterConfig{DeadGrace: grace, MoveRate: moveRate}
	n1 := startMemberWith(t, "n1", t.TempDir(), nil, cc)
	seed := []string{n1.ms.GossipAddr()}
	members := []*testMember{n1}
	for _, id := range []string{"n2", "n3", "n4"} {
		members = append(members, startMemberWith(t, id, t.TempDir(), seed, cc))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	waitFor(t, 20*time.Second, "four members", func() error {
		if n := len(n1.b.Node().View().Alive); n != 4 {
			return fmt.Errorf("%d alive", n)
		}
		return nil
	})
	if err := rpc(ctx, n1.addr, protocol.TypeCreateTopic, &protocol.CreateTopicRequest{Name: figTopic,
		Config: protocol.TopicConfig{Partitions: parts, Replication: 3}}, nil); err != nil {
		t.Fatal(err)
	}
	batches := totalMB << 20 / parts / (1000 * 130) // produceBatch(…, 1000): about 130 KB
	loadStart := time.Now()
	for part := range int32(parts) {
		leader, _, err := leaderOf(ctx, members, figTopic, part)
		if err != nil {
			t.Fatal(err)
		}
		for range batches {
			waitFor(t, 10*time.Second, "a load produce", func() error { return produceBatch(ctx, leader.addr, figTopic, part, 1000) })
		}
	}
	t.Logf("loaded %d MB in %v", totalMB, time.Since(loadStart).Round(time.Millisecond))
	var victim *testMember
	for _, m := range members[1:] {
		if len(m.b.Node().Stats()) > 1 {
			victim = m
			break
		}
	}
	restored := func() error {
		st, err := clusterStatusOf(ctx, n1)
		if err != nil {
			return err
		}
		if st.Partitions.UnderReplicated != 0 || st.Partitions.Leaderless != 0 || memberOf(st, victim.id).Replicas != 0 {
			return fmt.Errorf("%+v %v", st.Partitions, st.Problems)
		}
		return nil
	}
	killed := time.Now()
	victim.stop(true)
	sent := movedBytes(members) // without the victim's, as after
	var firstByte time.Time
	waitFor(t, 5*time.Minute, "RF restored after the crash of "+victim.id, func() error {
		if firstByte.IsZero() && movedBytes(members) > sent {
			firstByte = time.Now()
		}
		return restored()
	})
	done := time.Now()
	copied := movedBytes(members) - sent
	t.Logf("crash of %s: RF restored %v after the kill (grace %v); %d bytes copied in %v from the first byte: %.1f MB/s (resent %d)",
		victim.id, done.Sub(killed).Round(time.Millisecond), grace, copied, done.Sub(firstByte).Round(time.Millisecond),
		float64(copied)/done.Sub(firstByte).Seconds()/1e6, resentBytes(members))
}
