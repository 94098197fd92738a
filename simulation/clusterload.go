package simulation

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/simulation/check"
	"github.com/shoalmq/shoal/simulation/memnet"
)

// startWorkload starts, per partition, one producer, one consumer and one group consumer
// goroutine, each with its own seeded source; they stop when ctx ends (the in-flight request
// finishes first).
func (r *clusterRun) startWorkload(ctx context.Context, wg interface {
	Add(int)
	Done()
}) {
	for p := range r.cfg.Partitions {
		wg.Add(3)
		prng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(3*p+1)))
		crng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(3*p+2)))
		grng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(3*p+3)))
		go func() { defer wg.Done(); r.producer(ctx, p, prng) }()
		go func() { defer wg.Done(); r.consumer(ctx, p, crng) }()
		go func() { defer wg.Done(); r.groupConsumer(ctx, p, grng) }()
	}
}

// pause waits about d (a workload's pacing, not a synchronisation) or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// lookupLeader asks a random running node for partition p's leader ("" if none is known).
func (r *clusterRun) lookupLeader(p int, rng *rand.Rand) string {
	up := r.upNodes()
	if len(up) == 0 {
		return ""
	}
	nd := up[rng.IntN(len(up))]
	ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
	defer cancel()
	var md protocol.MetadataResponse
	if err := r.call(ctx, nd.id, protocol.TypeMetadata, &protocol.MetadataRequest{Topics: []string{simTopic}}, &md); err != nil {
		return ""
	}
	if len(md.Topics) != 1 || p >= len(md.Topics[0].Partitions) {
		return ""
	}
	return md.Topics[0].Partitions[p].Leader
}

func (r *clusterRun) drawAcks(rng *rand.Rand) check.Acks {
	w := r.faults.AcksWeights
	k := rng.IntN(w[0] + w[1] + w[2])
	switch {
	case k < w[0]:
		return check.AcksQuorum
	case k < w[0]+w[1]:
		return check.AcksLeader
	}
	return check.AcksNone
}

var wireAcks = map[check.Acks]protocol.Acks{check.AcksQuorum: protocol.AcksQuorum, check.AcksLeader: protocol.AcksLeader, check.AcksNone: protocol.AcksNone}

// producer writes batches of 1..3 unique values to partition p's leader until ctx ends.
func (r *clusterRun) producer(ctx context.Context, p int, rng *rand.Rand) {
	leader := ""
	for ctx.Err() == nil {
		pause(ctx, r.faults.ProduceEvery/2+time.Duration(rng.Int64N(int64(r.faults.ProduceEvery)+1)))
		if leader == "" {
			leader = r.lookupLeader(p, rng)
		}
		if !r.produce(p, r.drawAcks(rng), 1+rng.IntN(3), leader) {
			leader = ""
		}
	}
}

