package simulation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/simulation/check"
	"github.com/shoalmq/shoal/storage"
)

// errSimEIO is the error of an injected fsync failure.
var errSimEIO = errors.New("sim: input/output error")

// action is one step of the schedule: a fault starting, or ending.
type action struct {
	at   time.Duration
	what string
	do   func()
}

// executor runs the schedule on one goroutine, in time order.
type executor struct {
	r     *clusterRun
	start time.Time
	queue []action
}

// after queues fn to run d from now.
func (e *executor) after(d time.Duration, what string, fn func()) {
	e.queue = append(e.queue, action{at: time.Since(e.start) + d, what: what, do: fn})
}

// runSchedule runs the faults of the safety phase and returns at its end; the faults still on
// then are ended by heal.
func (r *clusterRun) runSchedule() {
	e := &executor{r: r, start: time.Now()}
	for _, f := range r.faults.Schedule {
		e.queue = append(e.queue, action{at: f.At, what: string(f.Class), do: func() { r.inject(e, f) }})
	}
	for {
		sort.SliceStable(e.queue, func(i, j int) bool { return e.queue[i].at < e.queue[j].at })
		if len(e.queue) == 0 || e.queue[0].at >= r.cfg.Safety {
			break
		}
		next := e.queue[0]
		e.queue = e.queue[1:]
		if d := time.Until(e.start.Add(next.at)); d > 0 {
			time.Sleep(d) // the schedule's clock: the next fault is due then
		}
		next.do()
	}
	if d := time.Until(e.start.Add(r.cfg.Safety)); d > 0 {
		time.Sleep(d) // the rest of the safety phase: traffic runs
	}
}

// pick returns the Victim-th of the nodes, or nil when there is none.
func pick(nodes []*cnode, victim int) *cnode {
	if len(nodes) == 0 {
		return nil
	}
	return nodes[victim%len(nodes)]
}

// pickLink returns two different nodes drawn from victim, or nils when there are not two.
func pickLink(nodes []*cnode, victim int) (a, b *cnode) {
	if len(nodes) < 2 {
		return nil, nil
	}
	a = pick(nodes, victim)
	b = pick(nodes, victim/len(nodes)+victim%len(nodes)+1)
	if a == b {
		return nil, nil
	}
	return a, b
}

// downCount returns the nodes not gone and, of them, the ones down.
func (r *clusterRun) downCount() (alive, down int) {
	for _, nd := range r.allNodes() {
		switch nd.getState() {
		case nodeUp:
			alive++
		case nodeDown, nodeRefused:
			alive++
			down++
		}
	}
	return alive, down
}

// canTakeDown reports whether k more nodes may go down while a majority stays up.
func (r *clusterRun) canTakeDown(k int) bool {
	alive, down := r.downCount()
	return down+k <= (alive-1)/2
}

