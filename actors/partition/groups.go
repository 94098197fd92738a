package partition

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"

	"github.com/shoalmq/shoal/actors/group"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage"
	"github.com/shoalmq/shoal/storage/vfs"
)

// Consumer groups live in the partition's own log: every change is a control entry
// (batch.ControlGroup) that each replica applies in log order to its group state, so the state
// is replicated, and survives a failover, exactly like the records.
//
// The actor keeps two states: live (every entry in its log, what the leader plans against) and
// committed (entries below the commit point). A truncation only removes uncommitted entries, so
// live is rebuilt from committed plus the uncommitted entries that remain. The committed state is
// written to groupsFile now and then and on a clean stop; a start loads it and replays the
// control entries after it.

// groupsFile holds the committed group state: 8 bytes little-endian (the offset it covers the log
// below), then group.State.MarshalSnapshot.
const groupsFile = "groups.snapshot"

// groupsSnapshotEvery: the committed state is written after this many committed group entries.
const groupsSnapshotEvery = 4096

// maxGroupsFileBytes bounds the file a start reads.
const maxGroupsFileBytes = 1 << 30

type groupState struct {
	live, committed *group.State
	// uncommitted are the entries at or above committedAt, in log order.
	uncommitted []loggedEntry
	// committedAt: committed holds every group entry below it. Invariant: committedAt <= commit.
	committedAt uint64
	// sinceSnapshot counts entries committed since groupsFile was written.
	sinceSnapshot int
}

// ensure creates empty states for a partition that had no group yet.
func (g *groupState) ensure() {
	if g.live == nil {
		g.live, g.committed = group.NewState(), group.NewState()
	}
}

type loggedEntry struct {
	at    uint64
	entry *group.Entry
}

// GroupPlan plans one group command against the live state and the stream: it returns the entry
// to log (nil: nothing to change) and the result for the caller. It runs on the actor's goroutine
// and must not mutate the state.
type GroupPlan func(s *group.State, st group.Stream, nowMs int64) (*group.Entry, any, error)

type (
	groupMsg struct {
		plan  GroupPlan
		reply chan<- groupReply
	}
	groupReply struct {
		result any
		err    error
	}
)

// Group runs plan on the leader: the entry it returns is logged and applied, and the result is
// returned once the entry commits (at once when nothing was logged). It blocks until then, ctx is
// done or the partition stops.
func (p *Partition) Group(ctx context.Context, plan GroupPlan) (any, error) {
	if err := p.unavailable(); err != nil {
		return nil, err
	}
	reply := make(chan groupReply, 1)
	p.send(&groupMsg{plan: plan, reply: reply})
	select {
	case r := <-reply:
		return r.result, r.err
	case <-p.done:
		return nil, p.stoppedErr()
	case <-ctx.Done():
		return nil, protocol.Errorf(protocol.ErrTimeout, "partition %s: group command not answered in time (%v)", p.name, ctx.Err())
	}
}

// group plans, logs and applies one group command as the leader.
func (a *partitionActor) group(msg *groupMsg) {
	if err := a.leaderErr(); err != nil {
		msg.reply <- groupReply{err: err}
		return
	}
	if !a.r.LeaderCommitted() {
		// Plans read the committed stream: a new leader's commit point may still lag its
		// predecessor's, and XAUTOCLAIM then took pending entries for deleted ones and dropped
		// them (the cluster simulator's seed 46, after a power loss).
		msg.reply <- groupReply{err: protocol.Errorf(protocol.ErrUnavailable,
			"partition %s: the new leader has not committed its predecessor's log yet; retry", a.p.name)}
		return
	}
	a.groups.ensure()
	now := a.p.cfg.Now().UnixMilli()
	entry, result, err := msg.plan(a.groups.live, logStream{a: a}, now)
	if err != nil || entry == nil {
		msg.reply <- groupReply{result: result, err: err}
		return
	}
	at, err := a.appendControlRecord(batch.ControlGroup, entry.Marshal())
	if err != nil {
		msg.reply <- groupReply{err: err}
		return
	}
	if err := a.applyLogged(at, entry); err != nil {
		// The leader planned it against this very state: a refusal is a programmer error.
		panic(fmt.Sprintf("partition %s: a planned group entry does not apply: %v", a.p.name, err))
	}
	a.appendedControl(at+1, func(err error) { msg.reply <- groupReply{result: result, err: err} })
}

