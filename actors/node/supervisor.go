package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/storage"
)

// Messages of the supervisor actor; each carries a buffered reply channel.
type (
	loadMsg   struct{ reply chan<- error }
	createMsg struct {
		settings  TopicSettings
		ifMissing bool
		reply     chan<- error
		// topic is set by the actor before it replies.
		topic *Topic
	}
	deleteMsg struct {
		ctx   context.Context
		name  string
		reply chan<- error
	}
	shutdownMsg struct {
		ctx   context.Context
		reply chan<- error
	}
)

// supervisor is the node supervisor actor. Only its goroutine touches topics.
type supervisor struct {
	n      *Node
	topics map[string]*Topic
	// closing: the node is stopping; catalog changes are refused.
	closing bool
	// shutdownReply, when set, is answered (with shutdownErr) once the last child has
	// terminated: the supervisor must not stop while protoactor still counts a child, or its own
	// stop would send that child a Stop it can no longer receive.
	shutdownReply chan<- error
	shutdownErr   error
	// metaApplied is the end of the __meta log applied to topics (cluster only); ops the
	// operator's decisions applied from it.
	metaApplied uint64
	ops         Operations
}

// Receive handles one message.
func (s *supervisor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *createMsg:
		msg.reply <- s.create(ctx, msg)
	case *deleteMsg:
		msg.reply <- s.delete(msg)
	case *loadMsg:
		msg.reply <- s.load(ctx)
	case *applyMsg:
		s.apply(ctx, msg)
	case *hostMsg:
		s.host(ctx, msg)
	case *dropMsg:
		s.drop(msg)
	case *shutdownMsg:
		s.shutdownErr, s.shutdownReply = s.shutdown(msg.ctx), msg.reply
		s.answerShutdown(ctx)
	case *actor.Terminated:
		s.childStopped(msg.Who)
		s.answerShutdown(ctx)
	case *actor.Stopped:
		close(s.n.done)
	case actor.SystemMessage, actor.AutoReceiveMessage:
		// Started, Stopping, Restarting: nothing to do (children are stopped by protoactor, and
		// StopOnFailure never restarts).
	default:
		panic(fmt.Sprintf("node supervisor: unexpected message %T (a programmer error)", msg))
	}
}

// publish makes the current topics the routing table that lookups read.
func (s *supervisor) publish() {
	r := routes(maps.Clone(s.topics))
	s.n.routes.Store(&r)
}

func (s *supervisor) settings() []TopicSettings {
	all := make([]TopicSettings, 0, len(s.topics))
	for _, t := range s.topics {
		all = append(all, t.Settings)
	}
	return all
}

// load reads the catalog, adopts topic directories it does not list, and opens every partition.
func (s *supervisor) load(ctx actor.Context) error {
	cfg := s.n.cfg
	if err := removeAll(cfg.FS, filepath.Join(cfg.DataDir, deletedDir)); err != nil {
		cfg.Logger.Warn("node: could not empty the deleted topics directory", "dir", filepath.Join(cfg.DataDir, deletedDir), "err", err)
	}
	contents, _, err := readCatalogContents(cfg.FS, cfg.DataDir)
	if err != nil {
		return err
	}
	listed := contents.Topics
	s.metaApplied = contents.MetaApplied
	s.ops = Operations{Nodes: map[string]string{}}
	if contents.Ops != nil {
		s.ops = contents.Ops.clone()
	}
	if s.n.cluster != nil {
		meta, err := partition.Start(ctx, s.n.metaPartitionConfig())
		if err != nil {
			return fmt.Errorf("node: open the catalog partition %s: %w", MetaTopic, err)
		}
		s.n.cluster.meta = meta
		s.n.cluster.setApplied(s.metaApplied)
		ops := s.ops.clone()
		s.n.cluster.ops.ops.Store(&ops)
	} else {
		adopted, err := s.adoptOrphans(listed)
		if err != nil {
			return err
		}
		if len(adopted) > 0 {
			listed = append(listed, adopted...)
			if err := writeCatalog(cfg.FS, cfg.DataDir, listed, s.metaApplied, s.ops); err != nil {
				return err
			}
		}
	}
	for _, settings := range listed {
		t, err := s.openTopic(ctx, settings)
		if err != nil {
			s.stopAll(context.Background())
			return err
		}
		s.topics[settings.Name] = t
	}
	s.publish()
	cfg.Logger.Info("node: catalog loaded", "topics", len(s.topics), "data_dir", cfg.DataDir)
	return nil
}

