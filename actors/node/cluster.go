package node

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/cluster/placement"
	"github.com/shoalmq/shoal/cluster/ring"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
)

// MetaTopic is the replicated catalog: one partition, RF 3 (fewer on a smaller cluster), with
// every other node a learner so each node reads the catalog from its own replica.
const (
	MetaTopic     = "__meta"
	metaDir       = "meta"
	metaMaxVoters = 3
	// metaReadBytes bounds one read of the catalog's log.
	metaReadBytes = 1 << 20
)

// ClusterConfig makes the node a member of a cluster (nil: standalone).
type ClusterConfig struct {
	// NodeID is this node; Peers reaches the others.
	NodeID string
	Peers  partition.Peers
	// Bootstrap: this node starts a new cluster and creates __meta with itself as its voter.
	Bootstrap bool
	// Replication core timing (0: its defaults).
	HeartbeatTicks, ElectionTicks int
	// MoveThrottle limits the bytes the node's leaders send to learners of topic partitions
	// (nil: no limit, nothing counted as moved). The catalog never uses it.
	MoveThrottle *partition.MoveThrottle
}

// View is the node's picture of the membership, given by the broker whenever it changes.
type View struct {
	// Alive lists the members believed alive (this node included); Eligible adds the members
	// dead for less than the grace period: placement keeps their replicas in place.
	Alive, Eligible []string
	// Brokers are the alive members' broker addresses (for metadata).
	Brokers []protocol.Broker
	// Flapping members came back from the dead too often lately: placement starts no move onto
	// them and puts them last for leadership until they settle.
	Flapping []string
}

func (v *View) isAlive(id string) bool { return v != nil && slices.Contains(v.Alive, id) }

// IsAlive reports whether the view counts member id alive.
func (v View) IsAlive(id string) bool { return v.isAlive(id) }

// ErrNotMetaLeader means a catalog change reached a node that does not lead __meta; the broker
// forwards the request to Leader ("" when none is known).
type ErrNotMetaLeader struct {
	Leader string
	// Written: the change was appended to this node's __meta log before its leadership moved,
	// so it may commit under the next leader: a retry that finds it done has succeeded.
	Written bool
}

func (e *ErrNotMetaLeader) Error() string {
	if e.Leader == "" {
		return "the catalog (__meta) has no leader right now: retry shortly"
	}
	return fmt.Sprintf("the catalog (__meta) is led by %s", e.Leader)
}

// Unwrap makes the error a protocol.ErrNotLeader (ErrUnavailable without a leader).
func (e *ErrNotMetaLeader) Unwrap() error {
	if e.Leader == "" {
		return protocol.ErrUnavailable
	}
	return protocol.ErrNotLeader
}

// metaRecord is one entry of the catalog's log: a topic's settings or its deletion, or an
// operator's decision (a node's state, rebalancing paused or not).
type metaRecord struct {
	Topic    string         `json:"topic,omitempty"`
	Settings *TopicSettings `json:"settings,omitempty"` // with Topic; nil: deleted
	Ops      *opsChange     `json:"ops,omitempty"`
	// offset is where the record sits in the catalog's log (not stored: the log says it).
	offset uint64
}

// clusterState is the node's cluster half; nil fields in standalone mode.
type clusterState struct {
	view atomic.Pointer[View]
	meta *partition.Partition
	// applied is the catalog log offset applied to the local catalog; appliedCh is closed and
	// replaced whenever it rises.
	appliedMu sync.Mutex
	applied   uint64
	appliedCh chan struct{}
	// createMu serialises catalog writes on the __meta leader, so its existence checks see
	// every earlier write applied.
	createMu   sync.Mutex
	followStop chan struct{}
	followDone chan struct{}
	// leaders are the leaderships other nodes announced, by "topic/partition".
	leadersMu sync.Mutex
	leaders   map[string]announced
	// ops are the operator's decisions and the moves under way.
	ops opsState
	// dropped: by "topic/partition", the epoch of a replica this node dropped when its replica
	// set no longer named it (in memory; see startsReplica).
	droppedMu sync.Mutex
	dropped   map[string]uint64
}

func newClusterState(applied uint64) *clusterState {
	c := &clusterState{applied: applied, appliedCh: make(chan struct{}), followStop: make(chan struct{}),
		followDone: make(chan struct{}), leaders: map[string]announced{}}
	c.view.Store(&View{})
	c.ops.ops.Store(&Operations{Nodes: map[string]string{}})
	c.ops.moves.Store(&Moves{})
	c.ops.moving.Store(&map[string]string{})
	return c
}

