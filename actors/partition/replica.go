package partition

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage"
	"github.com/shoalmq/shoal/storage/vfs"
)

// Files the replication shell keeps next to the log.
const (
	// configsFile lists the config entries in the log (offset and replica set), so a restart
	// knows its replica set without scanning the log; rewritten atomically when they change.
	configsFile = "replicas.json"
	// uncleanFile marks a replica that restarted after a crash under fsync interval or never and
	// has not caught up with a leader since: it restarts unclean again until it has.
	uncleanFile = "unclean"
)

// Peers sends replication messages to the other nodes. Send must not block: it queues the
// message (or drops it when the peer is unknown or its queue is full; the protocol resends).
type Peers interface {
	Send(to string, m protocol.ReplicaMessage)
}

// Leadership is what a replica knows of its partition's leader, published by the actor.
type Leadership struct {
	// Leader is "" while the partition has none the replica knows of.
	Leader   string
	Epoch    uint64
	IsLeader bool
	// Replicas are the voters of the replica set in force on this replica, in ring order.
	Replicas []string
	// Removed: the replica set no longer names this replica and no leader has sent it anything
	// for a long while: its node drops it.
	Removed bool
	// InSync: the leader's in-sync replicas, refreshed every few ticks (leader only).
	InSync []string
	// Stale: the replica set in force on this replica does not name it (it was moved away, or
	// it is a learner that has not caught up to the entry adding it): what it knows of the
	// leader may be old, so metadata asks the leaders' announcements instead.
	Stale bool
	// Failed: the partition failed (its log refused a write, or its actor panicked); it serves
	// nothing and leads nothing until its node reopens it.
	Failed bool
	// Withdrawn: this replica led Epoch until it failed. Its node announces that it leads no
	// more (a notice without a leader), so that other nodes stop routing to it.
	Withdrawn bool
}

// replicaOptions builds the core's options from the opened log and the files beside it.
func replicaOptions(cfg Config, log *storage.Log, recovery storage.Recovery) (replication.Options, error) {
	fsys := cfg.Storage.FS
	if fsys == nil {
		fsys = vfs.OS()
	}
	configs, err := readConfigs(fsys, cfg.Storage.Dir, log.LogEnd())
	if err != nil {
		return replication.Options{}, err
	}
	unclean := recovery.Unclean && cfg.Storage.Fsync != storage.FsyncAlways
	if _, err := vfs.ReadFile(fsys, filepath.Join(cfg.Storage.Dir, uncleanFile), 64); err == nil {
		unclean = true
	} else if unclean {
		// The marker goes on disk before the replica does anything: the log's own mark says
		// clean again after a clean stop, or after a crash with nothing unsynced, and a replica
		// that restarted so before it caught up came back clean without the entries it had lost
		// (the cluster simulator's seed 81: with another voter that lacked them it elected a
		// leader that overwrote them). The actor took its marker for written and never wrote it.
		if err := vfs.WriteFileAtomic(fsys, cfg.Storage.Dir, uncleanFile, []byte("unclean\n")); err != nil {
			return replication.Options{}, fmt.Errorf("mark the replica unclean: %w", err)
		}
	}
	var hist replication.History
	for _, e := range log.Epochs() {
		hist = append(hist, replication.EpochStart{Epoch: replication.Epoch(e.Epoch), Start: replication.Offset(e.StartOffset)})
	}
	voters := cfg.Voters
	if voters == nil {
		voters = []string{cfg.nodeID()}
	}
	return replication.Options{
		ID:              replication.NodeID(cfg.nodeID()),
		Configs:         configs,
		Bootstrap:       replication.Config{Voters: nodeIDs(voters)},
		Log:             logReader{log},
		LogStart:        replication.Offset(log.LogStart()),
		LogEnd:          replication.Offset(log.LogEnd()),
		DurableEnd:      replication.Offset(log.DurableEnd()),
		History:         hist,
		PromisedEpoch:   replication.Epoch(log.PromisedEpoch()),
		Unclean:         unclean,
		RecordBootstrap: cfg.RecordBootstrap,
		HeartbeatTicks:  cfg.HeartbeatTicks,
		ElectionTicks:   cfg.ElectionTicks,
	}, nil
}

func nodeIDs(ids []string) []replication.NodeID {
	out := make([]replication.NodeID, len(ids))
	for i, id := range ids {
		out[i] = replication.NodeID(id)
	}
	return out
}

