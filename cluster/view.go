package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// EventsCapacity is the capacity of the Events channel. Past it, events are dropped and the
// next delivered one carries Resync.
const EventsCapacity = 256

// Bounds on the refusal bookkeeping.
const (
	// mergeRefusalsMax is how many recent merge refusals are kept for the join loop to recognise
	// its own (see joinOnce).
	mergeRefusalsMax = 16
	// refusalLogInterval: the same refusal is logged at most once per interval (a refused node
	// keeps gossiping, and each of its messages is refused again).
	refusalLogInterval = time.Minute
	// refusalLogKeysMax bounds the set of recently logged refusals.
	refusalLogKeysMax = 256
)

// errNoClusterID is a merge that must wait: this node has no cluster id yet and the other side
// carries none either. Not a refusal: the join retries.
var errNoClusterID = errors.New("cluster: neither this node nor the nodes it reached carry a cluster id yet")

// peer is a memberlist node as the checks and the view see it: copied out of memberlist's
// structures on memberlist's goroutine, with its metadata decoded.
type peer struct {
	id         string
	gossipAddr string
	state      State // memberlist's state where it tells it (merges), else StateAlive
	meta       nodeMeta
	metaErr    error // the metadata could not be read; meta is zero
}

func (p peer) member(state State) Member {
	return Member{ID: p.id, ClusterID: p.meta.ClusterID, GossipAddr: p.gossipAddr,
		BrokerAddr: p.meta.BrokerAddr, HTTPAddr: p.meta.HTTPAddr, State: state,
		ProtocolMin: p.meta.ProtocolMin, ProtocolMax: p.meta.ProtocolMax}
}

// versionRange is a closed range of protocol versions; empty when min > max.
type versionRange struct{ min, max uint16 }

func (r versionRange) empty() bool { return r.min > r.max }

func (r versionRange) intersect(o versionRange) versionRange {
	return versionRange{max(r.min, o.min), min(r.max, o.max)}
}

func (r versionRange) String() string { return fmt.Sprintf("%d..%d", r.min, r.max) }

// everyVersion is the neutral element of intersect.
var everyVersion = versionRange{0, ^uint16(0)}

// view is this node's picture of the cluster: every member it has known (memberlist forgets
// dead ones; the view keeps them until they come back or are forgotten), the cluster id, and
// the checks that refuse strangers. memberlist's delegates call it on memberlist's goroutines,
// sometimes with memberlist's node lock held, so it never calls memberlist and never blocks:
// events go out on a bounded channel, dropped when it is full.
//
// Lock order: memberlist's node lock, then view.mu. Code holding view.mu calls no memberlist.
type view struct {
	localID string
	local   nodeMeta // this node's configured metadata; ClusterID and Leaving live below
	log     *slog.Logger
	// metaChanged receives a token when the local metadata changed (a cluster id was adopted):
	// the membership loop re-advertises it. Capacity 1, sent to without blocking.
	metaChanged chan struct{}
	events      chan Event

	mu sync.Mutex
	// clusterID is this node's cluster id. Invariant: once non-empty it never changes.
	clusterID string
	leaving   bool
	// localGossipAddr is this node's advertised address, known from memberlist's first
	// notification about this node ("" before).
	localGossipAddr string
	members         map[string]Member
	// resync: an event was dropped since the last delivered one.
	resync       bool
	eventsClosed bool
	// mergeRefusals are the latest refusals made by checkMerge, newest last, at most
	// mergeRefusalsMax.
	mergeRefusals []error
	lastRefusal   error
	refusalLogged map[string]time.Time
}

func newView(localID string, local nodeMeta, log *slog.Logger) *view {
	return &view{
		localID:       localID,
		local:         local,
		log:           log,
		metaChanged:   make(chan struct{}, 1),
		events:        make(chan Event, EventsCapacity),
		clusterID:     local.ClusterID,
		members:       map[string]Member{},
		refusalLogged: map[string]time.Time{},
	}
}

// localMeta returns the metadata this node advertises now.
func (v *view) localMeta() nodeMeta {
	v.mu.Lock()
	defer v.mu.Unlock()
	m := v.local
	m.ClusterID, m.Leaving = v.clusterID, v.leaving
	return m
}

func (v *view) setLeaving() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.leaving = true
}

func (v *view) getClusterID() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.clusterID
}

// sawAlive records that p is alive (memberlist's NotifyJoin and NotifyUpdate).
func (v *view) sawAlive(p peer) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if p.id == v.localID && v.localGossipAddr == "" {
		v.localGossipAddr = p.gossipAddr
	}
	v.setMemberLocked(p.member(StateAlive))
}

