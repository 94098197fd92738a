package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalmq/shoal/actors/node"
	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/cluster"
	"github.com/shoalmq/shoal/protocol"
)

var errUnknownPeer = errors.New("no broker address known for that node")

// How long a catalog change waits for __meta to have a leader, and how often it looks.
const (
	metaLeaderWait = 3 * time.Second
	metaLeaderPoll = 20 * time.Millisecond
)

// clusterRuntime is the broker's cluster half: the peer links, the membership watcher and the
// ticker of the replication cores.
type clusterRuntime struct {
	cfg   ClusterConfig
	peers *peers
	// throttle is the node's budget of bytes sent to learners (ClusterConfig.MoveRate).
	throttle *partition.MoveThrottle
	members  atomic.Pointer[map[string]cluster.Member]
	stop     chan struct{}
	wg       sync.WaitGroup

	// forward holds connections to other nodes for forwarded catalog changes.
	forwardMu sync.Mutex
	forward   map[string]PeerConn
	dial      func(ctx context.Context, addr string) (PeerConn, error)
	log       *slog.Logger
}

func newClusterRuntime(cfg ClusterConfig, self string, b *Broker) *clusterRuntime {
	rt := &clusterRuntime{cfg: cfg.withDefaults(), stop: make(chan struct{}), forward: map[string]PeerConn{}, log: b.log}
	empty := map[string]cluster.Member{}
	rt.members.Store(&empty)
	rt.dial = rt.cfg.Dial
	if rt.dial == nil {
		rt.dial = tcpDial("shoal-peer-" + self)
	}
	rt.peers = newPeers(self, rt.brokerAddr, rt.dial, b.log)
	rt.throttle = partition.NewMoveThrottle(rt.cfg.MoveRate, b.cfg.Now)
	return rt
}

// brokerAddr returns a member's broker address.
func (rt *clusterRuntime) brokerAddr(id string) (string, bool) {
	m, ok := (*rt.members.Load())[id]
	if !ok || m.BrokerAddr == "" {
		return "", false
	}
	return m.BrokerAddr, true
}

func (rt *clusterRuntime) nodeConfig(self string) *node.ClusterConfig {
	return &node.ClusterConfig{NodeID: self, Peers: rt.peers, Bootstrap: rt.cfg.Bootstrap,
		HeartbeatTicks: rt.cfg.HeartbeatTicks, ElectionTicks: rt.cfg.ElectionTicks, MoveThrottle: rt.throttle}
}

// start runs the membership watcher and the ticker.
func (rt *clusterRuntime) start(n *node.Node) {
	rt.wg.Add(2)
	go rt.watchMembership(n)
	go rt.tick(n)
}

// close stops the goroutines; the peer links close after the node stopped (partitions send
// while they stop).
func (rt *clusterRuntime) close() {
	close(rt.stop)
	rt.wg.Wait()
}

func (rt *clusterRuntime) closePeers() {
	rt.peers.close()
	rt.forwardMu.Lock()
	defer rt.forwardMu.Unlock()
	for addr, c := range rt.forward {
		_ = c.Close()
		delete(rt.forward, addr)
	}
}

// tick drives the replication cores, and every few ticks announces this node's leaderships to
// the other live members.
func (rt *clusterRuntime) tick(n *node.Node) {
	defer rt.wg.Done()
	t := time.NewTicker(rt.cfg.TickInterval)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-t.C:
			n.Tick()
			if i%announceTicks == 0 {
				rt.announce(n)
			}
			if i%rebalanceTicks == 0 {
				n.Rebalance()
			}
		case <-rt.stop:
			return
		}
	}
}

// announceTicks: leaderships are announced every this many ticks (and metadata of a node that
// holds no replica lags a leader change by at most that). rebalanceTicks: placement is compared
// with the replica sets every this many ticks (moves that finished let queued ones start).
const (
	announceTicks  = 4
	rebalanceTicks = 20
)

func (rt *clusterRuntime) announce(n *node.Node) {
	notices := n.Leaderships()
	if len(notices) == 0 {
		return
	}
	view := n.View()
	for _, id := range view.Alive {
		for _, ln := range notices {
			rt.peers.Announce(id, ln)
		}
	}
}