// inject starts one scheduled fault (and queues its end).
func (r *clusterRun) inject(e *executor, f ScheduledFault) {
	up := r.upNodes()
	switch f.Class {
	case ClassIsolate:
		r.injectIsolate(e, f, up)
	case ClassSplit:
		r.injectSplit(e, f, up)
	case ClassOneWay:
		a, b := pickLink(up, f.Victim)
		if a == nil {
			return
		}
		r.net.Block(a.id, b.id)
		r.count(ClassOneWay)
		r.note("one-way loss %s → %s for %v", a.id, b.id, f.For)
		r.faultEvent(ClassOneWay, a.id, f.For, fmt.Sprintf("one-way loss %s → %s", a.id, b.id))
		e.after(f.For, "one-way end", func() { r.net.Unblock(a.id, b.id) })
	case ClassSlow:
		a, b := pickLink(up, f.Victim)
		if a == nil {
			return
		}
		d := time.Duration(20+f.Victim%281) * time.Millisecond
		r.net.Slow(a.id, b.id, d)
		r.net.Slow(b.id, a.id, d)
		r.count(ClassSlow)
		r.note("link %s ↔ %s slowed by %v for %v", a.id, b.id, d, f.For)
		r.faultEvent(ClassSlow, a.id, f.For, fmt.Sprintf("link %s ↔ %s slowed by %v", a.id, b.id, d))
		e.after(f.For, "slow end", func() { r.net.Unslow(a.id, b.id, d); r.net.Unslow(b.id, a.id, d) })
	case ClassPause:
		nd := pick(up, f.Victim)
		if nd == nil {
			return
		}
		r.net.Pause(nd.id)
		r.count(ClassPause)
		r.note("%s paused (SIGSTOP) for %v", nd.id, f.For)
		r.nodeEvent(EventPause, nd, ClassPause, "paused")
		e.after(f.For, "resume", func() {
			r.net.Resume(nd.id)
			r.nodeEvent(EventResume, nd, ClassPause, "resumed")
		})
	case ClassCrash:
		nd := pick(up, f.Victim)
		if nd == nil || !r.canTakeDown(1) {
			return
		}
		r.crashNode(nd, ClassCrash)
		e.after(f.For, "restart", func() { r.restart(nd) })
	case ClassPowerLoss:
		if _, down := r.downCount(); down > 0 || len(up) < 2 {
			return
		}
		victims := up[:len(up)/2+1]
		for _, nd := range victims {
			r.crashNode(nd, ClassPowerLoss)
		}
		e.after(f.For, "power back", func() {
			for _, nd := range victims {
				r.restart(nd)
			}
		})
	case ClassFsyncError:
		nd := pick(up, f.Victim)
		if nd == nil {
			return
		}
		nd.fs.InjectSyncError(errSimEIO, 1)
		r.count(ClassFsyncError)
		r.note("%s: the next fsync fails; restarted in %v", nd.id, f.For)
		r.faultEvent(ClassFsyncError, nd.id, f.For, fmt.Sprintf("%s: the next fsync fails", nd.id))
		e.after(f.For, "restart after fsync error", func() {
			nd.fs.InjectSyncError(nil, 0)
			if nd.getState() == nodeUp && r.canTakeDown(1) {
				r.crashNode(nd, ClassFsyncError)
				r.restart(nd)
			}
		})
	case ClassBitFlip:
		r.injectBitFlip(f, up)
	case ClassJoin:
		r.join()
	case ClassDrain:
		r.drain(pick(up, f.Victim))
	case ClassLeave:
		nd := pick(up, f.Victim)
		if nd == nil || !r.canTakeDown(1) {
			return
		}
		r.openMeasures(nd, ClassLeave)
		r.count(ClassLeave)
		r.note("%s leaves (SIGTERM) for %v", nd.id, f.For)
		r.nodeEvent(EventCrash, nd, ClassLeave, "leaves (SIGTERM)")
		nd.leave()
		e.after(f.For, "restart after leave", func() { r.restart(nd) })
	case ClassRemove:
		nd := pick(up, f.Victim)
		if nd == nil || !r.canTakeDown(1) || !r.canLoseOne() {
			return
		}
		r.count(ClassRemove)
		r.removeForGood(nd, ClassRemove)
	}
}

// nodeEvent puts an event of one node on the timeline (class: the fault behind it, or "").
func (r *clusterRun) nodeEvent(kind EventKind, nd *cnode, class Class, detail string) {
	r.event(Event{Kind: kind, Partition: -1, Node: replication.NodeID(nd.id), Class: class, Detail: detail})
}

// faultEvent puts a fault on the timeline; one that lasts 0 has no end of its own (it ends at
// healing, or never).
func (r *clusterRun) faultEvent(c Class, node string, lasting time.Duration, detail string) {
	e := Event{Kind: EventFault, Partition: -1, Node: replication.NodeID(node), Class: c, Detail: detail}
	if lasting > 0 {
		e.Until = r.now() + lasting.Milliseconds()
	}
	r.event(e)
}