// adoptOrphans finds topic directories the catalog does not list (a lost or older catalog) and
// returns settings for them, so that data is never dropped silently: partitions 0..k-1 found,
// the default retention.
func (s *supervisor) adoptOrphans(listed []TopicSettings) ([]TopicSettings, error) {
	cfg := s.n.cfg
	dir := filepath.Join(cfg.DataDir, topicsDir)
	names, err := cfg.FS.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("node: list %s: %w", dir, err)
	}
	known := map[string]bool{}
	for _, t := range listed {
		known[t.Name] = true
	}
	var adopted []TopicSettings
	for _, name := range names {
		if known[name] {
			continue
		}
		ids, err := partitionDirs(cfg.FS, filepath.Join(dir, name))
		if err != nil || ValidateTopicName(name) != nil || len(ids) == 0 || int(ids[len(ids)-1]) != len(ids)-1 {
			cfg.Logger.Warn("node: ignoring a directory that is not a topic of the catalog", "dir", filepath.Join(dir, name))
			continue
		}
		settings := s.withDefaults(TopicSettings{Name: name, Partitions: int32(len(ids))})
		cfg.Logger.Warn("node: topic directory missing from the catalog; adopting it with default settings", "topic", name, "partitions", len(ids))
		adopted = append(adopted, settings)
	}
	return adopted, nil
}

// withDefaults fills the zero settings from the node's defaults.
func (s *supervisor) withDefaults(t TopicSettings) TopicSettings { return s.n.withDefaults(t) }

// withDefaults fills the zero settings from the node's defaults.
func (n *Node) withDefaults(t TopicSettings) TopicSettings {
	cfg := n.cfg
	if t.Partitions == 0 {
		t.Partitions = cfg.DefaultPartitions
	}
	if t.Replication == 0 {
		t.Replication = 1
	}
	if t.RetentionMs == 0 {
		t.RetentionMs = cfg.Storage.Retention.MaxAge.Milliseconds()
	}
	if t.RetentionBytes == 0 {
		t.RetentionBytes = cfg.Storage.Retention.MaxBytes
	}
	return t
}

// openTopic starts every partition of a topic this node hosts (all of them standalone; in a
// cluster, those whose replica set at creation names this node or whose data is here); on an
// error it stops the ones it started.
func (s *supervisor) openTopic(ctx actor.Context, settings TopicSettings) (*Topic, error) {
	t := &Topic{Settings: settings, Partitions: make([]*partition.Partition, settings.Partitions)}
	for id := range settings.Partitions {
		if !s.hosts(settings, id) {
			continue
		}
		p, err := partition.Start(ctx, s.partitionConfig(settings, id))
		if err != nil {
			_ = stopPartitions(context.Background(), t.Partitions)
			return nil, err
		}
		t.Partitions[id] = p
	}
	return t, nil
}

// hosts reports whether this node keeps a replica of partition id.
func (s *supervisor) hosts(settings TopicSettings, id int32) bool {
	c := s.n.cfg.Cluster
	if c == nil || slices.Contains(settings.assignmentOf(id), c.NodeID) {
		return true
	}
	_, err := s.n.cfg.FS.ReadDir(s.n.partitionDir(settings.Name, id))
	return err == nil
}

