package cluster

import (
	"fmt"
	"net"
	"strconv"
)

// State is a member's state as this node sees it. The values follow memberlist's NodeStateType
// (StateAlive, StateSuspect, StateDead, StateLeft) but are this package's own type.
type State uint8

// Member states.
const (
	// StateAlive: the member answers probes.
	StateAlive State = iota
	// StateSuspect: the member missed probes and may be declared dead. NB(cluster): memberlist
	// v0.7.0 does not tell its delegates about suspicion (see doc.go), so this package does not
	// report it yet; the value exists so that callers can handle it.
	StateSuspect
	// StateDead: the member stopped answering and was declared failed (a crash, or a network
	// split between it and this node).
	StateDead
	// StateLeft: the member left on purpose (Leave).
	StateLeft
)

// String returns "alive", "suspect", "dead" or "left".
func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Gone reports whether the member is dead or left: not a place to send work.
func (s State) Gone() bool { return s == StateDead || s == StateLeft }

// Member is one node of the cluster as this node sees it: its identity, its addresses, its
// protocol version range and its state. A Member is a value: whoever receives one owns it.
type Member struct {
	// ID is the node id (memberlist's node name); unique in the cluster.
	ID string
	// ClusterID is the cluster id the member carries ("" while it is joining and has not
	// adopted one yet).
	ClusterID string
	// GossipAddr is the member's memberlist address (host:port, UDP and TCP).
	GossipAddr string
	// BrokerAddr is the member's broker address (TCP, clients and peers).
	BrokerAddr string
	// HTTPAddr is the member's HTTP address (metrics, health, status).
	HTTPAddr string
	// State is the member's state.
	State State
	// ProtocolMin and ProtocolMax are the range of broker protocol versions the member speaks.
	ProtocolMin, ProtocolMax uint16
}

// String is for logs: "id@gossip-addr (state)".
func (m Member) String() string {
	return fmt.Sprintf("%s@%s (%s)", m.ID, m.GossipAddr, m.State)
}

// Event is a change of one member, delivered by value on Membership.Events.
type Event struct {
	// Member is the member's new state.
	Member Member
	// Resync is set on the first event delivered after one or more events were dropped because
	// the channel was full: the receiver missed changes and should read Members() for the full
	// picture.
	Resync bool
}

// memberAddr is a node's gossip address in host:port form.
func memberAddr(ip net.IP, port uint16) string {
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}
