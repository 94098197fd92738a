package actors

import (
	"context"
	"slices"

	"github.com/shoalmq/shoal/actors/node"
	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/protocol"
)

// metadata describes the brokers and the named topics (every topic when none is named). Topics
// that do not exist are left out: metadata never creates a topic.
func (b *Broker) metadata(ctx context.Context, req *protocol.MetadataRequest) (*protocol.MetadataResponse, error) {
	resp := &protocol.MetadataResponse{
		Brokers: []protocol.Broker{{NodeID: b.cfg.NodeID, Addr: b.cfg.BrokerAddr}},
		Topics:  []protocol.TopicMetadata{},
	}
	if b.node.Clustered() {
		if brokers := b.node.View().Brokers; len(brokers) > 0 {
			resp.Brokers = brokers
		}
	}
	if len(req.Topics) == 0 {
		for _, t := range b.node.Topics() {
			resp.Topics = append(resp.Topics, b.topicMetadata(ctx, t))
		}
		return resp, nil
	}
	for _, name := range req.Topics {
		if t, ok := b.node.Topic(name); ok {
			resp.Topics = append(resp.Topics, b.topicMetadata(ctx, t))
		}
	}
	return resp, nil
}

// topicMetadata describes a topic. A partition this node holds a replica of reports what the
// replica knows (its leader, epoch and replica set; the leader adds who is in sync); another
// reports its replica set at creation and its expected leader (the first live member), with
// epoch 0. A failed partition has no leader.
func (b *Broker) topicMetadata(ctx context.Context, t *node.Topic) protocol.TopicMetadata {
	md := protocol.TopicMetadata{
		Name:       t.Settings.Name,
		Config:     topicConfig(t.Settings),
		Partitions: make([]protocol.PartitionMetadata, 0, len(t.Partitions)),
	}
	for id, p := range t.Partitions {
		if p == nil || p.Leadership().Stale {
			leader, epoch, replicas := b.node.GuessLeader(t, int32(id))
			pm := protocol.PartitionMetadata{Partition: int32(id), Leader: leader, Epoch: epoch, Replicas: replicas}
			if n, ok := b.node.Announced(t.Settings.Name, int32(id)); ok && n.Leader == leader {
				pm.InSync = n.InSync
			}
			md.Partitions = append(md.Partitions, pm)
			continue
		}
		pm := partitionMetadata(ctx, p)
		if n, ok := b.node.Announced(t.Settings.Name, int32(id)); ok && pm.InSync == nil && n.Leader == pm.Leader && n.Epoch == pm.Epoch {
			pm.InSync = n.InSync // a follower: the leader's last word
		}
		md.Partitions = append(md.Partitions, pm)
	}
	return md
}

func partitionMetadata(ctx context.Context, p *partition.Partition) protocol.PartitionMetadata {
	lead := p.Leadership()
	pm := protocol.PartitionMetadata{
		Partition:     p.ID(),
		Leader:        lead.Leader,
		Replicas:      slices.Clone(lead.Replicas),
		Epoch:         lead.Epoch,
		LogStart:      p.LogStart(),
		LogEnd:        p.HighWatermark(),
		HighWatermark: p.HighWatermark(),
	}
	if p.Err() != nil {
		pm.Leader = ""
	}
	if lead.IsLeader {
		if st, err := p.Replication(ctx); err == nil {
			pm.InSync = idStrings(st.InSync())
		}
	}
	return pm
}

func topicConfig(s node.TopicSettings) protocol.TopicConfig {
	return protocol.TopicConfig{
		Partitions:     s.Partitions,
		Replication:    s.Replication,
		RetentionMs:    s.RetentionMs,
		RetentionBytes: s.RetentionBytes,
	}
}

// createTopic creates a topic; zero settings take the node's defaults.
func (b *Broker) createTopic(ctx context.Context, req *protocol.CreateTopicRequest) (*protocol.Empty, error) {
	if err := b.notStopping(); err != nil {
		return nil, err
	}
	err := b.viaMetaLeader(ctx, req.Name, true, func() error {
		_, err := b.node.CreateTopic(ctx, node.TopicSettings{
			Name:           req.Name,
			Partitions:     req.Config.Partitions,
			Replication:    req.Config.Replication,
			RetentionMs:    req.Config.RetentionMs,
			RetentionBytes: req.Config.RetentionBytes,
		})
		return err
	}, protocol.TypeCreateTopic, req)
	if err != nil {
		return nil, err
	}
	return &protocol.Empty{}, nil
}

// deleteTopic deletes a topic and its data.
func (b *Broker) deleteTopic(ctx context.Context, req *protocol.DeleteTopicRequest) (*protocol.Empty, error) {
	if err := b.notStopping(); err != nil {
		return nil, err
	}
	if err := node.ValidateTopicName(req.Name); err != nil {
		return nil, err
	}
	err := b.viaMetaLeader(ctx, req.Name, false, func() error { return b.node.DeleteTopic(ctx, req.Name) },
		protocol.TypeDeleteTopic, req)
	if err != nil {
		return nil, err
	}
	return &protocol.Empty{}, nil
}

// listTopics names every topic, sorted.
func (b *Broker) listTopics(_ context.Context, _ *protocol.Empty) (*protocol.ListTopicsResponse, error) {
	topics := b.node.Topics()
	resp := &protocol.ListTopicsResponse{Topics: make([]string, 0, len(topics))}
	for _, t := range topics {
		resp.Topics = append(resp.Topics, t.Settings.Name)
	}
	return resp, nil
}

// lookupTopic returns an existing topic (never creating it).
func (b *Broker) lookupTopic(name string) (*node.Topic, error) {
	if name == "" {
		return nil, protocol.Errorf(protocol.ErrInvalidArgument, "%v", errTopicRequired)
	}
	if err := node.ValidateTopicName(name); err != nil {
		return nil, err
	}
	t, ok := b.node.Topic(name)
	if !ok {
		return nil, protocol.Errorf(protocol.ErrUnknownTopic, "topic %q does not exist", name)
	}
	return t, nil
}

// partitionOf returns partition id of t: protocol.ErrNotLeader when this node holds no replica.
func (b *Broker) partitionOf(t *node.Topic, id int32) (*partition.Partition, error) {
	return b.node.PartitionOf(t, id)
}

func idStrings[T ~string](ids []T) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}