func (r *clusterRun) count(c Class) {
	r.mu.Lock()
	r.counts[c]++
	r.mu.Unlock()
}

func (r *clusterRun) injectIsolate(e *executor, f ScheduledFault, up []*cnode) {
	nd := pick(up, f.Victim)
	if nd == nil {
		return
	}
	var others []*cnode
	for _, o := range r.allNodes() {
		if o != nd {
			others = append(others, o)
			r.net.Block(nd.id, o.id)
			r.net.Block(o.id, nd.id)
		}
	}
	r.count(ClassIsolate)
	r.note("%s isolated for %v", nd.id, f.For)
	r.faultEvent(ClassIsolate, nd.id, f.For, nd.id+" isolated")
	e.after(f.For, "isolate end", func() {
		for _, o := range others {
			r.net.Unblock(nd.id, o.id)
			r.net.Unblock(o.id, nd.id)
		}
	})
}

func (r *clusterRun) injectSplit(e *executor, f ScheduledFault, up []*cnode) {
	all := r.allNodes()
	if len(all) < 2 {
		return
	}
	k := 1 + f.Victim%(len(all)/2)
	first := (f.Victim / 7) % len(all)
	var a, b []*cnode
	for i := range all {
		if (i-first+len(all))%len(all) < k {
			a = append(a, all[i])
		} else {
			b = append(b, all[i])
		}
	}
	for _, x := range a {
		for _, y := range b {
			r.net.Block(x.id, y.id)
			r.net.Block(y.id, x.id)
		}
	}
	r.count(ClassSplit)
	r.note("split %v | %v for %v", ids(a), ids(b), f.For)
	r.faultEvent(ClassSplit, "", f.For, fmt.Sprintf("split %v | %v", ids(a), ids(b)))
	e.after(f.For, "split end", func() {
		for _, x := range a {
			for _, y := range b {
				r.net.Unblock(x.id, y.id)
				r.net.Unblock(y.id, x.id)
			}
		}
	})
}

func ids(nodes []*cnode) []string {
	out := make([]string, len(nodes))
	for i, nd := range nodes {
		out[i] = nd.id
	}
	return out
}

