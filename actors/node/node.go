package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/storage/vfs"
)

// Topic is one topic as the node hosts it: its settings and its running partitions (index i is
// partition i). A Topic value is immutable once published.
type Topic struct {
	Settings   TopicSettings
	Partitions []*partition.Partition
}

// routes is the published routing table: topic name to Topic. Immutable.
type routes map[string]*Topic

// Node is the handle of a running node supervisor. Its methods are safe for concurrent use.
type Node struct {
	cfg  Config
	root *actor.RootContext
	pid  *actor.PID
	// process is the supervisor's mailbox, resolved once (see partition.Partition.process).
	process actor.Process
	lock    io.Closer
	routes  atomic.Pointer[routes]
	ready   atomic.Bool
	// done is closed when the supervisor actor has stopped.
	done          chan struct{}
	stopRequested atomic.Bool

	// cluster is the node's cluster half (the replicated catalog, the view); nil standalone.
	cluster *clusterState

	tickerStop    chan struct{}
	tickerDone    chan struct{}
	tickerStarted bool
	stopOnce      sync.Once
	stopErr       error
}

// Start locks the data dir's catalog, spawns the supervisor actor on system, loads the catalog
// and opens every partition it lists (recovering their logs), then starts the retention timer.
// It returns when the node is ready (or failed to load).
func Start(ctx context.Context, system *actor.ActorSystem, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	// Durably: the data dir's entry in its parent and topics/ in it must survive a power loss
	// before the first catalog write, or the node comes back empty under its old id (the
	// cluster simulator's finding 5).
	if err := vfs.MkdirAllDurably(cfg.FS, filepath.Join(cfg.DataDir, topicsDir), 0o755); err != nil {
		return nil, fmt.Errorf("node: create %s: %w", cfg.DataDir, err)
	}
	lock, err := cfg.FS.Lock(filepath.Join(cfg.DataDir, catalogLockFile))
	if errors.Is(err, vfs.ErrLocked) {
		return nil, fmt.Errorf("node: data dir %s is in use by another node: stop it, or use another data dir", cfg.DataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("node: lock %s: %w", cfg.DataDir, err)
	}
	n := &Node{
		cfg:        cfg,
		root:       system.Root.WithGuardian(partition.StopOnFailure(cfg.Logger)),
		lock:       lock,
		done:       make(chan struct{}),
		tickerStop: make(chan struct{}),
		tickerDone: make(chan struct{}),
	}
	empty := routes{}
	n.routes.Store(&empty)
	if cfg.Cluster != nil {
		n.cluster = newClusterState(0)
	}
	props := actor.PropsFromProducer(func() actor.Actor { return &supervisor{n: n, topics: map[string]*Topic{}} },
		actor.WithSupervisor(partition.StopOnFailure(cfg.Logger)))
	if cfg.Dispatcher != nil {
		props.Configure(actor.WithDispatcher(cfg.Dispatcher))
	}
	pid, err := n.root.SpawnNamed(props, "node")
	if err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("node: spawn the supervisor: %w", err)
	}
	n.pid = pid
	n.process, _ = system.ProcessRegistry.Get(pid)
	reply := make(chan error, 1)
	if err := n.ask(ctx, &loadMsg{reply: reply}, reply); err != nil {
		_ = n.Stop(context.Background())
		return nil, err
	}
	n.ready.Store(true)
	n.tickerStarted = true
	go n.retentionLoop()
	if n.cluster != nil {
		go n.followMeta()
	}
	return n, nil
}

// ask sends msg to the supervisor and waits for its error reply.
func (n *Node) ask(ctx context.Context, msg any, reply <-chan error) error {
	n.process.SendUserMessage(n.pid, msg)
	select {
	case err := <-reply:
		return err
	case <-n.done:
		return protocol.Errorf(protocol.ErrShuttingDown, "the node supervisor stopped")
	case <-ctx.Done():
		return protocol.Errorf(protocol.ErrTimeout, "the node supervisor did not answer in time (%v)", ctx.Err())
	}
}

// retentionLoop asks every partition to enforce retention on a timer.
func (n *Node) retentionLoop() {
	defer close(n.tickerDone)
	ticker := time.NewTicker(n.cfg.RetentionCheckInterval)
	defer ticker.Stop()
	for {
		select {
		case <-n.tickerStop:
			return
		case <-ticker.C:
			n.EnforceRetention()
		}
	}
}

// EnforceRetention asks every partition to apply its retention now. It does not wait.
func (n *Node) EnforceRetention() {
	nowMs := n.cfg.Now().UnixMilli()
	for _, t := range *n.routes.Load() {
		for _, p := range t.Partitions {
			if p != nil {
				p.EnforceRetention(nowMs)
			}
		}
	}
	if n.cluster != nil {
		n.cluster.meta.EnforceRetention(nowMs)
	}
}

// Ready reports whether the catalog is loaded, every partition opened, and the supervisor runs.
func (n *Node) Ready() bool {
	select {
	case <-n.done:
		return false
	default:
		return n.ready.Load()
	}
}

// Topic returns the hosted topic name, if any.
func (n *Node) Topic(name string) (*Topic, bool) {
	t, ok := (*n.routes.Load())[name]
	return t, ok
}

// Topics returns every hosted topic, sorted by name.
func (n *Node) Topics() []*Topic {
	r := *n.routes.Load()
	topics := make([]*Topic, 0, len(r))
	for _, t := range r {
		topics = append(topics, t)
	}
	slices.SortFunc(topics, func(a, b *Topic) int {
		switch {
		case a.Settings.Name < b.Settings.Name:
			return -1
		case a.Settings.Name > b.Settings.Name:
			return 1
		}
		return 0
	})
	return topics
}

