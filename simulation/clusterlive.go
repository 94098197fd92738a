package simulation

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/simulation/check"
	"github.com/shoalmq/shoal/simulation/memnet"
)

// heal ends every fault: links open, paused nodes resume, per-message faults stop, armed fsync
// errors are disarmed, and nodes that are down restart (nodes gone for good stay gone).
func (r *clusterRun) heal() {
	r.note("all faults healed")
	r.healEvent()
	r.net.HealLinks()
	for _, id := range r.net.ResumeAll() {
		r.event(Event{Kind: EventResume, Partition: -1, Node: replication.NodeID(id), Class: ClassPause, Detail: "resumed at healing"})
	}
	r.net.SetKnobs(memnet.Knobs{})
	for _, nd := range r.allNodes() {
		nd.fs.InjectSyncError(nil, 0)
	}
	r.restartFailed()
	for _, nd := range r.allNodes() {
		if nd.getState() == nodeDown {
			r.restart(nd)
		}
	}
	for _, nd := range r.allNodes() {
		nd.mu.Lock()
		pending := (nd.state == nodeGone || nd.state == nodeRefused) && !nd.removed && nd.started
		nd.mu.Unlock()
		if pending {
			nd.mu.Lock()
			nd.state = nodeGone
			nd.mu.Unlock()
			r.removeGone(nd, 15*time.Second, true)
		}
	}
}

