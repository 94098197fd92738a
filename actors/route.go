package actors

import (
	"context"
	"errors"
	"time"

	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/protocol"
)

// routeWait bounds how long a request routed to a partition's leader waits for one to exist
// (a failover or a handover in progress) before it fails with the last error.
const (
	routeWait = 5 * time.Second
	routePoll = 25 * time.Millisecond
)

// onLeader runs local with the partition when this node leads topic/part; otherwise it sends
// the request (t, req) to the leader and decodes the answer into resp, so a command sent to any
// node of a cluster is served (the Redis front relies on it). Leader changes in between are
// retried until routeWait passes or ctx ends. The request type's handler on the leader must be
// local-only (it answers NotLeader, never forwards), so a request crosses at most one hop.
func (b *Broker) onLeader(ctx context.Context, topic string, part int32, t protocol.MessageType, req, resp any,
	local func(p *partition.Partition) error) error {
	deadline := time.Now().Add(routeWait)
	for {
		err := b.routeOnce(ctx, topic, part, t, req, resp, local)
		if err == nil || !retriableRoute(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(routePoll):
		}
	}
}

func (b *Broker) routeOnce(ctx context.Context, topic string, part int32, t protocol.MessageType, req, resp any,
	local func(p *partition.Partition) error) error {
	if err := b.notStopping(); err != nil {
		return err
	}
	tp, err := b.lookupTopic(topic)
	if err != nil {
		return err
	}
	p, perr := b.partitionOf(tp, part)
	if perr == nil && (b.cluster == nil || p.Leadership().IsLeader) {
		return local(p)
	}
	if b.cluster == nil {
		return perr
	}
	leader := ""
	if perr == nil {
		leader = p.Leadership().Leader
	}
	if leader == "" || leader == b.cfg.NodeID {
		leader, _, _ = b.node.GuessLeader(tp, part)
	}
	if leader == "" || leader == b.cfg.NodeID {
		return protocol.Errorf(protocol.ErrUnavailable, "partition %s/%d has no leader right now: retry shortly", topic, part)
	}
	return b.cluster.forwardCall(ctx, leader, t, req, resp)
}

// retriableRoute: a leader change or a leader not known yet.
func retriableRoute(err error) bool {
	return errors.Is(err, protocol.ErrNotLeader) || errors.Is(err, protocol.ErrUnavailable) ||
		errors.Is(err, protocol.ErrStaleEpoch)
}

// deleteRecords is XDEL on one partition (its leader).
func (b *Broker) deleteRecords(ctx context.Context, req *protocol.DeleteRequest) (*protocol.CountResponse, error) {
	p, err := b.localPartition(req.Topic, req.Partition)
	if err != nil {
		return nil, err
	}
	n, err := p.Delete(ctx, req.IDs)
	if err != nil {
		return nil, err
	}
	return &protocol.CountResponse{Count: n}, nil
}

// streamInfo answers a partition's stream figures (its leader).
func (b *Broker) streamInfo(_ context.Context, req *protocol.StreamInfoRequest) (*protocol.StreamInfoResponse, error) {
	p, err := b.localPartition(req.Topic, req.Partition)
	if err != nil {
		return nil, err
	}
	info, err := p.StreamInfo()
	if err != nil {
		return nil, err
	}
	return &info, nil
}

// localPartition returns a partition this node holds a replica of.
func (b *Broker) localPartition(topic string, part int32) (*partition.Partition, error) {
	if err := b.notStopping(); err != nil {
		return nil, err
	}
	t, err := b.lookupTopic(topic)
	if err != nil {
		return nil, err
	}
	return b.partitionOf(t, part)
}