// setApplied records that the catalog log is applied up to end.
func (c *clusterState) setApplied(end uint64) {
	c.appliedMu.Lock()
	defer c.appliedMu.Unlock()
	if end > c.applied {
		c.applied = end
		close(c.appliedCh)
		c.appliedCh = make(chan struct{})
	}
}

// waitApplied blocks until the catalog log is applied up to end.
func (c *clusterState) waitApplied(ctx context.Context, end uint64) error {
	for {
		c.appliedMu.Lock()
		applied, ch := c.applied, c.appliedCh
		c.appliedMu.Unlock()
		if applied >= end {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return protocol.Errorf(protocol.ErrTimeout, "the catalog change at %d is not applied on this node yet (%v)", end, ctx.Err())
		}
	}
}

// WaitCatalog blocks until this node's catalog has applied everything its __meta replica had
// committed when it was called (a no-op standalone). A node that forwarded a catalog change
// calls it before it answers.
func (n *Node) WaitCatalog(ctx context.Context) error {
	if n.cluster == nil {
		return nil
	}
	return n.cluster.waitApplied(ctx, n.cluster.meta.HighWatermark())
}

// Meta returns the __meta partition (nil standalone).
func (n *Node) Meta() *partition.Partition {
	if n.cluster == nil {
		return nil
	}
	return n.cluster.meta
}

// View returns the last membership view (empty standalone).
func (n *Node) View() View {
	if n.cluster == nil {
		return View{}
	}
	return *n.cluster.view.Load()
}

// Clustered reports whether the node is a member of a cluster.
func (n *Node) Clustered() bool { return n.cluster != nil }

// SetView gives the node a new membership view: every replica hears who is alive, and every
// replica set is compared with placement (see Rebalance).
func (n *Node) SetView(v View) {
	if n.cluster == nil {
		return
	}
	v.Alive, v.Eligible = sortedCopy(v.Alive), sortedCopy(v.Eligible)
	n.cluster.view.Store(&v)
	n.forEachReplica(func(p *partition.Partition, _ int) { p.SetAlive(v.Alive) })
	n.Rebalance()
}

// Tick advances every replica's replication core by one tick.
func (n *Node) Tick() {
	n.forEachReplica(func(p *partition.Partition, _ int) { p.Tick() })
}

// forEachReplica calls f with every hosted partition (and __meta) and its replication factor.
func (n *Node) forEachReplica(f func(p *partition.Partition, rf int)) {
	if n.cluster != nil {
		f(n.cluster.meta, metaMaxVoters)
	}
	for _, t := range *n.routes.Load() {
		for _, p := range t.Partitions {
			if p != nil {
				f(p, int(t.Settings.Replication))
			}
		}
	}
}

// Deliver hands a replication message to its replica. A message for a partition of a known
// topic that this node does not host yet (a leader adding it as a learner) starts the replica.
func (n *Node) Deliver(m protocol.ReplicaMessage) {
	if n.cluster == nil {
		return
	}
	if m.Topic == MetaTopic {
		n.cluster.meta.Deliver(m)
		return
	}
	t, ok := n.Topic(m.Topic)
	if !ok || m.Partition < 0 || int(m.Partition) >= len(t.Partitions) {
		return // a topic this node has not learned yet: the leader resends
	}
	if p := t.Partitions[m.Partition]; p != nil {
		p.Deliver(m)
		return
	}
	if !n.startsReplica(m) {
		return
	}
	n.process.SendUserMessage(n.pid, &hostMsg{topic: m.Topic, id: m.Partition, then: m})
}

// droppedAt returns the epoch of the last replica of a partition this node dropped (0: none).
func (n *Node) droppedAt(topic string, id int32) uint64 {
	n.cluster.droppedMu.Lock()
	defer n.cluster.droppedMu.Unlock()
	return n.cluster.dropped[leaderKey(topic, id)]
}

// noteDropped records the epoch of a replica this node dropped.
func (n *Node) noteDropped(topic string, id int32, epoch uint64) {
	n.cluster.droppedMu.Lock()
	defer n.cluster.droppedMu.Unlock()
	if n.cluster.dropped == nil {
		n.cluster.dropped = map[string]uint64{}
	}
	n.cluster.dropped[leaderKey(topic, id)] = max(n.cluster.dropped[leaderKey(topic, id)], epoch)
}