// watchMembership turns membership events into views for the node: who is alive, and who is
// eligible for placement (alive, or dead or gone for less than the grace period).
func (rt *clusterRuntime) watchMembership(n *node.Node) {
	defer rt.wg.Done()
	m := rt.cfg.Membership
	members := map[string]cluster.Member{}
	for _, mem := range m.Members() {
		members[mem.ID] = mem
	}
	downSince := map[string]time.Time{}
	flaps := map[string]*flapScore{}
	last, lastFlapping := "", ""
	publish := func() {
		view, sig := rt.view(members, downSince, time.Now())
		now := time.Now()
		for id, f := range flaps {
			if f.update(now) {
				view.Flapping = append(view.Flapping, id)
			}
		}
		slices.Sort(view.Flapping)
		if f := strings.Join(view.Flapping, ","); f != lastFlapping {
			// Said, because a drain or a heal that waits for a flapping member looks stuck.
			rt.log.Info("cluster: flapping members changed; no replica moves onto them until they settle",
				"flapping", view.Flapping, "half_life", flapHalfLife)
			lastFlapping = f
		}
		sig += "|flapping:" + strings.Join(view.Flapping, ",")
		copied := make(map[string]cluster.Member, len(members))
		for id, mem := range members {
			copied[id] = mem
		}
		rt.members.Store(&copied)
		if sig != last {
			last = sig
			n.SetView(view)
		}
	}
	publish()
	ticker := time.NewTicker(max(rt.cfg.DeadGrace/10, 100*time.Millisecond))
	defer ticker.Stop()
	for {
		select {
		case ev := <-m.Events():
			if ev.Resync {
				members = map[string]cluster.Member{}
				for _, mem := range m.Members() {
					members[mem.ID] = mem
				}
			}
			if prev, ok := members[ev.Member.ID]; ok && prev.State.Gone() && !ev.Member.State.Gone() {
				f := flaps[ev.Member.ID]
				if f == nil {
					f = &flapScore{}
					flaps[ev.Member.ID] = f
				}
				f.cameBack(time.Now())
			}
			members[ev.Member.ID] = ev.Member
			publish()
		case <-ticker.C:
			publish()
		case <-rt.stop:
			return
		}
	}
}

// view computes the node's view and a signature of it (to skip unchanged ones).
func (rt *clusterRuntime) view(members map[string]cluster.Member, downSince map[string]time.Time, now time.Time) (node.View, string) {
	var v node.View
	for id, mem := range members {
		if !mem.State.Gone() {
			delete(downSince, id)
			v.Alive = append(v.Alive, id)
			v.Eligible = append(v.Eligible, id)
			v.Brokers = append(v.Brokers, protocol.Broker{NodeID: id, Addr: mem.BrokerAddr})
			continue
		}
		since, ok := downSince[id]
		if !ok {
			since, downSince[id] = now, now
		}
		if now.Sub(since) < rt.cfg.DeadGrace {
			v.Eligible = append(v.Eligible, id)
		}
	}
	slices.Sort(v.Alive)
	slices.Sort(v.Eligible)
	slices.SortFunc(v.Brokers, func(a, b protocol.Broker) int { return strings.Compare(a.NodeID, b.NodeID) })
	sig := strings.Join(v.Alive, ",") + "|" + strings.Join(v.Eligible, ",")
	for _, b := range v.Brokers {
		sig += "|" + b.Addr
	}
	return v, sig
}

// forwardCall sends a request to the node leader (the leader of __meta, or of a partition) and
// decodes its answer into resp (nil: none wanted).
func (rt *clusterRuntime) forwardCall(ctx context.Context, leader string, t protocol.MessageType, req, resp any) error {
	addr, ok := rt.brokerAddr(leader)
	if !ok {
		return protocol.Errorf(protocol.ErrUnavailable, "the leader %s has no known address yet: retry shortly", leader)
	}
	rt.forwardMu.Lock()
	conn := rt.forward[addr]
	rt.forwardMu.Unlock()
	if conn == nil {
		c, err := rt.dial(ctx, addr)
		if err != nil {
			return protocol.Errorf(protocol.ErrUnavailable, "forward to the leader %s at %s: %v", leader, addr, err)
		}
		rt.forwardMu.Lock()
		if old := rt.forward[addr]; old != nil {
			_ = c.Close()
			c = old
		} else {
			rt.forward[addr] = c
		}
		rt.forwardMu.Unlock()
		conn = c
	}
	err := conn.Call(ctx, t, req, resp)
	if err != nil && protocol.CodeOf(err) == protocol.CodeUnknown && !errors.Is(err, protocol.ErrUnknown) {
		// Not an answer of the leader: the connection failed; drop it.
		_ = conn.Close()
		rt.forwardMu.Lock()
		if rt.forward[addr] == conn {
			delete(rt.forward, addr)
		}
		rt.forwardMu.Unlock()
		return protocol.Errorf(protocol.ErrUnavailable, "forward to the leader %s: %v", leader, err)
	}
	return err
}

