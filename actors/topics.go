package actors

import (
	"context"

	"github.com/shoalmq/shoal/actors/node"
	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/protocol"
)

// metadata describes this broker and the named topics (every topic when none is named). Topics
// that do not exist are left out: metadata never creates a topic.
func (b *Broker) metadata(_ context.Context, req *protocol.MetadataRequest) (*protocol.MetadataResponse, error) {
	resp := &protocol.MetadataResponse{
		Brokers: []protocol.Broker{{NodeID: b.cfg.NodeID, Addr: b.cfg.BrokerAddr}},
		Topics:  []protocol.TopicMetadata{},
	}
	if len(req.Topics) == 0 {
		for _, t := range b.node.Topics() {
			resp.Topics = append(resp.Topics, b.topicMetadata(t))
		}
		return resp, nil
	}
	for _, name := range req.Topics {
		if t, ok := b.node.Topic(name); ok {
			resp.Topics = append(resp.Topics, b.topicMetadata(t))
		}
	}
	return resp, nil
}

// topicMetadata describes a topic. A failed partition has no leader.
//
// TODO(actors): report a failed partition's error in PartitionMetadata once protocol has a
// field for it; until then its Leader is empty and its failure is in the logs and Stats.
func (b *Broker) topicMetadata(t *node.Topic) protocol.TopicMetadata {
	md := protocol.TopicMetadata{
		Name:       t.Settings.Name,
		Config:     topicConfig(t.Settings),
		Partitions: make([]protocol.PartitionMetadata, 0, len(t.Partitions)),
	}
	for _, p := range t.Partitions {
		leader := b.cfg.NodeID
		if p.Err() != nil {
			leader = ""
		}
		md.Partitions = append(md.Partitions, protocol.PartitionMetadata{
			Partition: p.ID(),
			Leader:    leader,
			Replicas:  []string{b.cfg.NodeID},
			Epoch:     p.Epoch(),
			LogStart:  p.LogStart(),
			LogEnd:    p.HighWatermark(),
		})
	}
	return md
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
	_, err := b.node.CreateTopic(ctx, node.TopicSettings{
		Name:           req.Name,
		Partitions:     req.Config.Partitions,
		Replication:    req.Config.Replication,
		RetentionMs:    req.Config.RetentionMs,
		RetentionBytes: req.Config.RetentionBytes,
	})
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
	if err := b.node.DeleteTopic(ctx, req.Name); err != nil {
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

// partitionOf returns partition id of t.
func partitionOf(t *node.Topic, id int32) (*partition.Partition, error) {
	if id < 0 || int(id) >= len(t.Partitions) {
		return nil, protocol.Errorf(protocol.ErrUnknownPartition, "topic %q has partitions 0..%d, not %d", t.Settings.Name, len(t.Partitions)-1, id)
	}
	return t.Partitions[id], nil
}