// applyGroupEntry applies a group entry found in the log (a follower's append, a start's replay).
func (a *partitionActor) applyGroupEntry(at uint64, value []byte) error {
	entry, err := group.UnmarshalEntry(value)
	if err != nil {
		return fmt.Errorf("%w: the group entry at offset %d: %w", storage.ErrCorrupt, at, err)
	}
	if err := a.applyLogged(at, entry); err != nil {
		// The leader applied it; a replica that cannot is behind in a way the log cannot
		// explain. Keep the replica running: the entry is skipped and logged.
		a.p.cfg.Logger.Warn("partition: a group entry does not apply; skipped", "partition", a.p.name, "offset", at, "err", err)
	}
	return nil
}

func (a *partitionActor) applyLogged(at uint64, entry *group.Entry) error {
	g := &a.groups
	g.ensure()
	if err := g.live.Apply(entry); err != nil {
		return err
	}
	g.uncommitted = append(g.uncommitted, loggedEntry{at: at, entry: entry})
	a.p.groupCount.Store(int64(g.live.Len()))
	return nil
}

// groupsCommitted moves the entries below commit into the committed state.
func (a *partitionActor) groupsCommitted(commit uint64) {
	g := &a.groups
	n := 0
	for n < len(g.uncommitted) && g.uncommitted[n].at < commit {
		if err := g.committed.Apply(g.uncommitted[n].entry); err != nil {
			a.p.cfg.Logger.Warn("partition: a committed group entry does not apply", "partition", a.p.name, "offset", g.uncommitted[n].at, "err", err)
		}
		n++
	}
	clear(g.uncommitted[:n])
	g.uncommitted = g.uncommitted[n:]
	g.sinceSnapshot += n
	g.committedAt = max(g.committedAt, commit)
	if g.sinceSnapshot >= groupsSnapshotEvery {
		a.saveGroups()
	}
}

// groupsTruncated rebuilds the live state from the committed one and the entries below end.
func (a *partitionActor) groupsTruncated(end uint64) error {
	g := &a.groups
	if g.live == nil {
		return nil
	}
	keep := 0
	for keep < len(g.uncommitted) && g.uncommitted[keep].at < end {
		keep++
	}
	if keep == len(g.uncommitted) {
		return nil
	}
	live, err := group.UnmarshalSnapshot(g.committed.MarshalSnapshot())
	if err != nil {
		return fmt.Errorf("copy the committed group state: %w", err)
	}
	for _, e := range g.uncommitted[:keep] {
		if err := live.Apply(e.entry); err != nil {
			a.p.cfg.Logger.Warn("partition: a group entry does not apply after a truncation", "partition", a.p.name, "offset", e.at, "err", err)
		}
	}
	g.live = live
	g.uncommitted = g.uncommitted[:keep]
	a.p.groupCount.Store(int64(live.Len()))
	return nil
}

// saveGroups writes the committed state (a failure is logged: the next start replays more).
func (a *partitionActor) saveGroups() {
	g := &a.groups
	if g.committed == nil {
		return
	}
	data := binary.LittleEndian.AppendUint64(nil, g.committedAt)
	data = append(data, g.committed.MarshalSnapshot()...)
	if err := vfs.WriteFileAtomic(a.fs(), a.p.cfg.Storage.Dir, groupsFile, data); err != nil {
		a.p.cfg.Logger.Warn("partition: could not write the group snapshot", "partition", a.p.name, "err", err)
		return
	}
	g.sinceSnapshot = 0
}

