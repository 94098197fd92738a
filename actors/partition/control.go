package partition

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage"
)

// Control entries the leader writes on a user's behalf (XDEL's tombstones, XTRIM's new log start,
// consumer-group changes) travel in the log like records, so every replica sees them in the same
// order and a failover keeps exactly the committed ones. The operation that wrote one is answered
// when the commit point passes it.

type (
	deleteMsg struct {
		ids   []batch.ID
		reply chan<- countReply
	}
	setIDMsg struct {
		v     batch.SetIDValue
		reply chan<- countReply
	}
	countReply struct {
		n   uint64
		err error
	}
)

// waiter is an operation answered once the commit point passes waitFor, or failed when this
// replica stops leading or truncates past it.
type waiter struct {
	waitFor uint64
	done    func(error)
}

// pendingTrim is a logged trim not yet applied: the entry at offset at moves the log start to
// start once it commits.
type pendingTrim struct{ at, start uint64 }

// Delete marks the records with the given ids deleted (Redis XDEL) through the leader and returns
// how many existed and were live. It blocks until the tombstones commit, ctx is done or the
// partition stops.
func (p *Partition) Delete(ctx context.Context, ids []batch.ID) (uint64, error) {
	if err := p.unavailable(); err != nil {
		return 0, err
	}
	reply := make(chan countReply, 1)
	p.send(&deleteMsg{ids: ids, reply: reply})
	return p.waitCount(ctx, reply, "delete")
}

// SetID is XSETID through the leader: it sets the stream's last id (the floor of later ids), its
// entries-added and max-deleted-id figures. It blocks until the entry commits, ctx is done or
// the partition stops.
func (p *Partition) SetID(ctx context.Context, v batch.SetIDValue) error {
	if err := p.unavailable(); err != nil {
		return err
	}
	reply := make(chan countReply, 1)
	p.send(&setIDMsg{v: v, reply: reply})
	_, err := p.waitCount(ctx, reply, "XSETID")
	return err
}

func (p *Partition) waitCount(ctx context.Context, reply <-chan countReply, what string) (uint64, error) {
	select {
	case r := <-reply:
		return r.n, r.err
	case <-p.done:
		return 0, p.stoppedErr()
	case <-ctx.Done():
		return 0, protocol.Errorf(protocol.ErrTimeout, "partition %s: %s not answered in time (%v)", p.name, what, ctx.Err())
	}
}

// afterCommit answers done once the commit point reaches end (at once when it has).
func (a *partitionActor) afterCommit(end uint64, done func(error)) {
	if end <= a.commit {
		done(nil)
		return
	}
	i, _ := slices.BinarySearchFunc(a.waiters, end, func(w waiter, e uint64) int {
		if w.waitFor <= e {
			return -1
		}
		return 1
	})
	a.waiters = slices.Insert(a.waiters, i, waiter{waitFor: end, done: done})
}

// appendedControl tells the core about a control entry the leader appended and answers done once
// it commits.
func (a *partitionActor) appendedControl(end uint64, done func(error)) {
	a.afterCommit(end, done)
	a.r.Appended(replication.Offset(end))
	a.advance(a.log.DurableEnd())
}

// committed applies what the new commit point covers (trims) and answers its waiters.
func (a *partitionActor) committed(commit uint64) {
	n := 0
	for n < len(a.trims) && a.trims[n].at < commit {
		if _, err := a.log.TrimTo(a.trims[n].start); err != nil {
			a.p.cfg.Logger.Warn("partition: a committed trim failed", "partition", a.p.name, "start", a.trims[n].start, "err", err)
		}
		n++
	}
	a.trims = slices.Delete(a.trims, 0, n)
	a.groupsCommitted(commit)
	n = 0
	for n < len(a.waiters) && a.waiters[n].waitFor <= commit {
		a.waiters[n].done(nil)
		n++
	}
	a.waiters = slices.Delete(a.waiters, 0, n)
}

// failWaiters fails the waiters waiting past above (0: every one) with err.
func (a *partitionActor) failWaiters(above uint64, err error) {
	out := a.waiters[:0]
	for _, w := range a.waiters {
		if w.waitFor > above {
			w.done(err)
		} else {
			out = append(out, w)
		}
	}
	a.waiters = out
}

