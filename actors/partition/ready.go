package partition

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage/vfs"
)

// processReady does what the replication core asks, in its order (log writes, then the promise,
// then the messages), publishes the commit point, and repeats until the core asks nothing
// more. A write the log refuses fails the partition: a replica that cannot follow its log must
// stop, and it rejoins (unclean) after a restart.
func (a *partitionActor) processReady(ctx actor.Context) {
	wasLeader := a.p.leadership.Load().IsLeader
	for a.p.Err() == nil && a.r.HasReady() {
		rd := a.r.Ready()
		if err := a.applyWrites(rd.Writes); err != nil {
			a.fail(ctx, err)
			return
		}
		if rd.Promise != 0 {
			if err := a.log.Promise(uint64(rd.Promise)); err != nil {
				a.fail(ctx, fmt.Errorf("persist the promise of epoch %d: %w", rd.Promise, err))
				return
			}
		}
		if peers := a.p.cfg.Peers; peers != nil {
			for _, m := range rd.Messages {
				if m.Type != replication.MsgAppend && m.Type != replication.MsgAppendResp {
					a.p.cfg.Logger.Debug("partition: election message", "partition", a.p.name, "msg", m.String())
				} else if m.Type == replication.MsgAppend && len(m.Data) > 0 && a.p.cfg.MoveThrottle != nil &&
					slices.Contains(a.r.Config().Learners, m.To) {
					// A learner catching up: past the node's move budget the append is held back
					// (not sent); the core resends it after a heartbeat, as any lost append.
					if !a.p.cfg.MoveThrottle.Admit(a.p.name, string(m.To), uint64(m.Index), uint64(m.End), m.Data) {
						continue
					}
					a.p.counters.movedBytes.Add(uint64(len(m.Data)))
				}
				peers.Send(string(m.To), toWire(a.p.cfg.Topic, a.p.cfg.Partition, m))
			}
		}
		a.setCommit(uint64(rd.Commit))
		a.r.Advance()
		if len(rd.Writes) > 0 {
			a.advance(a.log.DurableEnd())
		}
	}
	a.publishLeadership(wasLeader)
}

// applyWrites truncates and appends as the core asked; batches appended as a follower enter the
// producer table, so a producer retrying after a failover is deduplicated by the new leader.
func (a *partitionActor) applyWrites(writes []replication.LogWrite) error {
	changedConfigs := false
	for _, w := range writes {
		if w.Truncate {
			if err := a.log.Truncate(uint64(w.To)); err != nil {
				return fmt.Errorf("truncate to %d: %w", w.To, err)
			}
			if err := a.truncated(uint64(w.To)); err != nil {
				return err
			}
			changedConfigs = true
			continue
		}
		appended, err := a.log.AppendReplica(w.Batch)
		if err != nil {
			return fmt.Errorf("append a replicated batch: %w", err)
		}
		h, err := batch.ReadHeader(w.Batch)
		if err != nil {
			return fmt.Errorf("a replicated batch no longer reads: %w", err)
		}
		if h.IsControl() {
			changedConfigs = true
			if err := a.applyControl(w.Batch, h); err != nil {
				return err
			}
		} else {
			a.producers.record(h, Produced{BaseOffset: appended.BaseOffset, NextOffset: appended.NextOffset,
				FirstID: appended.FirstID, LastID: appended.LastID})
		}
	}
	if changedConfigs {
		return a.saveConfigs()
	}
	return nil
}

// truncated forgets what the log no longer holds: produces waiting past the cut fail (the
// leader that took them is gone), and the producer table is rebuilt from the log.
func (a *partitionActor) truncated(end uint64) error {
	a.durableEnd = min(a.durableEnd, end)
	lost := a.p.notLeader()
	keep := func(list []pendingProduce) []pendingProduce {
		out := list[:0]
		for _, e := range list {
			if e.waitFor > end {
				a.answer(e.reply, e.bytes, Produced{}, lost)
			} else {
				out = append(out, e)
			}
		}
		return out
	}
	a.pending, a.pendingCommit = keep(a.pending), keep(a.pendingCommit)
	if err := a.truncatedControl(end); err != nil {
		return err
	}
	cfg := a.p.cfg
	a.producers = newProducerTable(cfg.ProducerWindowBatches, cfg.MaxProducers)
	if err := rebuildProducers(a.log, cfg.ProducerScanRecords, &a.producers); err != nil {
		return fmt.Errorf("rebuild the producer table after a truncation: %w", err)
	}
	return nil
}