// startsReplica reports whether a message for a partition this node does not host starts a
// replica of it: only an append of a leader no older than the one whose replica set dropped
// this node's last replica of it. Any message used to: a candidate with a stale replica set
// that still named this node (whose replica had been moved away and dropped) started an empty
// replica with its promise request, got its promise, and with that majority of its stale set
// led and overwrote committed entries (the cluster simulator's seed 33, under fsync=always).
// A stale leader's append could do the same with acknowledgements.
func (n *Node) startsReplica(m protocol.ReplicaMessage) bool {
	return replication.MessageType(m.Type) == replication.MsgAppend && m.Epoch >= n.droppedAt(m.Topic, m.Partition)
}

// hostMsg asks the supervisor to start a replica of a partition this node does not host.
type hostMsg struct {
	topic string
	id    int32
	then  protocol.ReplicaMessage
}

// applyMsg applies committed catalog records to the local catalog.
type applyMsg struct {
	records []metaRecord
	end     uint64
}

// createClustered writes a topic to the catalog through __meta (on its leader) and waits until
// this node applied it.
func (n *Node) createClustered(ctx context.Context, settings TopicSettings, ifMissing bool) (*Topic, error) {
	c := n.cluster
	if t, ok := n.Topic(settings.Name); ok {
		if ifMissing {
			return t, nil
		}
		return nil, protocol.Errorf(protocol.ErrTopicExists, "topic %q already exists", settings.Name)
	}
	lead := c.meta.Leadership()
	if !lead.IsLeader {
		return nil, &ErrNotMetaLeader{Leader: lead.Leader}
	}
	c.createMu.Lock()
	defer c.createMu.Unlock()
	if err := n.WaitCatalog(ctx); err != nil {
		return nil, err
	}
	if t, ok := n.Topic(settings.Name); ok {
		if ifMissing {
			return t, nil
		}
		return nil, protocol.Errorf(protocol.ErrTopicExists, "topic %q already exists", settings.Name)
	}
	settings = n.withDefaults(settings)
	if err := checkSettings(settings); err != nil {
		return nil, err
	}
	alive := c.view.Load().Alive
	if self := n.cfg.NodeID; self != "" && !slices.Contains(alive, self) {
		// This node leads __meta, so it is alive: a view not computed yet (a node that just
		// started) does not name it. Creating a topic right after the start was refused.
		alive = append(slices.Clone(alive), self)
		slices.Sort(alive)
	}
	if live := len(alive); int(settings.Replication) > live {
		return nil, protocol.Errorf(protocol.ErrInvalidArgument,
			"topic %q: replication factor %d needs %d live nodes, and the cluster has %d: add nodes or lower --replication",
			settings.Name, settings.Replication, settings.Replication, live)
	}
	settings.Assignment = n.assign(alive, settings)
	end, err := n.writeMeta(ctx, metaRecord{Topic: settings.Name, Settings: &settings})
	if err != nil {
		return nil, err
	}
	if err := c.waitApplied(ctx, end); err != nil {
		return nil, err
	}
	t, ok := n.Topic(settings.Name)
	if !ok {
		return nil, protocol.Errorf(protocol.ErrUnknown, "topic %q was written to the catalog but is not in it", settings.Name)
	}
	return t, nil
}

// assign places a new topic's partitions over the live members after the existing topics
// (placement.AssignInOrder, in creation order: what Rebalance computes later for it too).
func (n *Node) assign(alive []string, settings TopicSettings) [][]string {
	topics := append(n.placementTopics(), placement.Topic{Name: settings.Name, Partitions: int(settings.Partitions),
		ReplicationFactor: int(settings.Replication)})
	a := placement.AssignInOrder(ring.New(toRing(alive)), topics)
	out := make([][]string, settings.Partitions)
	for p := range out {
		out[p] = fromRing(a.Replicas(settings.Name, p))
	}
	return out
}

// deleteClustered writes a topic's deletion to the catalog through __meta.
func (n *Node) deleteClustered(ctx context.Context, name string) error {
	c := n.cluster
	if _, ok := n.Topic(name); !ok {
		return protocol.Errorf(protocol.ErrUnknownTopic, "topic %q does not exist", name)
	}
	lead := c.meta.Leadership()
	if !lead.IsLeader {
		return &ErrNotMetaLeader{Leader: lead.Leader}
	}
	c.createMu.Lock()
	defer c.createMu.Unlock()
	end, err := n.writeMeta(ctx, metaRecord{Topic: name})
	if err != nil {
		return err
	}
	return c.waitApplied(ctx, end)
}