// openMeasures starts a failover measurement for every partition nd leads and an RF-restore
// measurement if it holds a replica, as nd is about to go down for cause.
func (r *clusterRun) openMeasures(nd *cnode, cause Class) {
	var led []int
	holds := false
	for p := range r.cfg.Partitions {
		part := nd.partition(p)
		if part == nil {
			continue
		}
		holds = true
		if part.Leadership().IsLeader {
			led = append(led, p)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for _, p := range led {
		r.failover = append(r.failover, &Failover{Partition: p, Node: replication.NodeID(nd.id), Cause: cause, Start: now, Ticks: -1})
	}
	if holds {
		r.rfOpen = append(r.rfOpen, now)
	}
}

// crashNode crashes a running node (a torn crash with TornTailPercent).
func (r *clusterRun) crashNode(nd *cnode, cause Class) {
	r.openMeasures(nd, cause)
	r.mu.Lock()
	r.counts[cause]++
	torn := r.faults.TornTailPercent > 0 && r.diskRNG.IntN(100) < r.faults.TornTailPercent
	if torn {
		r.counts[ClassTornTail]++
	}
	r.mu.Unlock()
	r.note("%s crashes (%s, torn tail %t)", nd.id, cause, torn)
	r.nodeEvent(EventCrash, nd, cause, fmt.Sprintf("%s, torn tail %t", cause, torn))
	nd.crash(torn, nodeDown)
}

// restart starts a node that is down on its disk again, and tells the checker what its crash
// dropped. A node that refuses to start after a crash is a liveness failure.
func (r *clusterRun) restart(nd *cnode) {
	if nd.getState() != nodeDown {
		return
	}
	if err := nd.start(r.seedsFor(nd)); err != nil {
		nd.mu.Lock()
		nd.state = nodeRefused
		nd.mu.Unlock()
		r.note("%s refuses to restart: %v", nd.id, err)
		r.violate(check.Violation{Invariant: check.Liveness, Tick: r.now(), Partition: -1, Replicas: []replication.NodeID{replication.NodeID(nd.id)},
			Detail: fmt.Sprintf("%s refused to restart after a crash or a leave: %v", nd.id, err)})
		return
	}
	r.note("%s restarted", nd.id)
	r.nodeEvent(EventRestart, nd, "", "restarted")
	nd.mu.Lock()
	ends := nd.endsAtCrash
	nd.endsAtCrash = nil
	nd.mu.Unlock()
	for p, end := range ends {
		if part := nd.partition(p); part != nil {
			if now := part.Stats().LogEnd; now < end {
				r.mu.Lock()
				r.chk.Dropped(p, replication.NodeID(nd.id), replication.Offset(now), replication.Offset(end))
				r.mu.Unlock()
				r.note("%s: partition %d lost offsets %d..%d in the crash", nd.id, p, now, end-1)
			}
		}
	}
}

// join starts a new node that joins the running ones.
func (r *clusterRun) join() bool {
	r.mu.Lock()
	if r.joined >= maxJoins {
		r.mu.Unlock()
		return false
	}
	r.joined++
	nd := r.newNode(len(r.nodes))
	r.nodes = append(r.nodes, nd)
	r.counts[ClassJoin]++
	r.mu.Unlock()
	nd.clockSkew.Store(int64(nd.skew))
	if err := nd.start(r.seedsFor(nd)); err != nil {
		panic(fmt.Sprintf("sim: a new node %s does not start: %v", nd.id, err))
	}
	r.faultEvent(ClassJoin, nd.id, 0, nd.id+" joins")
	// Wait (bounded) until the running nodes see it, so that a removal that counts on it is
	// judged on views that include it.
	err := waitUntil(time.Now().Add(5*time.Second), func() error {
		for _, o := range r.upNodes() {
			if b := o.broker(); b != nil && !slices.Contains(b.Node().View().Alive, nd.id) {
				return fmt.Errorf("%s does not see %s yet", o.id, nd.id)
			}
		}
		return nil
	})
	r.note("%s joins (seen by all: %v)", nd.id, err == nil)
	return true
}

// admin sends an operator's request through a running node other than the one it is about,
// retrying while the catalog has no leader; a refusal (invalid argument) is returned.
func (r *clusterRun) admin(req protocol.ClusterAdminRequest, bound time.Duration, retryRefusal bool) error {
	deadline := time.Now().Add(bound)
	var err error
	for i := 0; time.Now().Before(deadline); i++ {
		r.mu.Lock()
		healed := r.phase == "liveness"
		r.mu.Unlock()
		if healed {
			r.restartFailed()
		}
		var via []*cnode
		for _, nd := range r.upNodes() {
			if nd.id != req.Node {
				via = append(via, nd)
			}
		}
		if nd := pick(via, i); nd != nil {
			ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
			err = r.call(ctx, nd.id, protocol.TypeClusterAdmin, &req, nil)
			cancel()
			if err == nil || !retryRefusal && protocol.CodeOf(err) == protocol.CodeInvalidArgument {
				return err
			}
		}
		time.Sleep(50 * time.Millisecond) // retry interval while the catalog changes leader
	}
	return fmt.Errorf("%s %s not accepted within %v: %w", req.Op, req.Node, bound, err)
}

// drain drains a running node; a refusal (too few nodes would be left for RF) is counted.
func (r *clusterRun) drain(nd *cnode) {
	if nd == nil || nd.isDraining() {
		return
	}
	err := r.admin(protocol.ClusterAdminRequest{Op: protocol.AdminDrain, Node: nd.id}, 3*time.Second, false)
	switch {
	case err == nil:
		nd.mu.Lock()
		nd.draining = true
		nd.mu.Unlock()
		r.count(ClassDrain)
		r.note("%s drained", nd.id)
		r.faultEvent(ClassDrain, nd.id, 0, nd.id+" drained")
	case protocol.CodeOf(err) == protocol.CodeInvalidArgument:
		r.count("drain refused")
		r.note("drain of %s refused: %v", nd.id, err)
	default:
		r.note("drain of %s failed: %v", nd.id, err)
	}
}

// removeForGood kills a node for good and has it removed (`cluster remove --force`); when the
// others would be fewer than RF, a new node joins first. At most one node per run.
func (r *clusterRun) removeForGood(nd *cnode, cause Class) {
	r.mu.Lock()
	if r.lost > 0 {
		r.mu.Unlock()
		return
	}
	r.lost++
	r.mu.Unlock()
	if r.placeable()-1 < clusterRF && !r.join() {
		return
	}
	if nd.getState() == nodeUp {
		r.openMeasures(nd, cause)
		r.note("%s killed for good (%s)", nd.id, cause)
		r.nodeEvent(EventCrash, nd, cause, fmt.Sprintf("killed for good (%s)", cause))
		nd.crash(false, nodeGone)
	} else {
		nd.mu.Lock()
		nd.state = nodeGone
		nd.mu.Unlock()
	}
	// Its disk is gone with it: for the checker it dropped all it held. Under fsync=interval a
	// record that only it and replicas that crashed held is lost with a majority of its
	// replicas, as the design allows (seed 71: n2 and n1 committed offsets n4 lacked, n2 was
	// removed, n1's fsync failed and it restarted without them).
	nd.mu.Lock()
	ends := nd.endsAtCrash
	nd.mu.Unlock()
	r.mu.Lock()
	for p, end := range ends {
		r.chk.Dropped(p, replication.NodeID(nd.id), 0, replication.Offset(end))
	}
	r.mu.Unlock()
	r.removeGone(nd, 5*time.Second, false)
}

// removeGone has a node that is gone removed. During the safety phase the catalog may be
// unavailable (faults go on): the removal is then retried after healing, where failing is a
// liveness violation.
func (r *clusterRun) removeGone(nd *cnode, bound time.Duration, final bool) {
	err := r.admin(protocol.ClusterAdminRequest{Op: protocol.AdminRemove, Node: nd.id, Force: true}, bound, true)
	switch {
	case err != nil && strings.Contains(err.Error(), "is not a member of this cluster"):
		// NB(sim): the catalog leader no longer knows a node dead past --dead-grace that the
		// gossip forgot, and refuses to remove it although replica sets may still name it;
		// healing replaces it anyway. Counted, not a failure.
		r.count("remove refused: forgotten")
		r.note("remove of %s refused: %v", nd.id, err)
	case err == nil:
		r.note("%s removed", nd.id)
		r.faultEvent(ClassRemove, nd.id, 0, nd.id+" removed (remove --force)")
		nd.mu.Lock()
		nd.removed = true
		nd.mu.Unlock()
	case final:
		r.violate(check.Violation{Invariant: check.Liveness, Tick: r.now(), Partition: -1, Replicas: []replication.NodeID{replication.NodeID(nd.id)},
			Detail: fmt.Sprintf("remove --force of %s after healing, with %d other nodes for RF %d: %v", nd.id, r.placeable(), clusterRF, err)})
	default:
		r.note("remove of %s not accepted yet (retried after healing): %v", nd.id, err)
	}
}

// canLoseOne reports whether a node may be lost for good: none was yet, and the others are
// enough for RF or a new node may still join.
func (r *clusterRun) canLoseOne() bool {
	enough := r.placeable()-1 >= clusterRF
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lost == 0 && (enough || r.joined < maxJoins)
}

// placeable counts the nodes placement may use: not gone, not drained.
func (r *clusterRun) placeable() int {
	n := 0
	for _, nd := range r.allNodes() {
		if st := nd.getState(); st != nodeGone && !nd.isDraining() {
			n++
		}
	}
	return n
}

// injectBitFlip crashes a node, flips a bit of one of its sealed segments and restarts it. What
// the sim expects: the damage is never served (the checker and the CRC checks of every read
// see to that), and the node finds it: its start fails with an error wrapping
// storage.ErrCorrupt, or its replica reports ErrCorrupt when the damaged range is read. Either
// way an operator replaces the node: it is killed for good and removed (removeForGood).
func (r *clusterRun) injectBitFlip(f ScheduledFault, up []*cnode) {
	nd := pick(up, f.Victim)
	r.mu.Lock()
	lost := r.lost
	r.mu.Unlock()
	if nd == nil || lost > 0 || !r.canTakeDown(1) || !r.canLoseOne() {
		return
	}
	r.crashNode(nd, ClassBitFlip)
	path, pos, err := nd.flipBit(f.Victim)
	if err != nil {
		panic(fmt.Sprintf("sim: flip a bit on %s: %v", nd.id, err))
	}
	if path == "" {
		r.note("%s has no sealed segment to damage; restarted", nd.id)
		r.restart(nd)
		return
	}
	r.note("%s: bit flipped in %s at byte %d", nd.id, path, pos)
	r.faultEvent(ClassBitFlip, nd.id, 0, fmt.Sprintf("%s: bit flipped in %s at byte %d", nd.id, path, pos))
	switch err := nd.start(r.seedsFor(nd)); {
	case err == nil:
		r.nodeEvent(EventRestart, nd, "", "restarted with the damage")
		r.note("%s started with the damage: %s", nd.id, r.probeCorrupt(nd))
	case errors.Is(err, storage.ErrCorrupt):
		r.count("bit-flip refused at start")
		r.note("%s refuses to start: %v", nd.id, err)
		nd.mu.Lock()
		nd.state = nodeRefused
		nd.mu.Unlock()
	default:
		r.violate(check.Violation{Invariant: check.Liveness, Tick: r.now(), Partition: -1, Replicas: []replication.NodeID{replication.NodeID(nd.id)},
			Detail: fmt.Sprintf("%s, with a bit flipped in %s, failed to start with an error that is not ErrCorrupt: %v", nd.id, path, err)})
		nd.mu.Lock()
		nd.state = nodeRefused
		nd.mu.Unlock()
	}
	r.removeForGood(nd, ClassBitFlip)
}

// probeCorrupt reads every replica of a node with a damaged segment from offset 0 and says
// whether the damage was reported (ErrCorrupt) or not reached (below the commit point only).
func (r *clusterRun) probeCorrupt(nd *cnode) string {
	for p := range r.cfg.Partitions {
		part := nd.partition(p)
		if part == nil {
			continue
		}
		for from := uint64(0); from < part.HighWatermark(); {
			res, err := part.ReadCommitted(from, 256<<10)
			if errors.Is(err, storage.ErrCorrupt) {
				r.count("bit-flip refused on read")
				return fmt.Sprintf("partition %d reports it on read: %v", p, err)
			}
			if err != nil || len(res.Data) == 0 {
				break
			}
			if _, err := entriesFrom(res.Data, from); err != nil {
				r.violate(check.Violation{Invariant: check.CorruptRead, Tick: r.now(), Partition: p, Offset: replication.Offset(from),
					Replicas: []replication.NodeID{replication.NodeID(nd.id)}, Detail: fmt.Sprintf("%s served its damaged segment: %v", nd.id, err)})
				return "served the damage"
			}
			from = res.Next
		}
	}
	r.count("bit-flip not reached")
	return "not reached by a read below the commit point yet"
}