// saveConfigs persists the config entries when they changed.
func (a *partitionActor) saveConfigs() error {
	configs := a.r.Configs()
	if len(configs) == a.configs {
		return nil
	}
	if err := writeConfigs(a.fs(), a.p.cfg.Storage.Dir, configs); err != nil {
		return fmt.Errorf("write %s: %w", configsFile, err)
	}
	a.configs = len(configs)
	return nil
}

func (a *partitionActor) fs() vfs.FS {
	if a.p.cfg.Storage.FS != nil {
		return a.p.cfg.Storage.FS
	}
	return vfs.OS()
}

// publishLeadership publishes a change of role, leader or epoch; a leader that stepped down
// fails the produces it had not answered (they may commit under the next leader or not: the
// client retries them, and the producer table deduplicates).
func (a *partitionActor) publishLeadership(wasLeader bool) {
	if a.p.Err() != nil {
		return // failed: withdrawLeadership published the last leadership it has
	}
	isLeader := a.r.IsLeader()
	cur := a.p.leadership.Load()
	leader, epoch, voters, removed := string(a.r.Leader()), uint64(a.r.Epoch()), a.r.Config().Voters, a.r.Removed()
	stale := !a.r.Config().Has(a.r.ID())
	if cur.Leader != leader || cur.Epoch != epoch || cur.IsLeader != isLeader || !sameIDs(cur.Replicas, voters) ||
		cur.Removed != removed || cur.Stale != stale {
		next := &Leadership{Leader: leader, Epoch: epoch, IsLeader: isLeader, Replicas: idStrings(voters),
			Removed: removed, Stale: stale}
		if isLeader && cur.IsLeader && cur.Epoch == epoch {
			next.InSync = cur.InSync
		}
		a.p.leadership.Store(next)
		a.p.cfg.Logger.Debug("partition: leadership", "partition", a.p.name, "leader", leader, "epoch", epoch, "role", a.r.Role().String())
	}
	if wasLeader && !isLeader {
		err := a.p.notLeader()
		for _, e := range append(a.pending, a.pendingCommit...) {
			a.answer(e.reply, e.bytes, Produced{}, err)
		}
		a.pending, a.pendingCommit = nil, nil
		a.failWaiters(0, err)
	}
	a.markUnclean()
}

// markUnclean keeps the unclean file in step with the core: present while the replica is an
// unclean learner, so a restart before it caught up stays unclean.
func (a *partitionActor) markUnclean() {
	unclean := a.r.Unclean()
	if unclean == a.uncleanMarked {
		return
	}
	path := filepath.Join(a.p.cfg.Storage.Dir, uncleanFile)
	var err error
	if unclean {
		err = vfs.WriteFileAtomic(a.fs(), a.p.cfg.Storage.Dir, uncleanFile, []byte("unclean\n"))
	} else {
		err = a.fs().Remove(path)
		if err == nil {
			err = a.fs().SyncDir(a.p.cfg.Storage.Dir)
		}
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.p.cfg.Logger.Warn("partition: could not update the unclean marker", "partition", a.p.name, "path", path, "err", err)
		return
	}
	a.uncleanMarked = unclean
}

func sameIDs(a []string, b []replication.NodeID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != string(b[i]) {
			return false
		}
	}
	return true
}

// inSyncEveryTicks: a leader publishes its in-sync set this often (computing it allocates).
const inSyncEveryTicks = 10

// publishInSync publishes the leader's in-sync set in its Leadership every few ticks, so nodes
// holding no replica (or a follower) can report it from the leader's announcements.
func (a *partitionActor) publishInSync() {
	a.ticks++
	if a.ticks%inSyncEveryTicks != 0 || !a.r.IsLeader() || a.p.Err() != nil {
		return
	}
	inSync := idStrings(a.r.Status().InSync())
	cur := a.p.leadership.Load()
	if !slices.Equal(cur.InSync, inSync) {
		next := *cur
		next.InSync = inSync
		a.p.leadership.Store(&next)
	}
}
