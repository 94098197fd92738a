package storage

import (
	"errors"
	"fmt"
	"os"

	"github.com/shoalmq/shoal/protocol/batch"
)

// Append writes batch b as the leader of epoch: it validates b (limits, layout, CRC), assigns the
// next offsets and, for an AttrAutoID batch, ids from the clock (nowMs, never going backwards),
// checks explicit ids against LastID (Redis's XADD error when they do not rise), and writes it to
// the active segment. Append rewrites b's header in place; b is not retained.
//
// The batch is durable once DurableEnd passes Appended.NextOffset (see WaitDurable).
func (l *Log) Append(b []byte, epoch uint64, nowMs uint64) (Appended, error) {
	h, err := l.checkBatch(b)
	if err != nil {
		return Appended{}, err
	}
	if h.IsControl() {
		return Appended{}, fmt.Errorf("%w: control batches are not accepted from producers (use AppendControl)", ErrCorrupt)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkEpochLocked(epoch); err != nil {
		return Appended{}, err
	}
	first := h.FirstID
	if !h.IsControl() {
		if h.Attributes&batch.AttrAutoID != 0 {
			first, err = batch.NextAutoIDs(l.lastID, nowMs, h.RecordCount)
		} else {
			err = batch.CheckExplicitID(l.lastID, h.FirstID)
		}
		if err != nil {
			return Appended{}, err
		}
	}
	batch.Stamp(b, l.nextOffset(), epoch, first)
	h, err = batch.ReadHeader(b)
	if err != nil {
		panic(fmt.Sprintf("storage: a stamped batch no longer reads: %v", err))
	}
	return l.writeLocked(b, h)
}

// AppendControl writes a control batch of the log's owner (an epoch start, a config entry, a
// group change) as the leader of epoch. Tombstones go through Delete, which checks their targets.
func (l *Log) AppendControl(b []byte, epoch uint64) (Appended, error) {
	h, err := l.checkBatch(b)
	if err != nil {
		return Appended{}, err
	}
	if !h.IsControl() {
		return Appended{}, fmt.Errorf("%w: AppendControl of a data batch", ErrCorrupt)
	}
	it := batch.Iterate(b, h)
	for it.Next() {
		if _, ok := batch.TombstoneOffset(it.Record()); ok {
			return Appended{}, fmt.Errorf("%w: tombstones are written by Delete", ErrCorrupt)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkEpochLocked(epoch); err != nil {
		return Appended{}, err
	}
	return l.stampAndWriteLocked(b, epoch)
}

// stampAndWriteLocked stamps a control batch at the log end and writes it.
func (l *Log) stampAndWriteLocked(b []byte, epoch uint64) (Appended, error) {
	batch.Stamp(b, l.nextOffset(), epoch, batch.ID{})
	h, err := batch.ReadHeader(b)
	if err != nil {
		panic(fmt.Sprintf("storage: a stamped control batch no longer reads: %v", err))
	}
	return l.writeLocked(b, h)
}

// AppendReplica writes batch b exactly as the leader stored it (a follower's append): its base
// offset must be the log end, its epoch not below the last one, its ids above LastID.
func (l *Log) AppendReplica(b []byte) (Appended, error) {
	h, err := l.checkBatch(b)
	if err != nil {
		return Appended{}, err
	}
	if h.Attributes&batch.AttrAutoID != 0 {
		return Appended{}, fmt.Errorf("%w: replica batch at offset %d has no ids assigned", ErrCorrupt, h.BaseOffset)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkEpochLocked(h.LeaderEpoch); err != nil {
		return Appended{}, err
	}
	if next := l.nextOffset(); h.BaseOffset != next {
		return Appended{}, fmt.Errorf("%w: batch at %d, log end %d", ErrOffsetMismatch, h.BaseOffset, next)
	}
	if !h.IsControl() && !l.lastID.Less(h.FirstID) {
		return Appended{}, fmt.Errorf("%w: replica batch id %v, last id %v", ErrIDNotIncreasing, h.FirstID, l.lastID)
	}
	return l.writeLocked(b, h)
}

func (l *Log) checkEpochLocked(epoch uint64) error {
	if err := l.writableLocked(); err != nil {
		return err
	}
	if last := l.lastEpochLocked(); epoch < last {
		return fmt.Errorf("%w: append in epoch %d, log is at epoch %d", ErrStaleEpoch, epoch, last)
	}
	return nil
}

// checkBatch validates a batch before any lock is taken: size, layout, CRC and record limits,
// in one pass over the records.
func (l *Log) checkBatch(b []byte) (batch.Header, error) {
	if len(b) > l.cfg.MaxBatchBytes {
		return batch.Header{}, fmt.Errorf("%w: batch of %d bytes, limit %d", ErrTooLarge, len(b), l.cfg.MaxBatchBytes)
	}
	h, err := batch.CheckLimits(b, batch.Limits{MaxKeyBytes: l.cfg.MaxKeyBytes, MaxRecordBytes: l.cfg.MaxRecordBytes})
	switch {
	case errors.Is(err, batch.ErrLimit):
		return h, fmt.Errorf("%w: %w", ErrTooLarge, err)
	case err != nil:
		return h, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return h, nil
}

// writeLocked writes a checked, stamped batch at the log end.
func (l *Log) writeLocked(b []byte, h batch.Header) (Appended, error) {
	if err := l.maybeRollLocked(len(b)); err != nil {
		return Appended{}, err
	}
	seg := l.active()
	pos := seg.size
	if n, err := seg.file.Write(b); err != nil || n != len(b) {
		if err == nil {
			err = fmt.Errorf("short write of %d of %d bytes", n, len(b))
		}
		// A partial batch may sit at the tail: take it back, or stop writing altogether.
		if terr := seg.file.Truncate(pos); terr != nil {
			return Appended{}, l.failLocked(fmt.Errorf("write %s: %v; undo: %w", seg.path, err, terr))
		}
		return Appended{}, fmt.Errorf("storage: write %s: %w", seg.path, err)
	}
	if seg.createdAt.IsZero() {
		seg.createdAt = l.cfg.Now()
	}
	seg.add(h, pos, l.cfg.IndexIntervalBytes)
	if h.LeaderEpoch > l.lastEpochLocked() {
		// Recorded once the batch is written, so a failed write leaves no phantom epoch; a
		// crash before the meta write is covered by recovery, which rescans the active
		// segment's epochs (and every roll rewrites the meta file after syncing).
		m := l.meta
		m.Epochs = append(append([]EpochStart(nil), m.Epochs...), EpochStart{Epoch: h.LeaderEpoch, StartOffset: h.BaseOffset})
		if err := l.saveMetaLocked(m); err != nil {
			return Appended{}, err
		}
	}
	if h.IsControl() {
		l.applyTombstones(b, h)
	} else {
		l.lastID = h.LastID
	}
	l.kickSyncer()
	return Appended{BaseOffset: h.BaseOffset, NextOffset: h.NextOffset(), FirstID: h.FirstID, LastID: h.LastID, truncations: l.truncations}, nil
}

// maybeRollLocked seals the active segment when the incoming bytes would take it past
// SegmentBytes or it is older than SegmentAge.
func (l *Log) maybeRollLocked(incoming int) error {
	seg := l.active()
	if seg.empty() {
		return nil
	}
	full := seg.size+int64(incoming) > l.cfg.SegmentBytes
	old := l.cfg.SegmentAge > 0 && !seg.createdAt.IsZero() && l.cfg.Now().Sub(seg.createdAt) >= l.cfg.SegmentAge
	if !full && !old {
		return nil
	}
	return l.rollLocked()
}

// rollLocked seals the active segment (fsync, index file) and starts a new one whose directory
// entry is durable before anything is appended to it.
func (l *Log) rollLocked() error {
	seg := l.active()
	if err := seg.file.Sync(); err != nil {
		return l.failLocked(fmt.Errorf("sync %s: %w", seg.path, err))
	}
	if err := l.writeIndex(seg); err != nil {
		return l.failLocked(err)
	}
	next, err := l.createSegment(seg.nextOffset())
	if err != nil {
		return l.failLocked(err)
	}
	l.segments = append(l.segments, next)
	// The meta file checkpoints the tombstones, so recovery scans only the newer segments.
	if err := l.saveMetaLocked(l.meta); err != nil {
		return err
	}
	l.kickSyncer()
	return nil
}

// createSegment creates an empty segment file (replacing a stale one) and syncs the directory.
func (l *Log) createSegment(base uint64) (*segment, error) {
	seg := newSegment(l.cfg.Dir, base, nil)
	file, err := l.fs.OpenFile(seg.path, os.O_CREATE|os.O_TRUNC|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", seg.path, err)
	}
	if err := l.fs.SyncDir(l.cfg.Dir); err != nil {
		_ = file.Close()
		return nil, fmt.Errorf("sync %s: %w", l.cfg.Dir, err)
	}
	seg.file = file
	return seg, nil
}