// sawGone records that p is dead, or left if its last metadata said it was leaving
// (memberlist's NotifyLeave).
func (v *view) sawGone(p peer) {
	state := StateDead
	if p.meta.Leaving {
		state = StateLeft
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.setMemberLocked(p.member(state))
}

// setMemberLocked stores m and, if anything changed, emits it. Needs v.mu.
func (v *view) setMemberLocked(m Member) {
	if old, ok := v.members[m.ID]; ok && old == m {
		return
	}
	v.members[m.ID] = m
	v.emitLocked(m)
}

// emitLocked offers an event without blocking; on a full channel it drops it and marks the
// next one Resync. Needs v.mu (which also orders the events as the changes).
func (v *view) emitLocked(m Member) {
	if v.eventsClosed {
		return
	}
	select {
	case v.events <- Event{Member: m, Resync: v.resync}:
		v.resync = false
	default:
		v.resync = true
	}
}

// closeEvents closes the events channel; later changes are recorded but not sent.
func (v *view) closeEvents() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.eventsClosed {
		v.eventsClosed = true
		close(v.events)
	}
}

// membersSorted returns a copy of every known member, sorted by id.
func (v *view) membersSorted() []Member {
	v.mu.Lock()
	out := make([]Member, 0, len(v.members))
	for _, m := range v.members {
		out = append(out, m)
	}
	v.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// forget drops a dead or left member; alive members and this node stay.
func (v *view) forget(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	m, ok := v.members[id]
	if !ok || id == v.localID || !m.State.Gone() {
		return false
	}
	delete(v.members, id)
	return true
}

// goneAddrs returns the gossip addresses of the members known as dead or left, sorted.
func (v *view) goneAddrs() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var addrs []string
	for _, m := range v.members {
		if m.State.Gone() && m.ID != v.localID && m.GossipAddr != v.localGossipAddr {
			addrs = append(addrs, m.GossipAddr)
		}
	}
	slices.Sort(addrs)
	return slices.Compact(addrs)
}

// checkAlive decides whether memberlist may accept an alive message about p (AliveDelegate:
// gossip, push/pull and this node's own announcements all pass here).
func (v *view) checkAlive(p peer) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.checkPeerLocked(p); err != nil {
		return v.refuseLocked(err, false)
	}
	if v.clusterID != "" && p.meta.ClusterID != "" && p.meta.ClusterID != v.clusterID {
		return v.refuseLocked(clusterMismatch(v.clusterID, p.meta.ClusterID, []string{p.id + "@" + p.gossipAddr}), false)
	}
	ours := v.clusterRangeLocked(p.id)
	theirs := versionRange{p.meta.ProtocolMin, p.meta.ProtocolMax}
	if ours.intersect(theirs).empty() {
		return v.refuseLocked(versionMismatch(ours, theirs, []string{p.id + "@" + p.gossipAddr}), false)
	}
	return nil
}

// checkMerge decides whether this node's cluster and the nodes of the other side of a join
// (MergeDelegate; either side of the join) may become one cluster. With no cluster id of its
// own, this node adopts the other side's.
func (v *view) checkMerge(peers []peer) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	theirs := everyVersion
	idNodes := map[string][]string{} // cluster id -> nodes carrying it
	var names []string
	for _, p := range peers {
		if p.state.Gone() {
			continue
		}
		if err := v.checkPeerLocked(p); err != nil {
			return v.refuseLocked(err, true)
		}
		name := p.id + "@" + p.gossipAddr
		names = append(names, name)
		theirs = theirs.intersect(versionRange{p.meta.ProtocolMin, p.meta.ProtocolMax})
		if p.meta.ClusterID != "" {
			idNodes[p.meta.ClusterID] = append(idNodes[p.meta.ClusterID], name)
		}
	}
	ids := make([]string, 0, len(idNodes))
	for id := range idNodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	switch {
	case len(ids) > 1:
		return v.refuseLocked(fmt.Errorf("%w: the nodes reached mix cluster ids %q (%s) and %q (%s): "+
			"they are two clusters already merged by mistake; stop the nodes of one of them",
			ErrRefused, ids[0], strings.Join(idNodes[ids[0]], " "), ids[1], strings.Join(idNodes[ids[1]], " ")), true)
	case len(ids) == 1 && v.clusterID != "" && ids[0] != v.clusterID:
		return v.refuseLocked(clusterMismatch(v.clusterID, ids[0], idNodes[ids[0]]), true)
	case len(ids) == 0 && v.clusterID == "":
		return errNoClusterID
	case v.clusterID == "" && checkID(ids[0]) != "":
		return v.refuseLocked(fmt.Errorf("%w: the cluster id %q of %s %s: give this node a valid cluster id",
			ErrRefused, ids[0], strings.Join(idNodes[ids[0]], " "), checkID(ids[0])), true)
	}
	if ours := v.clusterRangeLocked(""); ours.intersect(theirs).empty() {
		return v.refuseLocked(versionMismatch(ours, theirs, names), true)
	}
	if v.clusterID == "" {
		v.clusterID = ids[0]
		v.log.Info("adopted the cluster id of the cluster this node joined: persist it", "cluster_id", v.clusterID)
		select {
		case v.metaChanged <- struct{}{}:
		default:
		}
	}
	return nil
}