// writeMeta appends a record to __meta and waits for a majority of its voters to hold it.
func (n *Node) writeMeta(ctx context.Context, rec metaRecord) (uint64, error) {
	value, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	bld := batch.NewBuilder(len(value) + 256)
	bld.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
	if err := bld.Add(batch.ID{}, n.cfg.Now().UnixMilli(), nil, value, nil); err != nil {
		return 0, err
	}
	b, err := bld.Finish()
	if err != nil {
		return 0, err
	}
	produced, err := n.cluster.meta.Produce(ctx, slices.Clone(b), protocol.AcksQuorum)
	if code := protocol.CodeOf(err); code == protocol.CodeNotLeader || code == protocol.CodeUnavailable {
		// The leadership moved (a handover to the preferred leader, a failover) since the
		// caller checked it: say who leads now, so the broker waits or forwards.
		return 0, &ErrNotMetaLeader{Leader: n.cluster.meta.Leadership().Leader, Written: true}
	}
	if err != nil {
		return 0, fmt.Errorf("write the catalog: %w", err)
	}
	return produced.NextOffset, nil
}

// followMeta applies the catalog's committed records in order, for the node's life.
func (n *Node) followMeta() {
	c := n.cluster
	defer close(c.followDone)
	c.appliedMu.Lock()
	from := c.applied
	c.appliedMu.Unlock()
	for {
		hw, changed := c.meta.Watch()
		if from < hw {
			records, next, err := readMeta(c.meta, from, hw)
			if err != nil {
				n.cfg.Logger.Error("node: cannot read the catalog log; catalog changes stop here until restart", "err", err)
				return
			}
			// Through the supervisor even without records: the applied end must not pass
			// records still queued for it.
			n.process.SendUserMessage(n.pid, &applyMsg{records: records, end: next})
			from = next
			continue
		}
		select {
		case <-changed:
		case <-c.followStop:
			return
		}
	}
}

// readMeta reads committed catalog records in [from, hw).
func readMeta(meta *partition.Partition, from, hw uint64) ([]metaRecord, uint64, error) {
	res, err := meta.ReadCommitted(from, metaReadBytes)
	if err != nil {
		return nil, from, err
	}
	var out []metaRecord
	for it := res.Records(); it.Next(); {
		r := it.Record()
		var rec metaRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil || (rec.Topic == "") == (rec.Ops == nil) {
			return nil, from, fmt.Errorf("catalog record at %d is neither a topic nor an operator record: %v", r.Offset, err)
		}
		rec.offset = r.Offset
		out = append(out, rec)
	}
	if res.Next <= from {
		return nil, from, fmt.Errorf("catalog read at %d (commit point %d) made no progress", from, hw)
	}
	return out, res.Next, nil
}

// notHosted is the error for a partition of a known topic that this node holds no replica of.
func (n *Node) notHosted(t *Topic, id int32) error {
	leader, _, _ := n.GuessLeader(t, id)
	return protocol.Errorf(protocol.ErrNotLeader, "partition %s/%d has no replica on this node; ask its leader %s", t.Settings.Name, id, leader)
}

// guessLeader is the first live member of a replica set (the promotion order): the leader a
// node that holds no replica expects.
func guessLeader(replicas []string, view *View) string {
	for _, id := range replicas {
		if view.isAlive(id) {
			return id
		}
	}
	return ""
}

// Announced returns the newest leadership another node announced for a partition, while its
// leader is alive.
func (n *Node) Announced(topic string, id int32) (protocol.LeaderNotice, bool) {
	if n.cluster == nil {
		return protocol.LeaderNotice{}, false
	}
	n.cluster.leadersMu.Lock()
	a, ok := n.cluster.leaders[leaderKey(topic, id)]
	n.cluster.leadersMu.Unlock()
	return a.notice, ok && n.cluster.view.Load().isAlive(a.notice.Leader)
}

// GuessLeader returns the leader of a partition this node does not host, its epoch and replica
// set: the newest leadership another node announced while that leader is alive, else the
// first live member of its replica set at creation (epoch 0).
func (n *Node) GuessLeader(t *Topic, id int32) (string, uint64, []string) {
	if n.cluster == nil {
		return "", 0, nil
	}
	view := n.cluster.view.Load()
	n.cluster.leadersMu.Lock()
	a, ok := n.cluster.leaders[leaderKey(t.Settings.Name, id)]
	n.cluster.leadersMu.Unlock()
	notice := a.notice
	if ok && view.isAlive(notice.Leader) {
		return notice.Leader, notice.Epoch, slices.Clone(notice.Replicas)
	}
	assigned := t.Settings.assignmentOf(id)
	return guessLeader(assigned, view), 0, slices.Clone(assigned)
}

func leaderKey(topic string, id int32) string { return fmt.Sprintf("%s/%d", topic, id) }