func idStrings(ids []replication.NodeID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

// logReader serves the core's reads from the log: whole batches from a batch boundary.
type logReader struct{ log *storage.Log }

func (r logReader) Read(from replication.Offset, maxBytes int) ([]byte, error) {
	res, err := r.log.Read(uint64(from), maxBytes, ^uint64(0), nil)
	if err != nil {
		return nil, err
	}
	if len(res.Data) > 0 {
		if h, err := batch.ReadHeader(res.Data); err != nil || h.BaseOffset != uint64(from) {
			return nil, fmt.Errorf("partition: read at %d found a batch at %d (%v)", from, h.BaseOffset, err)
		}
	}
	return res.Data, nil
}

// readConfigs reads the persisted config entries, dropping any past the log end (a crash may
// have cut the tail that held them).
func readConfigs(fsys vfs.FS, dir string, logEnd uint64) ([]replication.ConfigAt, error) {
	data, err := vfs.ReadFile(fsys, filepath.Join(dir, configsFile), 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("partition: read %s: %w", configsFile, err)
	}
	var configs []replication.ConfigAt
	if err := json.Unmarshal(data, &configs); err != nil {
		return nil, fmt.Errorf("partition: %s in %s is corrupt (%v): remove it to fall back on the catalog's replica set", configsFile, dir, err)
	}
	return slices.DeleteFunc(configs, func(c replication.ConfigAt) bool { return uint64(c.Offset) >= logEnd }), nil
}

func writeConfigs(fsys vfs.FS, dir string, configs []replication.ConfigAt) error {
	data, err := json.Marshal(configs)
	if err != nil {
		return err
	}
	return vfs.WriteFileAtomic(fsys, dir, configsFile, data)
}

// toWire and fromWire convert between the core's messages and the wire's.
func toWire(topic string, partition int32, m replication.Message) protocol.ReplicaMessage {
	w := protocol.ReplicaMessage{
		Topic: topic, Partition: partition, Type: uint8(m.Type), From: string(m.From), To: string(m.To),
		Epoch: uint64(m.Epoch), Index: uint64(m.Index), PrevEpoch: uint64(m.PrevEpoch), Data: m.Data,
		Commit: uint64(m.Commit), Reject: m.Reject, Match: uint64(m.Match), Durable: uint64(m.Durable),
		End: uint64(m.End), LastEpoch: uint64(m.LastEpoch), Granted: m.Granted, Learner: m.Learner, Transfer: m.Transfer,
		Behind: m.Behind,
	}
	for _, e := range m.History {
		w.History = append(w.History, protocol.EpochStart{Epoch: uint64(e.Epoch), Start: uint64(e.Start)})
	}
	return w
}

func fromWire(w protocol.ReplicaMessage) replication.Message {
	m := replication.Message{
		Type: replication.MessageType(w.Type), From: replication.NodeID(w.From), To: replication.NodeID(w.To),
		Epoch: replication.Epoch(w.Epoch), Index: replication.Offset(w.Index), PrevEpoch: replication.Epoch(w.PrevEpoch),
		Data: w.Data, Commit: replication.Offset(w.Commit), Reject: w.Reject, Match: replication.Offset(w.Match),
		Durable: replication.Offset(w.Durable), End: replication.Offset(w.End), LastEpoch: replication.Epoch(w.LastEpoch),
		Granted: w.Granted, Learner: w.Learner, Transfer: w.Transfer, Behind: w.Behind,
	}
	for _, e := range w.History {
		m.History = append(m.History, replication.EpochStart{Epoch: replication.Epoch(e.Epoch), Start: replication.Offset(e.Start)})
	}
	return m
}

// metaTopic is the cluster catalog's topic (actors/node.MetaTopic): its replica set also takes
// every other eligible node as a learner.
const metaTopic = "__meta"

// desiredSet is the replica set a leader should move toward: the current voters that are still
// eligible (in preference order), filled up to rf from the preference order; and, for the
// catalog, every other eligible node as a learner. It reports false when the preference is
// empty (no view yet).
func desiredSet(cur replication.Config, preference []replication.NodeID, rf int, learners bool) (replication.Config, bool) {
	if len(preference) == 0 || rf <= 0 {
		return replication.Config{}, false
	}
	var voters []replication.NodeID
	for _, id := range preference {
		if cur.IsVoter(id) {
			voters = append(voters, id)
		}
	}
	for _, id := range preference {
		if len(voters) >= rf {
			break
		}
		if !slices.Contains(voters, id) {
			voters = append(voters, id)
		}
	}
	// No replacement for a member that is gone: keep it rather than shrink below rf.
	for _, id := range cur.Voters {
		if len(voters) < rf && !slices.Contains(voters, id) {
			voters = append(voters, id)
		}
	}
	want := replication.Config{Voters: voters}
	if learners {
		for _, id := range preference {
			if !slices.Contains(voters, id) {
				want.Learners = append(want.Learners, id)
			}
		}
	}
	return want, true
}