// checkPeerLocked refuses unreadable metadata and a second node with an id that is alive at
// another address.
func (v *view) checkPeerLocked(p peer) error {
	if p.metaErr != nil {
		return fmt.Errorf("%w: node %q at %s sent metadata this node cannot read (%v): "+
			"is it a Shoal node of a compatible version on this gossip port?", ErrRefused, p.id, p.gossipAddr, p.metaErr)
	}
	if p.id == v.localID && v.localGossipAddr != "" && p.gossipAddr != v.localGossipAddr {
		return fmt.Errorf("%w: this node's id %q is already used by the node at %s (this node is at %s): "+
			"give every node its own node id (if the node at %s has just stopped, wait until the cluster "+
			"declares it dead, then start this one again)", ErrRefused, p.id, p.gossipAddr, v.localGossipAddr, p.gossipAddr)
	}
	if m, ok := v.members[p.id]; ok && p.id != v.localID && !m.State.Gone() && m.GossipAddr != p.gossipAddr {
		return fmt.Errorf("%w: node id %q is already in the cluster at %s, and another node at %s uses it too: "+
			"give every node its own node id (if the node at %s has just stopped, wait until the cluster "+
			"declares it dead, then start the new one again)", ErrRefused, p.id, m.GossipAddr, p.gossipAddr, m.GossipAddr)
	}
	return nil
}

// clusterRangeLocked is the intersection of the version ranges of this node and every member
// that is not gone, except the member named skip.
func (v *view) clusterRangeLocked(skip string) versionRange {
	r := versionRange{v.local.ProtocolMin, v.local.ProtocolMax}
	for _, m := range v.members {
		if m.ID != skip && m.ID != v.localID && !m.State.Gone() {
			r = r.intersect(versionRange{m.ProtocolMin, m.ProtocolMax})
		}
	}
	return r
}

func clusterMismatch(ours, theirs string, nodes []string) error {
	return fmt.Errorf("%w: this node belongs to cluster %q, but %s belong(s) to cluster %q: "+
		"check the join addresses, or give this node the cluster id %q (or none, to adopt it)",
		ErrRefused, ours, strings.Join(nodes, " "), theirs, theirs)
}

func versionMismatch(ours, theirs versionRange, nodes []string) error {
	return fmt.Errorf("%w: this cluster speaks protocol versions %v, but %s speak(s) %v, and the ranges do not overlap: "+
		"upgrade or downgrade one step at a time so that every node shares a version with the others",
		ErrRefused, ours, strings.Join(nodes, " "), theirs)
}

// refuseLocked records and logs a refusal (at most once per refusalLogInterval for the same
// message) and returns it. fromMerge marks refusals the join loop may be waiting for.
func (v *view) refuseLocked(err error, fromMerge bool) error {
	v.lastRefusal = err
	if fromMerge {
		v.mergeRefusals = append(v.mergeRefusals, err)
		if len(v.mergeRefusals) > mergeRefusalsMax {
			v.mergeRefusals = v.mergeRefusals[1:]
		}
	}
	now := time.Now()
	key := err.Error()
	if last, ok := v.refusalLogged[key]; ok && now.Sub(last) < refusalLogInterval {
		return err
	}
	if len(v.refusalLogged) >= refusalLogKeysMax {
		clear(v.refusalLogged)
	}
	v.refusalLogged[key] = now
	v.log.Error("refused a node", "error", err)
	return err
}

// refusalIn returns the recent merge refusal whose message joinErr contains, or nil.
// NB(cluster): memberlist's Join formats the merge delegate's error with %v, so errors.Is
// cannot find ErrRefused in it; the text is all that survives.
func (v *view) refusalIn(joinErr error) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	text := joinErr.Error()
	for i := len(v.mergeRefusals) - 1; i >= 0; i-- {
		if strings.Contains(text, v.mergeRefusals[i].Error()) {
			return v.mergeRefusals[i]
		}
	}
	return nil
}

func (v *view) getLastRefusal() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.lastRefusal
}
