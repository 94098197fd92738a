package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shoalmq/shoal/cluster"
	"github.com/shoalmq/shoal/protocol"
)

// Cluster timing defaults, per gossip profile (the replication core counts ticks).
const (
	DefaultDeadGrace = 5 * time.Second
	// DefaultTickInterval is one tick of every partition's replication core.
	DefaultTickInterval = 50 * time.Millisecond
	// DefaultHeartbeatTicks and DefaultElectionTicks: a leader heartbeats every 100 ms; a
	// follower that hears nothing for 500 ms (or sees its leader dead in gossip) starts a
	// promotion, and a leader that hears no majority for 500 ms steps down.
	DefaultHeartbeatTicks = 2
	DefaultElectionTicks  = 10
)

// ClusterConfig makes a Broker a member of a cluster: its partitions are replicated to the
// nodes placement picks, over the broker transport, and the topic catalog is the replicated
// __meta partition. Without it (Config.Cluster nil) the node runs standalone: every partition
// is a replica set of this node alone.
type ClusterConfig struct {
	// Membership is this node's running gossip membership (cluster.Start). The broker reads
	// its events; the caller starts it before the broker and leaves or shuts it down after
	// Broker.Stop.
	Membership *cluster.Membership
	// Bootstrap: this node starts a new cluster (it was given no seeds): it creates the __meta
	// partition with itself as its only voter. Joining nodes receive __meta from its leader.
	Bootstrap bool
	// DeadGrace is how long a member must stay dead before its replicas are replaced
	// (DefaultDeadGrace when 0), so a restart does not move data.
	DeadGrace time.Duration
	// TickInterval, HeartbeatTicks and ElectionTicks time the replication cores (defaults above).
	TickInterval                  time.Duration
	HeartbeatTicks, ElectionTicks int
	// MoveRate bounds the log bytes per second this node's leaders send to learners: replicas
	// catching up in a move or an RF restore (0: unlimited). One budget for the whole node;
	// appends past it wait for the replication core to resend them (partition.MoveThrottle).
	MoveRate int64
	// Dial connects to another node's broker address (nil: TCP with protocol/transport). Only
	// the simulation sets it, with an in-memory network.
	Dial func(ctx context.Context, addr string) (PeerConn, error)
}

// PeerConn is a connection to another node's broker: a *transport.Conn, or the simulation's.
// Call may be used from many goroutines at once.
type PeerConn interface {
	Call(ctx context.Context, t protocol.MessageType, req, resp any) error
	Close() error
}

func (c *ClusterConfig) withDefaults() ClusterConfig {
	out := *c
	if out.DeadGrace == 0 {
		out.DeadGrace = DefaultDeadGrace
	}
	if out.TickInterval == 0 {
		out.TickInterval = DefaultTickInterval
	}
	if out.HeartbeatTicks == 0 {
		out.HeartbeatTicks = DefaultHeartbeatTicks
	}
	if out.ElectionTicks == 0 {
		out.ElectionTicks = DefaultElectionTicks
	}
	return out
}

func (c *ClusterConfig) validate(nodeID string) error {
	if c == nil {
		return nil
	}
	var errs []error
	if c.Membership == nil {
		errs = append(errs, errors.New("actors: Cluster.Membership is nil"))
	} else if id := c.Membership.LocalID(); id != nodeID {
		errs = append(errs, fmt.Errorf("actors: membership node id %q differs from the broker's %q", id, nodeID))
	}
	if c.MoveRate < 0 {
		errs = append(errs, fmt.Errorf("actors: Cluster.MoveRate %d bytes/s is negative (0: unlimited)", c.MoveRate))
	}
	if c.DeadGrace < 0 || c.TickInterval < 0 || c.HeartbeatTicks < 0 || c.ElectionTicks < 0 {
		errs = append(errs, fmt.Errorf("actors: negative cluster timing (dead grace %v, tick %v, heartbeat %d, election %d)",
			c.DeadGrace, c.TickInterval, c.HeartbeatTicks, c.ElectionTicks))
	}
	if c.ElectionTicks != 0 && c.HeartbeatTicks != 0 && c.ElectionTicks <= 2*c.HeartbeatTicks {
		errs = append(errs, fmt.Errorf("actors: ElectionTicks %d must exceed twice HeartbeatTicks %d", c.ElectionTicks, c.HeartbeatTicks))
	}
	return errors.Join(errs...)
}
