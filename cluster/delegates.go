package cluster

import (
	"github.com/hashicorp/memberlist"
)

// delegates adapts memberlist's delegate interfaces to the view. memberlist calls these on its
// own goroutines (packet handler, stream handlers, probe timers, Join's caller), several of them
// with its node lock held: each copies what it needs out of the *memberlist.Node (memberlist
// owns it and may reuse its slices) and never blocks. Kept off Membership so that these
// methods are not part of its API.
type delegates struct {
	view *view
}

var (
	_ memberlist.Delegate         = delegates{}
	_ memberlist.EventDelegate    = delegates{}
	_ memberlist.MergeDelegate    = delegates{}
	_ memberlist.AliveDelegate    = delegates{}
	_ memberlist.ConflictDelegate = delegates{}
)

// peerOf copies a memberlist node. stateKnown: the node's State field is meaningful (merges).
// NB(cluster): memberlist.Node.State is shadowed by nodeState.State inside memberlist and is
// never set on the nodes handed to EventDelegate and AliveDelegate; only the nodes built for
// NotifyMerge carry a real state.
func peerOf(n *memberlist.Node, stateKnown bool) peer {
	p := peer{id: n.Name, gossipAddr: memberAddr(n.Addr, n.Port), state: StateAlive}
	if stateKnown {
		p.state = stateOf(n.State)
	}
	p.meta, p.metaErr = decodeMeta(n.Meta) // decodes into fresh strings: nothing aliases n.Meta
	return p
}

func stateOf(s memberlist.NodeStateType) State {
	switch s {
	case memberlist.StateSuspect:
		return StateSuspect
	case memberlist.StateDead:
		return StateDead
	case memberlist.StateLeft:
		return StateLeft
	}
	return StateAlive
}

// NodeMeta returns this node's metadata (Delegate). Called by memberlist when it announces
// this node (start, UpdateNode).
func (d delegates) NodeMeta(limit int) []byte {
	b, err := encodeMeta(d.view.localMeta())
	if err != nil || len(b) > limit {
		// Start checked the size with the longest cluster id; an adopted id is at most as long.
		panic("cluster: node metadata outgrew memberlist's limit after Start checked it: " + errString(err))
	}
	return b
}

// NotifyMsg ignores user messages: this package sends none (Delegate).
func (delegates) NotifyMsg([]byte) {}

// GetBroadcasts has nothing to broadcast (Delegate).
func (delegates) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState has no state beyond membership (Delegate).
func (delegates) LocalState(join bool) []byte { return nil }

// MergeRemoteState ignores remote state (Delegate).
func (delegates) MergeRemoteState(buf []byte, join bool) {}

// NotifyJoin records a member that is alive, new or back from dead (EventDelegate).
func (d delegates) NotifyJoin(n *memberlist.Node) { d.view.sawAlive(peerOf(n, false)) }

// NotifyUpdate records a member's new metadata (EventDelegate).
func (d delegates) NotifyUpdate(n *memberlist.Node) { d.view.sawAlive(peerOf(n, false)) }

// NotifyLeave records a member that died or left (EventDelegate).
func (d delegates) NotifyLeave(n *memberlist.Node) { d.view.sawGone(peerOf(n, false)) }

// NotifyMerge refuses a join between incompatible clusters (MergeDelegate); on the joining
// side the refusal makes memberlist's Join fail.
func (d delegates) NotifyMerge(peers []*memberlist.Node) error {
	ps := make([]peer, len(peers))
	for i, n := range peers {
		ps[i] = peerOf(n, true)
	}
	return d.view.checkMerge(ps)
}

// NotifyAlive refuses an alive message from a node that cannot be a member (AliveDelegate).
func (d delegates) NotifyAlive(n *memberlist.Node) error { return d.view.checkAlive(peerOf(n, false)) }

// NotifyConflict is told of two nodes with one name that memberlist itself rejected, for
// example a node restarted on a new address while its old address is still remembered as dead
// (ConflictDelegate).
func (d delegates) NotifyConflict(existing, other *memberlist.Node) {
	d.view.log.Warn("memberlist rejected a node whose id is known at another address; "+
		"if the old node has stopped, memberlist accepts the new address once it forgets the old one",
		"node_id", other.Name, "known_addr", memberAddr(existing.Addr, existing.Port),
		"new_addr", memberAddr(other.Addr, other.Port))
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