func (s *supervisor) partitionConfig(settings TopicSettings, id int32) partition.Config {
	cfg := s.n.cfg
	log := cfg.Storage
	log.Dir = s.n.partitionDir(settings.Name, id)
	log.FS = cfg.FS
	log.Logger = cfg.Logger
	log.Now = cfg.Now
	log.Retention = storage.Retention{
		MaxAge:     time.Duration(settings.RetentionMs) * time.Millisecond,
		MaxBytes:   settings.RetentionBytes,
		MaxRecords: cfg.Storage.Retention.MaxRecords,
	}
	pc := partition.Config{
		Topic:            settings.Name,
		Partition:        id,
		Storage:          log,
		MaxInFlightBytes: cfg.MaxInFlightBytesPerPartition,
		Now:              cfg.Now,
		Logger:           cfg.Logger,
		Dispatcher:       cfg.Dispatcher,
		NodeID:           cfg.NodeID,
	}
	if c := cfg.Cluster; c != nil {
		pc.NodeID, pc.Peers, pc.HeartbeatTicks, pc.ElectionTicks = c.NodeID, c.Peers, c.HeartbeatTicks, c.ElectionTicks
		pc.MoveThrottle = c.MoveThrottle
		pc.Voters = []string{} // not in the set at creation: a learner until a config entry says otherwise
		if assigned := settings.assignmentOf(id); slices.Contains(assigned, c.NodeID) {
			pc.Voters = slices.Clone(assigned)
		}
	}
	return pc
}

// apply applies committed catalog records: topics created start their hosted partitions, topics
// deleted stop theirs and lose their data; then the catalog file and the applied end are
// written, and every replica hears the current view.
func (s *supervisor) apply(ctx actor.Context, msg *applyMsg) {
	for _, rec := range msg.records {
		if rec.Ops != nil {
			s.ops = s.ops.with(*rec.Ops)
			ops := s.ops.clone()
			s.n.cluster.ops.ops.Store(&ops)
			s.n.cfg.Logger.Info("node: operator decision applied", "node", rec.Ops.Node, "state", rec.Ops.State, "paused", ops.Paused)
			continue
		}
		if rec.Settings == nil {
			if err := s.deleteLocal(context.Background(), rec.Topic); err != nil && protocol.CodeOf(err) != protocol.CodeUnknownTopic {
				s.n.cfg.Logger.Error("node: applying a topic deletion from the catalog", "topic", rec.Topic, "err", err)
			}
			continue
		}
		if _, ok := s.topics[rec.Topic]; ok {
			continue
		}
		if err := s.moveAway(rec.Topic); err != nil {
			s.n.cfg.Logger.Error("node: clearing a leftover directory for a new topic", "topic", rec.Topic, "err", err)
		}
		rec.Settings.Created = rec.offset
		t, err := s.openTopic(ctx, *rec.Settings)
		if err != nil {
			s.n.cfg.Logger.Error("node: opening a topic from the catalog; its partitions stay closed here", "topic", rec.Topic, "err", err)
			t = &Topic{Settings: *rec.Settings, Partitions: make([]*partition.Partition, rec.Settings.Partitions)}
		}
		s.topics[rec.Topic] = t
		s.n.cfg.Logger.Info("node: topic created", "topic", rec.Topic, "partitions", rec.Settings.Partitions,
			"replication", rec.Settings.Replication)
	}
	s.metaApplied = msg.end
	if len(msg.records) == 0 {
		s.n.cluster.setApplied(msg.end)
		return
	}
	if err := writeCatalog(s.n.cfg.FS, s.n.cfg.DataDir, s.settings(), s.metaApplied, s.ops); err != nil {
		s.n.cfg.Logger.Error("node: writing the catalog cache", "err", err)
	}
	s.publish()
	s.n.cluster.setApplied(msg.end)
	s.n.SetView(*s.n.cluster.view.Load())
}

// dropMsg asks the supervisor to stop a replica that was removed from its replica set and
// delete its data.
type dropMsg struct {
	topic string
	id    int32
	p     *partition.Partition
}