// Partition returns partition id of topic: protocol.ErrUnknownTopic or ErrUnknownPartition when
// it does not exist, protocol.ErrNotLeader (naming the expected leader) when this node holds no
// replica of it.
func (n *Node) Partition(topic string, id int32) (*partition.Partition, error) {
	t, ok := n.Topic(topic)
	if !ok {
		return nil, protocol.Errorf(protocol.ErrUnknownTopic, "topic %q does not exist", topic)
	}
	return n.PartitionOf(t, id)
}

// PartitionOf returns partition id of t, as Partition does.
func (n *Node) PartitionOf(t *Topic, id int32) (*partition.Partition, error) {
	if id < 0 || int(id) >= len(t.Partitions) {
		return nil, protocol.Errorf(protocol.ErrUnknownPartition, "topic %q has partitions 0..%d, not %d", t.Settings.Name, len(t.Partitions)-1, id)
	}
	if p := t.Partitions[id]; p != nil {
		return p, nil
	}
	return nil, n.notHosted(t, id)
}

// CreateTopic creates a topic: zero settings take the node's defaults. It is
// protocol.ErrTopicExists when the topic exists, protocol.ErrInvalidArgument for a bad name or
// setting. It blocks until the catalog is written and the partitions are open.
func (n *Node) CreateTopic(ctx context.Context, settings TopicSettings) (*Topic, error) {
	if n.cluster != nil {
		if err := ValidateTopicName(settings.Name); err != nil {
			return nil, err
		}
		return n.createClustered(ctx, settings, false)
	}
	return n.create(ctx, settings, false)
}

// EnsureTopic returns the topic, creating it with the default settings when it does not exist
// and auto-creation is on (protocol.ErrUnknownTopic when it is off).
func (n *Node) EnsureTopic(ctx context.Context, name string) (*Topic, error) {
	if t, ok := n.Topic(name); ok {
		return t, nil
	}
	if !n.cfg.AutoCreateTopics {
		return nil, protocol.Errorf(protocol.ErrUnknownTopic, "topic %q does not exist and auto-creation is off: create it first", name)
	}
	if n.cluster != nil {
		if err := ValidateTopicName(name); err != nil {
			return nil, err
		}
		return n.createClustered(ctx, TopicSettings{Name: name}, true)
	}
	return n.create(ctx, TopicSettings{Name: name}, true)
}

func (n *Node) create(ctx context.Context, settings TopicSettings, ifMissing bool) (*Topic, error) {
	if err := ValidateTopicName(settings.Name); err != nil {
		return nil, err
	}
	reply := make(chan error, 1)
	msg := &createMsg{settings: settings, ifMissing: ifMissing, reply: reply}
	if err := n.ask(ctx, msg, reply); err != nil {
		return nil, err
	}
	return msg.topic, nil
}

// DeleteTopic stops the topic's partitions, removes it from the catalog and deletes its data.
// It is protocol.ErrUnknownTopic when the topic does not exist.
func (n *Node) DeleteTopic(ctx context.Context, name string) error {
	if n.cluster != nil {
		return n.deleteClustered(ctx, name)
	}
	reply := make(chan error, 1)
	return n.ask(ctx, &deleteMsg{ctx: ctx, name: name, reply: reply}, reply)
}

// Stats returns a snapshot of every hosted partition, sorted by topic and partition.
func (n *Node) Stats() []partition.Stats {
	var stats []partition.Stats
	for _, t := range n.Topics() {
		for _, p := range t.Partitions {
			if p != nil {
				stats = append(stats, p.Stats())
			}
		}
	}
	return stats
}

// Stop stops the retention timer, then every partition (each finishes the produces already in
// its mailbox, makes them durable and closes its log), then the supervisor, and releases the
// data dir. It returns the first errors of closing the logs. Stop is idempotent.
func (n *Node) Stop(ctx context.Context) error {
	n.stopOnce.Do(func() { n.stopErr = n.stop(ctx) })
	return n.stopErr
}

func (n *Node) stop(ctx context.Context) error {
	n.ready.Store(false)
	close(n.tickerStop)
	if n.tickerStarted {
		<-n.tickerDone
		if n.cluster != nil {
			close(n.cluster.followStop)
			<-n.cluster.followDone
		}
	}
	var errs []error
	reply := make(chan error, 1)
	errs = append(errs, n.ask(ctx, &shutdownMsg{ctx: ctx, reply: reply}, reply))
	if n.stopRequested.CompareAndSwap(false, true) {
		n.process.SendUserMessage(n.pid, &actor.PoisonPill{})
	}
	select {
	case <-n.done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("node: stop the supervisor: %w", ctx.Err()))
	}
	errs = append(errs, n.lock.Close())
	return errors.Join(errs...)
}

// stopPartitions stops partitions in parallel: all are told first, then each is waited for.
// Nil entries (partitions of a topic this node does not host) are skipped.
func stopPartitions(ctx context.Context, ps []*partition.Partition) error {
	for _, p := range ps {
		if p != nil {
			p.RequestStop()
		}
	}
	var errs []error
	for _, p := range ps {
		if p != nil {
			errs = append(errs, p.Stop(ctx))
		}
	}
	return errors.Join(errs...)
}

// partitionDir is where partition id of topic keeps its log.
func (n *Node) partitionDir(topic string, id int32) string {
	return filepath.Join(n.cfg.DataDir, topicsDir, topic, strconv.Itoa(int(id)))
}