// NoteLeaders records leaderships another node announced (the newest epoch wins).
func (n *Node) NoteLeaders(notices []protocol.LeaderNotice) {
	if n.cluster == nil || len(notices) == 0 {
		return
	}
	now := n.cfg.Now()
	n.cluster.leadersMu.Lock()
	defer n.cluster.leadersMu.Unlock()
	for _, ln := range notices {
		key := leaderKey(ln.Topic, ln.Partition)
		if cur, ok := n.cluster.leaders[key]; !ok || ln.Epoch >= cur.notice.Epoch {
			n.cluster.leaders[key] = announced{notice: ln, at: now}
		}
	}
}

// announced is a leadership notice and when it arrived; leaders repeat theirs every few ticks,
// so an old one is a leadership that ended (its move counts no longer hold).
type announced struct {
	notice protocol.LeaderNotice
	at     time.Time
}

// announcedFresh is how long a notice counts toward the moves under way.
const announcedFresh = 2 * time.Second

// Leaderships returns the partitions this node leads, as notices to announce, and those it
// led until they failed, as notices without a leader: a node that took this node's last
// announcement stops sending it the partition's clients (a notice replaces one of the same or
// an older epoch, so a newer leader's notice stands).
func (n *Node) Leaderships() []protocol.LeaderNotice {
	var out []protocol.LeaderNotice
	moving := *n.cluster.ops.moving.Load()
	n.forEachReplica(func(p *partition.Partition, _ int) {
		switch l := p.Leadership(); {
		case l.IsLeader:
			out = append(out, protocol.LeaderNotice{Topic: p.Topic(), Partition: p.ID(), Leader: l.Leader, Epoch: l.Epoch,
				Replicas: l.Replicas, Move: moving[leaderKey(p.Topic(), p.ID())], InSync: l.InSync})
		case l.Withdrawn:
			out = append(out, protocol.LeaderNotice{Topic: p.Topic(), Partition: p.ID(), Epoch: l.Epoch, Replicas: l.Replicas})
		}
	})
	return out
}

// assignmentOf returns a partition's replica set at creation.
func (s TopicSettings) assignmentOf(id int32) []string {
	if id >= 0 && int(id) < len(s.Assignment) {
		return s.Assignment[id]
	}
	return nil
}

func (n *Node) metaPartitionConfig() partition.Config {
	cfg := n.cfg
	log := cfg.Storage
	log.Dir = filepath.Join(cfg.DataDir, metaDir)
	log.FS, log.Logger, log.Now = cfg.FS, cfg.Logger, cfg.Now
	voters := []string{}
	if cfg.Cluster.Bootstrap {
		voters = []string{cfg.Cluster.NodeID}
	}
	return partition.Config{
		Topic: MetaTopic, Partition: 0, Storage: log, Now: cfg.Now, Logger: cfg.Logger, Dispatcher: cfg.Dispatcher,
		NodeID: cfg.Cluster.NodeID, Voters: voters, Peers: cfg.Cluster.Peers, RecordBootstrap: true,
		HeartbeatTicks: cfg.Cluster.HeartbeatTicks, ElectionTicks: cfg.Cluster.ElectionTicks,
	}
}

func toRing(ids []string) []ring.NodeID {
	out := make([]ring.NodeID, len(ids))
	for i, id := range ids {
		out[i] = ring.NodeID(id)
	}
	return out
}

func fromRing(ids []ring.NodeID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

func sortedCopy(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// WaitTopic blocks until topic name exists (present) or does not (!present) in this node's
// catalog. Standalone, it only checks.
func (n *Node) WaitTopic(ctx context.Context, name string, present bool) error {
	for {
		var changed chan struct{}
		if n.cluster != nil {
			n.cluster.appliedMu.Lock()
			changed = n.cluster.appliedCh
			n.cluster.appliedMu.Unlock()
		}
		if _, ok := n.Topic(name); ok == present {
			return nil
		}
		if changed == nil {
			return protocol.Errorf(protocol.ErrUnknownTopic, "topic %q does not exist", name)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return protocol.Errorf(protocol.ErrTimeout, "topic %q: the catalog change did not reach this node in time (%v)", name, ctx.Err())
		}
	}
}

// placementTopics returns the catalog's topics in creation order (ties by name), as placement
// takes them: a function of the catalog alone, the same on every node.
func (n *Node) placementTopics() []placement.Topic {
	all := n.Topics()
	slices.SortStableFunc(all, func(a, b *Topic) int { return cmp.Compare(a.Settings.Created, b.Settings.Created) })
	out := make([]placement.Topic, 0, len(all))
	for _, t := range all {
		out = append(out, placement.Topic{Name: t.Settings.Name, Partitions: int(t.Settings.Partitions), ReplicationFactor: int(t.Settings.Replication)})
	}
	return out
}