// truncatedControl forgets the control entries a truncation to end removed.
func (a *partitionActor) truncatedControl(end uint64) error {
	a.failWaiters(end, a.p.notLeader())
	out := a.trims[:0]
	for _, t := range a.trims {
		if t.at < end {
			out = append(out, t)
		}
	}
	a.trims = out
	return a.groupsTruncated(end)
}

// deleteIDs writes tombstones for ids as the leader.
func (a *partitionActor) deleteIDs(msg *deleteMsg) {
	if err := a.leaderErr(); err != nil {
		msg.reply <- countReply{err: err}
		return
	}
	n, err := a.log.Delete(msg.ids, uint64(a.r.Epoch()), a.p.cfg.Now().UnixMilli())
	if err != nil || n == 0 {
		msg.reply <- countReply{err: err}
		return
	}
	a.appendedControl(a.log.LogEnd(), func(err error) { msg.reply <- countReply{n: uint64(n), err: err} })
}

// setID logs an XSETID as the leader.
func (a *partitionActor) setID(msg *setIDMsg) {
	if err := a.leaderErr(); err != nil {
		msg.reply <- countReply{err: err}
		return
	}
	appended, err := a.log.SetID(msg.v, uint64(a.r.Epoch()), a.p.cfg.Now().UnixMilli())
	if err != nil {
		msg.reply <- countReply{err: err}
		return
	}
	a.appendedControl(appended.NextOffset, func(err error) { msg.reply <- countReply{err: err} })
}

// trim plans a trim as the leader, logs the new log start and answers once it commits.
func (a *partitionActor) trim(msg *trimMsg) {
	if err := a.leaderErr(); err != nil {
		msg.reply <- trimReply{err: err}
		return
	}
	start, _, err := a.log.PlanTrim(msg.trim, a.commit)
	if err != nil {
		msg.reply <- trimReply{err: err}
		return
	}
	from := a.log.LogStart()
	if n := len(a.trims); n > 0 {
		from = max(from, a.trims[n-1].start)
	}
	if start <= from {
		msg.reply <- trimReply{}
		return
	}
	removed, err := a.log.LiveBetween(from, start)
	if err != nil {
		msg.reply <- trimReply{err: err}
		return
	}
	value := binary.LittleEndian.AppendUint64(nil, start)
	at, err := a.appendControlRecord(batch.ControlTrim, value)
	if err != nil {
		msg.reply <- trimReply{err: err}
		return
	}
	a.trims = append(a.trims, pendingTrim{at: at, start: start})
	a.appendedControl(at+1, func(err error) { msg.reply <- trimReply{removed: removed, err: err} })
}

// appendControlRecord appends one control record as the leader and returns its offset.
func (a *partitionActor) appendControlRecord(kind byte, value []byte) (uint64, error) {
	b := batch.NewBuilder(batch.HeaderSize + len(value) + 32)
	b.Reset(batch.Options{Control: true, ProducerID: batch.NoProducer})
	if err := b.Add(batch.ID{}, a.p.cfg.Now().UnixMilli(), []byte{kind}, value, nil); err != nil {
		return 0, err
	}
	data, err := b.Finish()
	if err != nil {
		return 0, err
	}
	appended, err := a.log.AppendControl(data, uint64(a.r.Epoch()))
	if err != nil {
		return 0, fmt.Errorf("partition %s: %w", a.p.name, err)
	}
	return appended.BaseOffset, nil
}

// leaderErr is nil when this replica leads and its partition works.
func (a *partitionActor) leaderErr() error {
	if err := a.p.Err(); err != nil {
		return err
	}
	if !a.r.IsLeader() {
		return a.p.notLeader()
	}
	return nil
}

// applyControl applies the control records of a batch a replica appended (as follower, or found
// in its log on start): trims wait for their commit, group changes apply at once.
func (a *partitionActor) applyControl(b []byte, h batch.Header) error {
	it := batch.Iterate(b, h)
	for it.Next() {
		r := it.Record()
		if len(r.Key) != 1 {
			continue
		}
		switch r.Key[0] {
		case batch.ControlTrim:
			if len(r.Value) != 8 {
				return fmt.Errorf("%w: a trim entry at offset %d has a %d-byte value", storage.ErrCorrupt, r.Offset, len(r.Value))
			}
			a.trims = append(a.trims, pendingTrim{at: r.Offset, start: binary.LittleEndian.Uint64(r.Value)})
		case batch.ControlGroup:
			if err := a.applyGroupEntry(r.Offset, r.Value); err != nil {
				return err
			}
		}
	}
	return it.Err()
}