// viaMetaLeader runs a catalog change locally, or on the __meta leader when this node does not
// lead it, then waits until this node's catalog shows the change (present: whether the topic
// must exist afterwards).
func (b *Broker) viaMetaLeader(ctx context.Context, name string, present bool, local func() error, t protocol.MessageType, req any) error {
	err := local()
	var notLeader *node.ErrNotMetaLeader
	if !errors.As(err, &notLeader) || b.cluster == nil {
		return err
	}
	written := notLeader.Written
	// A catalog between leaders (a failover or a handover) has one again within an election
	// timeout or two: wait for it rather than fail the operator's command.
	for wait := time.NewTimer(metaLeaderWait); notLeader.Leader == ""; {
		select {
		case <-ctx.Done():
			return err
		case <-wait.C:
			return err
		case <-time.After(metaLeaderPoll):
		}
		if err = local(); !errors.As(err, &notLeader) {
			return err
		}
		written = written || notLeader.Written
	}
	if err := b.cluster.forwardCall(ctx, notLeader.Leader, t, req, nil); err != nil {
		// A change this node appended before its leadership moved may have committed: the
		// retry then finds it done (a create finds the topic, a delete finds none).
		done := (present && protocol.CodeOf(err) == protocol.CodeTopicExists) || (!present && protocol.CodeOf(err) == protocol.CodeUnknownTopic)
		if !written || !done || name == "" {
			return err
		}
	}
	if name == "" {
		return b.node.WaitCatalog(ctx)
	}
	return b.node.WaitTopic(ctx, name, present)
}

// ensureTopicClustered returns a topic, creating it through the catalog leader when needed.
func (b *Broker) ensureTopic(ctx context.Context, name string) (*node.Topic, error) {
	var t *node.Topic
	err := b.viaMetaLeader(ctx, name, true, func() error {
		var err error
		t, err = b.node.EnsureTopic(ctx, name)
		return err
	}, protocol.TypeCreateTopic, &protocol.CreateTopicRequest{Name: name})
	if protocol.CodeOf(err) == protocol.CodeTopicExists {
		err = b.node.WaitTopic(ctx, name, true)
	}
	if err != nil {
		return nil, err
	}
	if t == nil {
		var ok bool
		if t, ok = b.node.Topic(name); !ok {
			return nil, fmt.Errorf("topic %q was created but is not in this node's catalog", name)
		}
	}
	return t, nil
}

// clusterAdmin applies an operator's decision through the catalog leader.
func (b *Broker) clusterAdmin(ctx context.Context, req *protocol.ClusterAdminRequest) (*protocol.Empty, error) {
	if err := b.notStopping(); err != nil {
		return nil, err
	}
	if req.Op == protocol.AdminRemove && req.Force && b.cluster != nil && !b.node.View().IsAlive(req.Node) {
		b.spreadGone(ctx, req)
		if req.Hint {
			return &protocol.Empty{}, nil
		}
	}
	err := b.viaMetaLeader(ctx, "", true, func() error { return b.node.Admin(ctx, *req) }, protocol.TypeClusterAdmin, req)
	if err != nil {
		return nil, err
	}
	return &protocol.Empty{}, nil
}

// spreadGone notes a node removed with --force as gone here and, for the request an operator
// sent, on every other live member (best effort, each bounded by gonePassBound): a catalog whose
// surviving voters restarted unclean cannot elect a leader to take the removal until its
// candidate knows the node is gone for good, and any member may be that candidate.
func (b *Broker) spreadGone(ctx context.Context, req *protocol.ClusterAdminRequest) {
	b.node.NoteGone(req.Node)
	if req.Hint {
		return
	}
	hint := *req
	hint.Hint = true
	// In parallel and bounded: the operator's request waits for this, and one member that does
	// not answer must not hold it past the client's timeout (cluster simulator seed 92).
	cctx, cancel := context.WithTimeout(ctx, gonePassBound)
	defer cancel()
	var wg sync.WaitGroup
	for _, id := range b.node.View().Alive {
		if id == b.cfg.NodeID || id == req.Node {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.cluster.forwardCall(cctx, id, protocol.TypeClusterAdmin, &hint, nil); err != nil {
				b.log.Warn("broker: could not pass a forced removal on", "node", req.Node, "to", id, "err", err)
			}
		}()
	}
	wg.Wait()
}

// gonePassBound bounds passing a forced removal to the other members.
const gonePassBound = 500 * time.Millisecond