// loadGroups reads the committed state and replays the control entries after it (trims and
// group changes), on the actor's goroutine before anything else.
func (a *partitionActor) loadGroups() error {
	g := &a.groups
	from := a.log.LogStart()
	data, err := vfs.ReadFile(a.fs(), filepath.Join(a.p.cfg.Storage.Dir, groupsFile), maxGroupsFileBytes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read %s: %w", groupsFile, err)
	case len(data) < 8:
		return fmt.Errorf("%w: %s is %d bytes", storage.ErrCorrupt, groupsFile, len(data))
	default:
		st, err := group.UnmarshalSnapshot(data[8:])
		if err != nil {
			return fmt.Errorf("%w: %s: %w", storage.ErrCorrupt, groupsFile, err)
		}
		at := binary.LittleEndian.Uint64(data)
		if at < from {
			a.p.cfg.Logger.Warn("partition: the group snapshot is older than the log start; group changes in between are lost",
				"partition", a.p.name, "snapshot", at, "log_start", from)
		}
		g.committed, g.committedAt = st, at
		from = max(from, at)
	}
	if g.committed != nil {
		if g.live, err = group.UnmarshalSnapshot(g.committed.MarshalSnapshot()); err != nil {
			return err
		}
		a.p.groupCount.Store(int64(g.live.Len()))
	}
	return a.replayControl(from)
}

// replayControl applies the control entries of the log from offset from on.
func (a *partitionActor) replayControl(from uint64) error {
	var buf []byte
	for from < a.log.LogEnd() {
		res, err := a.log.Read(from, 1<<20, a.log.LogEnd(), buf)
		if err != nil {
			return fmt.Errorf("replay control entries from %d: %w", from, err)
		}
		buf = res.Data[:0]
		for data := res.Data; len(data) > 0; {
			h, err := batch.ReadHeader(data)
			if err != nil || int64(h.Length) > int64(len(data)) {
				return fmt.Errorf("%w: replay control entries at %d", storage.ErrCorrupt, from)
			}
			b := data[:h.Length]
			data = data[h.Length:]
			if h.IsControl() && h.BaseOffset >= from {
				if err := a.applyControl(b, h); err != nil {
					return err
				}
			}
		}
		if res.Next <= from {
			break
		}
		from = res.Next
	}
	return nil
}

// logStream is the partition's committed stream as group commands see it (on the actor's
// goroutine).
type logStream struct{ a *partitionActor }

func (s logStream) Info() group.StreamInfo {
	f, err := s.a.p.streamFigures()
	if err != nil {
		s.a.p.cfg.Logger.Warn("partition: stream figures", "partition", s.a.p.name, "err", err)
	}
	return group.StreamInfo{LastID: f.LastID, EntriesAdded: int64(f.Added), Length: int64(f.Len), FirstID: f.firstID,
		MaxDeletedID: f.maxDeletedID}
}

func (s logStream) After(after batch.ID, count int) []batch.ID {
	if count <= 0 {
		count = group.MaxCount
	}
	if after == batch.MaxID {
		return nil
	}
	next := after
	if next.Seq == math.MaxUint64 {
		next = batch.ID{Ms: next.Ms + 1}
	} else {
		next.Seq++
	}
	log := s.a.log
	from, err := log.OffsetForID(next)
	if err != nil {
		return nil
	}
	var ids []batch.ID
	for from < s.a.commit && len(ids) < count {
		res, err := log.Read(from, max(16<<10, min(256<<10, 128*(count-len(ids)))), s.a.commit, nil)
		if err != nil {
			break
		}
		rs := res.Records()
		for len(ids) < count && rs.Next() {
			ids = append(ids, rs.Record().ID)
		}
		if res.Next <= from {
			break
		}
		from = res.Next
	}
	return ids
}

func (s logStream) Exists(id batch.ID) bool {
	offset, err := s.a.log.OffsetForID(id)
	if err != nil || offset >= s.a.commit {
		return false
	}
	res, err := s.a.log.Read(offset, 1, s.a.commit, nil)
	if err != nil {
		return false
	}
	rs := res.Records()
	return rs.Next() && rs.Record().ID == id
}