// produce is one produce request with its history; false when the leader should be looked
// up again.
func (r *clusterRun) produce(p int, acks check.Acks, n int, leader string) bool {
	r.mu.Lock()
	id := r.hist.Invoke(check.Op{Kind: check.Produce, Partition: p, Acks: acks, Invoke: r.now(), Node: replication.NodeID(leader)})
	values := make([]string, n)
	for i := range values {
		values[i] = fmt.Sprintf("p%d.%d.%d", p, id, i)
	}
	r.hist.Ops[id].Values = values
	r.mu.Unlock()
	if leader == "" {
		r.complete(id, check.Failed)
		return false
	}
	bld := batch.NewBuilder(256)
	bld.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
	for _, v := range values {
		if err := bld.Add(batch.ID{}, time.Now().UnixMilli(), nil, []byte(v), nil); err != nil {
			panic(fmt.Sprintf("sim: build a batch: %v", err))
		}
	}
	b, err := bld.Finish()
	if err != nil {
		panic(fmt.Sprintf("sim: build a batch: %v", err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
	defer cancel()
	var resp protocol.ProduceResponse
	err = r.call(ctx, leader, protocol.TypeProduce, &protocol.ProduceRequest{Topic: simTopic, Acks: wireAcks[acks],
		Batches: []protocol.ProducePartition{{Partition: int32(p), Batch: b}}}, &resp)
	if err == nil && len(resp.Results) != 1 {
		err = fmt.Errorf("%d results", len(resp.Results))
	}
	if err == nil {
		err = resp.Results[0].Error.Err()
	}
	if err != nil {
		r.complete(id, produceFailure(err))
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	op := &r.hist.Ops[id]
	op.Offset = replication.Offset(resp.Results[0].BaseOffset)
	now := r.now()
	r.hist.Complete(id, now, check.OK)
	if acks == check.AcksQuorum {
		for _, f := range r.failover {
			if f.Partition == p && f.Ticks < 0 && op.Invoke >= f.Start {
				f.Ticks = now - f.Start
			}
		}
	}
	return true
}

// produceFailure classifies a failed produce: definite (nothing was written: the request never
// reached a broker, or was refused before any append) or indeterminate.
func produceFailure(err error) check.Result {
	switch {
	case errors.Is(err, memnet.ErrAnswerLost):
		return check.Unknown
	case errors.Is(err, memnet.ErrUnreachable), errors.Is(err, memnet.ErrClosed):
		return check.Failed
	case errors.Is(err, protocol.ErrBusy), errors.Is(err, protocol.ErrUnknownTopic):
		// Busy and unknown-topic answers come before the append (shutting-down and
		// not-leader may come after it: a pending batch fails with them).
		return check.Failed
	}
	return check.Unknown
}

func (r *clusterRun) complete(id int, res check.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hist.Complete(id, r.now(), res)
}

// consumer reads partition p's committed records in offset order from its leader.
func (r *clusterRun) consumer(ctx context.Context, p int, rng *rand.Rand) {
	name := fmt.Sprintf("c%d", p)
	leader, pos := "", uint64(0)
	for ctx.Err() == nil {
		pause(ctx, r.faults.PollEvery/2+time.Duration(rng.Int64N(int64(r.faults.PollEvery)+1)))
		if leader == "" {
			leader = r.lookupLeader(p, rng)
			if leader == "" {
				continue
			}
		}
		next, ok := r.poll(p, name, leader, pos)
		if !ok {
			leader = ""
		}
		pos = next
	}
}

// poll fetches partition p from pos at node, checks what came, and returns the next position.
func (r *clusterRun) poll(p int, consumer, node string, pos uint64) (uint64, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
	defer cancel()
	var fr protocol.FetchResponse
	err := r.call(ctx, node, protocol.TypeFetch, &protocol.FetchRequest{Topic: simTopic, Partitions: []protocol.FetchPartition{
		{Partition: int32(p), From: protocol.Position{Kind: protocol.PositionOffset, Offset: pos}, MaxBytes: 64 << 10}}}, &fr)
	if err == nil && len(fr.Results) != 1 {
		err = fmt.Errorf("%d results", len(fr.Results))
	}
	if err == nil {
		err = fr.Results[0].Error.Err()
	}
	if err != nil {
		return pos, false
	}
	entries, err := entriesFrom(fr.Results[0].Batches, pos)
	if err != nil {
		r.violate(check.Violation{Invariant: check.CorruptRead, Tick: r.now(), Partition: p, Offset: replication.Offset(pos),
			Replicas: []replication.NodeID{replication.NodeID(node)}, Detail: fmt.Sprintf("a fetch from %s served a bad batch: %v", node, err)})
		return pos, false
	}
	if len(entries) == 0 {
		return pos, true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	id := r.hist.Invoke(check.Op{Kind: check.Poll, Partition: p, Node: replication.NodeID(node), Offset: replication.Offset(pos),
		Count: len(entries), Invoke: now})
	r.hist.Complete(id, now, check.OK)
	r.chk.Poll(now, p, consumer, replication.NodeID(node), replication.Offset(pos), entries)
	return uint64(entries[len(entries)-1].Offset) + 1, true
}

// entriesFrom checks whole batches and returns their entries at or above from.
func entriesFrom(data []byte, from uint64) ([]check.Entry, error) {
	var out []check.Entry
	for len(data) > 0 {
		b, rest, _, err := batch.Split(data)
		if err != nil {
			return nil, err
		}
		if _, err := batch.Check(b); err != nil {
			return nil, err
		}
		for _, e := range check.Entries(b) {
			if uint64(e.Offset) >= from {
				out = append(out, e)
			}
		}
		data = rest
	}
	return out, nil
}

// monitor samples the nodes every monitorEvery until ctx ends: who leads (two leaders of one
// epoch is a violation), whether every partition is back at RF (closing RF-restore
// measurements), and, every few rounds, the entries below each replica's commit point.
func (r *clusterRun) monitor(ctx context.Context) {
	t := time.NewTicker(monitorEvery)
	defer t.Stop()
	checked := map[string]uint64{} // "node/incarnation/p" → offset checked up to
	for round := 0; ; round++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.sampleLeaders()
		r.sampleRF()
		if round%8 == 0 {
			r.sampleCommitted(checked)
		}
	}
}

func (r *clusterRun) sampleLeaders() {
	var seen []leadership
	for _, nd := range r.upNodes() {
		for p := range r.cfg.Partitions {
			part := nd.partition(p)
			if part == nil {
				continue
			}
			if l := part.Leadership(); l.IsLeader {
				r.mu.Lock()
				r.chk.Leader(r.now(), p, replication.Epoch(l.Epoch), replication.NodeID(nd.id))
				r.mu.Unlock()
				seen = append(seen, leadership{node: replication.NodeID(nd.id), partition: p, epoch: replication.Epoch(l.Epoch)})
			}
		}
	}
	r.leadersSeen(seen)
}

// leadership is one node leading one partition in one epoch, as the monitor saw it.
type leadership struct {
	node      replication.NodeID
	partition int
	epoch     replication.Epoch
}

// leadersSeen puts on the timeline the leaderships that ended and began since the last
// sample (a node that went down ends its leaderships by no longer being sampled).
func (r *clusterRun) leadersSeen(seen []leadership) {
	if !r.cfg.Timeline {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.leaders {
		if !slices.Contains(seen, l) {
			r.eventLocked(Event{Kind: EventStepDown, Partition: l.partition, Node: l.node, Epoch: l.epoch, Detail: "no longer leads"})
		}
	}
	for _, l := range seen {
		if !slices.Contains(r.leaders, l) {
			r.eventLocked(Event{Kind: EventLeader, Partition: l.partition, Node: l.node, Epoch: l.epoch, Detail: "leads"})
		}
	}
	r.leaders = seen
}

// sampleRF closes the open RF-restore measurements once every partition is fully replicated.
func (r *clusterRun) sampleRF() {
	r.mu.Lock()
	open := len(r.rfOpen)
	r.mu.Unlock()
	if open == 0 {
		return
	}
	for p := range r.cfg.Partitions {
		if _, err := r.fullyReplicated(p); err != nil {
			return
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for _, s := range r.rfOpen {
		r.rfDone = append(r.rfDone, now-s)
	}
	r.rfOpen = nil
}

// sampleCommitted reads each running replica's entries below its commit point, from where it
// stopped last time (again from 0 after a restart), and gives them to the checker.
func (r *clusterRun) sampleCommitted(checked map[string]uint64) {
	for _, nd := range r.upNodes() {
		nd.mu.Lock()
		inc := nd.incarnation
		nd.mu.Unlock()
		for p := range r.cfg.Partitions {
			part := nd.partition(p)
			if part == nil {
				continue
			}
			key := fmt.Sprintf("%s/%d/%d", nd.id, inc, p)
			from := checked[key]
			for from < part.HighWatermark() {
				res, err := part.ReadCommitted(from, 256<<10)
				if err != nil || len(res.Data) == 0 {
					break
				}
				entries, err := entriesFrom(res.Data, from)
				if err != nil {
					r.violate(check.Violation{Invariant: check.CorruptRead, Tick: r.now(), Partition: p, Offset: replication.Offset(from),
						Replicas: []replication.NodeID{replication.NodeID(nd.id)}, Detail: fmt.Sprintf("%s's committed read returned a bad batch: %v", nd.id, err)})
					break
				}
				r.mu.Lock()
				r.chk.Committed(r.now(), p, replication.NodeID(nd.id), entries)
				r.mu.Unlock()
				from = res.Next
			}
			checked[key] = from
		}
	}
}

// fullyReplicated returns partition p's leader when exactly one running node leads it and its
// replica set is RF voters, all running, none drained or gone, all in sync; otherwise why not.
func (r *clusterRun) fullyReplicated(p int) (*cnode, error) {
	var leader *cnode
	var replicas, inSync []string
	for _, nd := range r.upNodes() {
		part := nd.partition(p)
		if part == nil {
			continue
		}
		l := part.Leadership()
		if !l.IsLeader {
			continue
		}
		if leader != nil {
			return nil, fmt.Errorf("partition %d: %s and %s both lead", p, leader.id, nd.id)
		}
		leader, replicas, inSync = nd, l.Replicas, l.InSync
	}
	if leader == nil {
		return nil, fmt.Errorf("partition %d: no leader", p)
	}
	if len(replicas) != clusterRF {
		return nil, fmt.Errorf("partition %d: %s leads with voters %v, want %d", p, leader.id, replicas, clusterRF)
	}
	for _, id := range replicas {
		nd := r.node(id)
		if nd == nil || nd.getState() != nodeUp || nd.isDraining() {
			return nil, fmt.Errorf("partition %d: voter %s of %v is not a running, undrained node", p, id, replicas)
		}
		if !slices.Contains(inSync, id) {
			return nil, fmt.Errorf("partition %d: voter %s is not in sync (%v)", p, id, inSync)
		}
	}
	return leader, nil
}

func (nd *cnode) isDraining() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.draining
}