// replicate hands the messages of a replicate request to their replicas, in order.
func (b *Broker) replicate(body []byte) error {
	var req protocol.ReplicateRequest
	if err := protocol.Unmarshal(body, &req); err != nil {
		return err
	}
	if b.cluster == nil {
		return protocol.Errorf(protocol.ErrInvalidArgument, "node %s is not a member of a cluster", b.cfg.NodeID)
	}
	for _, m := range req.Messages {
		b.node.Deliver(m)
	}
	b.node.NoteLeaders(req.Leaders)
	return nil
}

// clusterStatus describes the members and the partitions' health as this node sees them: the
// partitions it holds a replica of from their replicas, the others from the catalog's replica
// sets and the membership.
func (b *Broker) clusterStatus(ctx context.Context, _ *protocol.Empty) (*protocol.ClusterStatusResponse, error) {
	resp := &protocol.ClusterStatusResponse{Members: []protocol.MemberStatus{}}
	counts := map[string]*protocol.MemberStatus{}
	if b.cluster == nil {
		resp.Members = append(resp.Members, protocol.MemberStatus{ID: b.cfg.NodeID, State: cluster.StateAlive.String(), BrokerAddr: b.cfg.BrokerAddr})
		counts[b.cfg.NodeID] = &resp.Members[0]
	} else {
		resp.ClusterID = b.cluster.cfg.Membership.ClusterID()
		members := *b.cluster.members.Load()
		ids := make([]string, 0, len(members))
		for id := range members {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		ops := b.node.Operations()
		for _, id := range ids {
			m := members[id]
			resp.Members = append(resp.Members, protocol.MemberStatus{ID: id, State: m.State.String(), BrokerAddr: m.BrokerAddr,
				GossipAddr: m.GossipAddr, HTTPAddr: m.HTTPAddr, Operator: ops.Nodes[id]})
		}
		moves := b.node.Moves()
		resp.Moves = protocol.MoveCounts{InProgress: moves.InProgress, Queued: moves.Queued, Paused: ops.Paused}
		others := b.node.AnnouncedMoves()
		resp.Moves.InProgress += others.InProgress
		resp.Moves.Queued += others.Queued
		for i := range resp.Members {
			counts[resp.Members[i].ID] = &resp.Members[i]
		}
	}
	alive := func(id string) bool {
		m, ok := counts[id]
		return ok && (m.State == cluster.StateAlive.String() || m.State == cluster.StateSuspect.String())
	}
	check := func(name string, rf int, replicas []string, leader string, inSync []string) {
		resp.Partitions.Total++
		for _, id := range replicas {
			if m := counts[id]; m != nil {
				m.Replicas++
			}
		}
		if m := counts[leader]; m != nil && alive(leader) {
			m.Leaders++
		} else {
			resp.Partitions.Leaderless++
			resp.Problems = append(resp.Problems, fmt.Sprintf("%s: no leader (replicas %s)", name, describeReplicas(replicas, alive)))
			return
		}
		healthy := inSync
		if healthy == nil {
			healthy = slices.DeleteFunc(slices.Clone(replicas), func(id string) bool { return !alive(id) })
		}
		if len(healthy) < rf {
			resp.Partitions.UnderReplicated++
			resp.Problems = append(resp.Problems, fmt.Sprintf("%s: under-replicated, %d of %d replicas in sync (replicas %s)",
				name, len(healthy), rf, describeReplicas(replicas, alive)))
		}
	}
	if meta := b.node.Meta(); meta != nil {
		lead := meta.Leadership()
		check(node.MetaTopic+"/0", min(b.node.PlacementMembers(), 3), lead.Replicas, lead.Leader, nil)
	}
	for _, t := range b.node.Topics() {
		for id, p := range t.Partitions {
			name := fmt.Sprintf("%s/%d", t.Settings.Name, id)
			if p == nil || p.Leadership().Stale {
				leader, _, replicas := b.node.GuessLeader(t, int32(id))
				check(name, int(t.Settings.Replication), replicas, leader, nil)
				continue
			}
			pm := partitionMetadata(ctx, p)
			check(name, int(t.Settings.Replication), pm.Replicas, pm.Leader, pm.InSync)
		}
	}
	return resp, nil
}

// describeReplicas lists replicas, marking the ones that are not alive.
func describeReplicas(ids []string, alive func(string) bool) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id
		if !alive(id) {
			parts[i] += " (down)"
		}
	}
	return strings.Join(parts, ", ")
}

// MoveThrottle returns the node's move budget and the estimate of the bytes its moves still
// have to send, and false when the node is standalone.
func (b *Broker) MoveThrottle() (partition.MoveThrottleStats, bool) {
	if b.cluster == nil {
		return partition.MoveThrottleStats{}, false
	}
	return b.cluster.throttle.Stats(), true
}