// drop stops a removed replica and deletes its data.
func (s *supervisor) drop(msg *dropMsg) {
	t, ok := s.topics[msg.topic]
	if !ok || s.closing || int(msg.id) >= len(t.Partitions) || t.Partitions[msg.id] != msg.p {
		return
	}
	parts := slices.Clone(t.Partitions)
	parts[msg.id] = nil
	s.topics[msg.topic] = &Topic{Settings: t.Settings, Partitions: parts}
	s.publish()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := msg.p.Stop(ctx); err != nil {
		s.n.cfg.Logger.Warn("node: stopping a removed replica", "topic", msg.topic, "partition", msg.id, "err", err)
	}
	if err := removeAll(s.n.cfg.FS, s.n.partitionDir(msg.topic, msg.id)); err != nil {
		s.n.cfg.Logger.Warn("node: deleting a removed replica's data", "topic", msg.topic, "partition", msg.id, "err", err)
	}
	s.n.cfg.Logger.Info("node: replica removed from its replica set; dropped it and its data", "topic", msg.topic, "partition", msg.id)
}

// host starts a replica of a partition this node did not host (a leader is adding this node)
// and hands it the message that asked for it.
func (s *supervisor) host(ctx actor.Context, msg *hostMsg) {
	t, ok := s.topics[msg.topic]
	if !ok || s.closing || int(msg.id) >= len(t.Partitions) {
		return
	}
	if p := t.Partitions[msg.id]; p != nil {
		p.Deliver(msg.then)
		return
	}
	p, err := partition.Start(ctx, s.partitionConfig(t.Settings, msg.id))
	if err != nil {
		s.n.cfg.Logger.Error("node: starting a replica a leader asked for", "topic", msg.topic, "partition", msg.id, "err", err)
		return
	}
	parts := slices.Clone(t.Partitions)
	parts[msg.id] = p
	s.topics[msg.topic] = &Topic{Settings: t.Settings, Partitions: parts}
	s.publish()
	s.n.cfg.Logger.Info("node: replica added", "topic", msg.topic, "partition", msg.id, "from", msg.then.From)
	view := s.n.cluster.view.Load()
	p.SetAlive(view.Alive)
	p.Deliver(msg.then)
}

// create adds a topic: catalog first (so a crash leaves a topic whose partitions open at the
// next start, not directories without a topic), then the partitions.
func (s *supervisor) create(ctx actor.Context, msg *createMsg) error {
	if s.closing {
		return protocol.Errorf(protocol.ErrShuttingDown, "the node is stopping")
	}
	name := msg.settings.Name
	if t, ok := s.topics[name]; ok {
		if msg.ifMissing {
			msg.topic = t
			return nil
		}
		return protocol.Errorf(protocol.ErrTopicExists, "topic %q already exists", name)
	}
	settings := s.withDefaults(msg.settings)
	if err := checkSettings(settings); err != nil {
		return err
	}
	if settings.Replication != 1 {
		return protocol.Errorf(protocol.ErrInvalidArgument,
			"topic %q: replication %d, and a standalone node holds one replica: use replication 1, or run a cluster (shoal serve --gossip-addr, --join)",
			name, settings.Replication)
	}
	if err := s.moveAway(name); err != nil {
		return err
	}
	if err := writeCatalog(s.n.cfg.FS, s.n.cfg.DataDir, append(s.settings(), settings), s.metaApplied, s.ops); err != nil {
		return err
	}
	t, err := s.openTopic(ctx, settings)
	if err != nil {
		if werr := writeCatalog(s.n.cfg.FS, s.n.cfg.DataDir, s.settings(), s.metaApplied, s.ops); werr != nil {
			s.n.cfg.Logger.Error("node: could not take a topic that failed to open out of the catalog", "topic", name, "err", werr)
		}
		return err
	}
	s.topics[name] = t
	s.publish()
	msg.topic = t
	s.n.cfg.Logger.Info("node: topic created", "topic", name, "partitions", settings.Partitions, "auto", msg.ifMissing)
	return nil
}

// moveAway moves a leftover directory of a topic that is not in the catalog out of the way, so a
// new topic of that name starts empty.
func (s *supervisor) moveAway(name string) error {
	cfg := s.n.cfg
	dir := filepath.Join(cfg.DataDir, topicsDir, name)
	if _, err := cfg.FS.ReadDir(dir); err != nil {
		return nil // nothing there
	}
	cfg.Logger.Warn("node: removing a leftover directory of a topic not in the catalog", "dir", dir)
	return s.removeTopicDir(name)
}