// healEvent puts the healing on the timeline, and ends there the faults that were to last
// longer.
func (r *clusterRun) healEvent() {
	if !r.cfg.Timeline {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eventLocked(Event{Kind: EventHeal, Partition: -1, Detail: "all faults healed"})
	now := r.timeline[len(r.timeline)-1].Tick
	for i := range r.timeline {
		if r.timeline[i].Until > now {
			r.timeline[i].Until = now
		}
	}
}

// restartFailed restarts the running nodes with a failed partition, __meta included: a log
// whose fsync failed refuses writes until it is reopened, and an operator's or a supervisor's
// restart reopens it. It runs at healing and on every poll of the liveness phase: an fsync
// error armed before healing can fire just after it (seed 92: __meta failed on a node a moment
// after the check, and with another voter removed the catalog took no removal for good).
func (r *clusterRun) restartFailed() {
	for _, nd := range r.allNodes() {
		if nd.getState() == nodeUp && nd.failedPartition() {
			r.note("%s has a failed partition: restarted", nd.id)
			r.nodeEvent(EventCrash, nd, ClassFsyncError, "a partition failed: restarted")
			r.openMeasures(nd, ClassFsyncError)
			nd.crash(false, nodeDown)
			r.restart(nd)
		}
	}
}

// failedPartition reports whether one of the node's partitions, __meta included, failed on an
// injected fsync error. A failure of any other cause is left alone: it is a bug to report.
func (nd *cnode) failedPartition() bool {
	b := nd.broker()
	if b == nil {
		return false
	}
	parts := []*partition.Partition{b.Node().Meta()}
	for _, t := range b.Node().Topics() {
		parts = append(parts, t.Partitions...)
	}
	for _, p := range parts {
		if p != nil && errors.Is(p.Err(), errSimEIO) {
			return true
		}
	}
	return false
}

// converged returns partition p's leader when p is fully replicated and every voter follows
// the leader in its epoch with its commit point; with whole, every voter's log also ends at
// the commit point (everything written is committed).
func (r *clusterRun) converged(p int, whole bool) (*cnode, error) {
	leader, err := r.fullyReplicated(p)
	if err != nil {
		return nil, err
	}
	lp := leader.partition(p)
	if lp == nil {
		return nil, fmt.Errorf("partition %d: its leader %s stopped", p, leader.id)
	}
	l, hw := lp.Leadership(), lp.HighWatermark()
	for _, id := range l.Replicas {
		part := r.node(id).partition(p)
		if part == nil {
			return nil, fmt.Errorf("partition %d: voter %s holds no replica", p, id)
		}
		fl, fhw := part.Leadership(), part.HighWatermark()
		if fl.Leader != leader.id || fl.Epoch != l.Epoch || fhw != hw {
			return nil, fmt.Errorf("partition %d: %s follows %q in epoch %d with commit point %d; the leader %s is in epoch %d at %d",
				p, id, fl.Leader, fl.Epoch, fhw, leader.id, l.Epoch, hw)
		}
		if end := part.Stats().LogEnd; whole && end != hw {
			return nil, fmt.Errorf("partition %d: %s's log ends at %d, its commit point is %d", p, id, end, hw)
		}
	}
	return leader, nil
}

func (r *clusterRun) convergedAll(whole bool) error {
	for p := range r.cfg.Partitions {
		if _, err := r.converged(p, whole); err != nil {
			return err
		}
	}
	return nil
}

// liveness waits for the healed cluster to converge idle, writes one acks=quorum probe per
// partition, waits for it to converge with every log equal, and runs the final checks.
func (r *clusterRun) liveness() {
	healed := time.Now()
	deadline := healed.Add(r.cfg.Liveness)
	if err := waitUntil(deadline, func() error { r.restartFailed(); return r.convergedAll(false) }); err != nil {
		r.violate(check.Violation{Invariant: check.Liveness, Tick: r.now(), Partition: -1,
			Detail: fmt.Sprintf("not converged %v after healing: %v%s", r.cfg.Liveness, err, r.describe())})
		return
	}
	r.mu.Lock()
	r.converge = time.Since(healed).Milliseconds()
	r.mu.Unlock()
	for p := range r.cfg.Partitions {
		if err := waitUntil(deadline, func() error {
			leader, err := r.converged(p, false)
			if err != nil {
				return err
			}
			if !r.produce(p, check.AcksQuorum, 1, leader.id) {
				return fmt.Errorf("partition %d: the probe write to %s failed", p, leader.id)
			}
			return nil
		}); err != nil {
			r.violate(check.Violation{Invariant: check.Liveness, Tick: r.now(), Partition: p,
				Detail: fmt.Sprintf("converged idle, but a probe write was not acknowledged: %v%s", err, r.describe())})
			return
		}
	}
	if err := waitUntil(deadline, func() error { return r.convergedAll(true) }); err != nil {
		r.violate(check.Violation{Invariant: check.Liveness, Tick: r.now(), Partition: -1,
			Detail: fmt.Sprintf("the probe writes did not converge: %v%s", err, r.describe())})
		return
	}
	r.finalChecks()
}

// readAll reads a replica's whole committed log.
func readAll(part *partition.Partition) ([]byte, error) {
	var out []byte
	for from := uint64(0); from < part.HighWatermark(); {
		res, err := part.ReadCommitted(from, 1<<20)
		if err != nil {
			return nil, err
		}
		if len(res.Data) == 0 {
			break
		}
		out = append(out, res.Data...)
		from = res.Next
	}
	return out, nil
}

// finalChecks compares the voters of each converged partition byte for byte, gives the
// checker every voter's committed entries and the leader's log, checks that record ids
// increase, and reads the partition once more from offset 0 as a fresh consumer.
func (r *clusterRun) finalChecks() {
	r.mu.Lock()
	for i := range r.hist.Ops {
		if r.hist.Ops[i].Result == check.Pending {
			r.hist.Complete(i, r.now(), check.Unknown)
		}
	}
	r.mu.Unlock()
	for p := range r.cfg.Partitions {
		leader, err := r.converged(p, true)
		if err != nil {
			r.violate(check.Violation{Invariant: check.Liveness, Tick: r.now(), Partition: p, Detail: "diverged after converging: " + err.Error()})
			return
		}
		lp := leader.partition(p)
		want, err := readAll(lp)
		if err != nil {
			r.violate(check.Violation{Invariant: check.Liveness, Tick: r.now(), Partition: p, Detail: fmt.Sprintf("the leader %s cannot read its log: %v", leader.id, err)})
			return
		}
		for _, id := range lp.Leadership().Replicas {
			got, err := readAll(r.node(id).partition(p))
			if err != nil || !bytes.Equal(got, want) {
				r.violate(check.Violation{Invariant: check.InconsistentOffsets, Tick: r.now(), Partition: p,
					Replicas: []replication.NodeID{replication.NodeID(leader.id), replication.NodeID(id)},
					Detail:   fmt.Sprintf("below the commit point %s holds %d bytes, %s %d (err %v)", leader.id, len(want), id, len(got), err)})
				continue
			}
			entries, err := entriesFrom(got, 0)
			if err != nil {
				r.violate(check.Violation{Invariant: check.CorruptRead, Tick: r.now(), Partition: p, Replicas: []replication.NodeID{replication.NodeID(id)},
					Detail: fmt.Sprintf("%s's committed log does not check: %v", id, err)})
				continue
			}
			r.mu.Lock()
			r.chk.Committed(r.now(), p, replication.NodeID(id), entries)
			r.mu.Unlock()
		}
		log, err := entriesFrom(want, 0)
		if err != nil {
			continue
		}
		r.checkIDOrder(p, want)
		r.mu.Lock()
		r.chk.Final(p, log, &r.hist)
		r.mu.Unlock()
		r.groupFinal(p, leader.id)
		for pos := uint64(0); pos < lp.HighWatermark(); {
			next, ok := r.poll(p, "final", leader.id, pos)
			if !ok || next == pos {
				r.violate(check.Violation{Invariant: check.Liveness, Tick: r.now(), Partition: p, Offset: replication.Offset(pos),
					Detail: fmt.Sprintf("the healed leader %s does not serve its committed log from %d", leader.id, pos)})
				break
			}
			pos = next
		}
	}
}

// checkIDOrder checks that the data batches' ids strictly increase along the log.
func (r *clusterRun) checkIDOrder(p int, data []byte) {
	var last batch.ID
	for len(data) > 0 {
		_, rest, h, err := batch.Split(data)
		if err != nil {
			return
		}
		if !h.IsControl() {
			if !last.IsZero() && !last.Less(h.FirstID) {
				r.violate(check.Violation{Invariant: check.IDOrder, Tick: r.now(), Partition: p, Offset: replication.Offset(h.BaseOffset),
					Detail: fmt.Sprintf("the batch at offset %d starts at id %v, not above the last id %v before it", h.BaseOffset, h.FirstID, last)})
			}
			last = h.LastID
		}
		data = rest
	}
}

// describe renders every node's view of every partition, for a liveness failure.
func (r *clusterRun) describe() string {
	var b strings.Builder
	for _, nd := range r.allNodes() {
		fmt.Fprintf(&b, "\n  %s: %s", nd.id, [...]string{"new", "up", "down", "gone", "refused"}[nd.getState()])
		if nd.isDraining() {
			b.WriteString(" (drained)")
		}
		if br := nd.broker(); br != nil {
			v := br.Node().View()
			fmt.Fprintf(&b, " alive=%v eligible=%v", v.Alive, v.Eligible)
			if len(v.Flapping) > 0 {
				fmt.Fprintf(&b, " flapping=%v", v.Flapping)
			}
		}
		for p := range r.cfg.Partitions {
			part, err := nd.partitionErr(p)
			if part == nil {
				if nd.getState() == nodeUp {
					fmt.Fprintf(&b, "\n    p%d: %v", p, err)
				}
				continue
			}
			l, st := part.Leadership(), part.Stats()
			fmt.Fprintf(&b, "\n    p%d: leader=%q epoch=%d is-leader=%t voters=%v in-sync=%v commit=%d end=%d stale=%t removed=%t failed=%q",
				p, l.Leader, l.Epoch, l.IsLeader, l.Replicas, l.InSync, st.HighWatermark, st.LogEnd, l.Stale, l.Removed, st.Failure)
		}
	}
	return b.String()
}
