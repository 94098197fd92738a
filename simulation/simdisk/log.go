// Package simdisk is the simulated disk of the protocol-tier simulator: one replica's partition
// log in memory, with the part of it that is synced, so that a crash can lose what was never
// fsynced (all of it, or under a torn write only the last batch), and with the promised epoch
// and the unclean marker that the real shell keeps beside the log (both written durably at
// once, as partition.meta and the marker file are).
//
// A Log stores whole batches as the replication core hands them out (LogWrite) and serves the
// core's reads (replication.LogReader). It checks what storage.Log checks on a replica's
// writes: appends at the end, truncations at batch boundaries; a write that breaks either is an
// error, as the real log refuses it.
package simdisk

import (
	"errors"
	"fmt"
	"sort"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/protocol/batch"
)

// ErrRefused wraps every write the log refuses.
var ErrRefused = errors.New("simdisk: write refused")

// Log is one replica's log on the simulated disk. The zero value is an empty log.
type Log struct {
	batches [][]byte
	bases   []replication.Offset
	end     replication.Offset
	// Invariant: synced <= len(batches): batches[:synced] are on disk.
	synced int
	// Promised is the promised epoch (persisted before the promise is sent).
	Promised replication.Epoch
	// Unclean is the unclean marker: present while the core is an unclean learner, so a restart
	// before it caught up starts unclean again.
	Unclean bool
}

// Read implements replication.LogReader: whole batches from a batch boundary, at least one,
// at most maxBytes unless the first alone is larger.
func (l *Log) Read(from replication.Offset, maxBytes int) ([]byte, error) {
	i := l.index(from)
	if i == len(l.bases) || l.bases[i] != from {
		return nil, fmt.Errorf("simdisk: no batch starts at %d (end %d)", from, l.end)
	}
	n, size := 0, 0
	for j := i; j < len(l.batches); j++ {
		if n > 0 && size+len(l.batches[j]) > maxBytes {
			break
		}
		n, size = n+1, size+len(l.batches[j])
	}
	out := make([]byte, 0, size)
	for _, b := range l.batches[i : i+n] {
		out = append(out, b...)
	}
	return out, nil
}

// index returns the position of the first batch whose base is at or above o.
func (l *Log) index(o replication.Offset) int {
	return sort.Search(len(l.bases), func(i int) bool { return l.bases[i] >= o })
}

// Apply does one write of a Ready. It keeps the batch bytes it is given (the core hands them
// over). A truncation drops synced batches too: the real log rewrites its tail durably.
func (l *Log) Apply(w replication.LogWrite) error {
	if w.Truncate {
		i := l.index(w.To)
		if w.To != l.end && (i == len(l.bases) || l.bases[i] != w.To) {
			return fmt.Errorf("%w: truncate to %d inside a batch or past the end %d", ErrRefused, w.To, l.end)
		}
		l.batches, l.bases, l.end = l.batches[:i], l.bases[:i], w.To
		l.synced = min(l.synced, i)
		return nil
	}
	h, err := batch.Check(w.Batch)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if replication.Offset(h.BaseOffset) != l.end {
		return fmt.Errorf("%w: batch at %d, log end %d", ErrRefused, h.BaseOffset, l.end)
	}
	l.batches = append(l.batches, w.Batch)
	l.bases = append(l.bases, l.end)
	l.end += replication.Offset(h.RecordCount)
	return nil
}

// End returns the log end.
func (l *Log) End() replication.Offset { return l.end }

// Len returns the number of batches.
func (l *Log) Len() int { return len(l.batches) }

// Batch returns batch i (0 is the oldest) and its base offset; the bytes are shared, read only.
func (l *Log) Batch(i int) ([]byte, replication.Offset) { return l.batches[i], l.bases[i] }

// Find returns the index of the batch holding offset o, or -1.
func (l *Log) Find(o replication.Offset) int {
	if o >= l.end {
		return -1
	}
	i := l.index(o + 1)
	return i - 1
}

// Unsynced returns how many batches a crash would lose now.
func (l *Log) Unsynced() int { return len(l.batches) - l.synced }

// Sync makes every batch durable.
func (l *Log) Sync() { l.synced = len(l.batches) }

// SyncedEnd is the end of what is on disk.
func (l *Log) SyncedEnd() replication.Offset {
	if l.synced == len(l.batches) {
		return l.end
	}
	return l.bases[l.synced]
}

// Lost is a range of offsets a crash dropped, with the batches that held them.
type Lost struct {
	From, To replication.Offset
	Batches  [][]byte
}

// Crash is a power loss: every unsynced batch is lost, or with torn only the last one (the
// earlier ones reached the disk by writeback, the last was torn mid-write and recovery cuts
// it). What is left is synced (recovery reads it back from disk).
func (l *Log) Crash(torn bool) Lost {
	keep := l.synced
	if torn && keep < len(l.batches) {
		keep = len(l.batches) - 1
	}
	lost := Lost{From: l.end, To: l.end}
	if keep < len(l.batches) {
		lost = Lost{From: l.bases[keep], To: l.end, Batches: append([][]byte(nil), l.batches[keep:]...)}
		l.end = l.bases[keep]
	}
	l.batches, l.bases = l.batches[:keep:keep], l.bases[:keep:keep]
	l.synced = keep
	return lost
}

// History rebuilds the epoch history, as storage does on open.
func (l *Log) History() replication.History {
	var h replication.History
	for i, b := range l.batches {
		hd, err := batch.ReadHeader(b)
		if err != nil {
			panic(fmt.Sprintf("simdisk: a stored batch no longer reads: %v", err))
		}
		if e := replication.Epoch(hd.LeaderEpoch); len(h) == 0 || h[len(h)-1].Epoch != e {
			h = append(h, replication.EpochStart{Epoch: e, Start: l.bases[i]})
		}
	}
	return h
}

// Configs returns the config entries of the log, oldest first (the shell keeps them in a file
// beside the log; here they are read back from the log itself).
func (l *Log) Configs() []replication.ConfigAt {
	var out []replication.ConfigAt
	for i, b := range l.batches {
		h, err := batch.ReadHeader(b)
		if err != nil || !h.IsControl() {
			continue
		}
		it := batch.Iterate(b, h)
		for it.Next() {
			r := it.Record()
			if len(r.Key) == 1 && r.Key[0] == batch.ControlConfig {
				if c, err := replication.DecodeConfig(r.Value); err == nil {
					out = append(out, replication.ConfigAt{Offset: l.bases[i], Config: c})
				}
			}
		}
	}
	return out
}