// removeTopicDir renames the topic's directory into deleted/ (one atomic step), then removes it.
func (s *supervisor) removeTopicDir(name string) error {
	cfg := s.n.cfg
	deleted := filepath.Join(cfg.DataDir, deletedDir)
	if err := cfg.FS.MkdirAll(deleted, 0o755); err != nil {
		return fmt.Errorf("node: create %s: %w", deleted, err)
	}
	from := filepath.Join(cfg.DataDir, topicsDir, name)
	to := filepath.Join(deleted, name+"."+strconv.FormatInt(cfg.Now().UnixNano(), 10))
	if err := cfg.FS.Rename(from, to); err != nil {
		return fmt.Errorf("node: move %s to %s: %w", from, to, err)
	}
	if err := errors.Join(cfg.FS.SyncDir(filepath.Join(cfg.DataDir, topicsDir)), cfg.FS.SyncDir(deleted)); err != nil {
		return fmt.Errorf("node: sync after moving %s: %w", from, err)
	}
	if err := removeAll(cfg.FS, to); err != nil {
		cfg.Logger.Warn("node: could not remove a deleted topic's data; the next start removes it", "dir", to, "err", err)
	}
	return nil
}

// delete stops a topic's partitions, moves its data away, rewrites the catalog and removes the
// data. Lookups stop finding the topic first.
func (s *supervisor) delete(msg *deleteMsg) error {
	if s.closing {
		return protocol.Errorf(protocol.ErrShuttingDown, "the node is stopping")
	}
	if err := s.deleteLocal(msg.ctx, msg.name); err != nil {
		return err
	}
	return writeCatalog(s.n.cfg.FS, s.n.cfg.DataDir, s.settings(), s.metaApplied, s.ops)
}

// deleteLocal stops a topic's partitions and removes its data (not the catalog file).
func (s *supervisor) deleteLocal(ctx context.Context, name string) error {
	t, ok := s.topics[name]
	if !ok {
		return protocol.Errorf(protocol.ErrUnknownTopic, "topic %q does not exist", name)
	}
	delete(s.topics, name)
	s.publish()
	if err := stopPartitions(ctx, t.Partitions); err != nil {
		s.n.cfg.Logger.Warn("node: stopping a deleted topic's partitions", "topic", name, "err", err)
	}
	if err := s.removeTopicDir(name); err != nil {
		return err
	}
	s.n.cfg.Logger.Info("node: topic deleted", "topic", name)
	return nil
}

// shutdown refuses further catalog changes and stops every partition.
func (s *supervisor) shutdown(ctx context.Context) error {
	s.closing = true
	return s.stopAll(ctx)
}

// answerShutdown answers a pending shutdown once no child is left.
func (s *supervisor) answerShutdown(ctx actor.Context) {
	if s.shutdownReply != nil && len(ctx.Children()) == 0 {
		s.shutdownReply <- s.shutdownErr
		s.shutdownReply = nil
	}
}

func (s *supervisor) stopAll(ctx context.Context) error {
	var all []*partition.Partition
	for _, t := range s.topics {
		all = append(all, t.Partitions...)
	}
	if c := s.n.cluster; c != nil && c.meta != nil {
		all = append(all, c.meta)
	}
	return stopPartitions(ctx, all)
}

// childStopped reports a partition actor that stopped.
func (s *supervisor) childStopped(pid *actor.PID) {
	for _, t := range s.topics {
		for _, p := range t.Partitions {
			if p == nil || !p.PID().Equal(pid) {
				continue
			}
			if err := p.Err(); err != nil {
				s.n.cfg.Logger.Error("node: partition stopped after a failure; it stays failed until the node restarts",
					"topic", p.Topic(), "partition", p.ID(), "err", err)
			}
			return
		}
	}
}
