package storage

import (
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage/vfs"
)

// Log is one partition's log. See the package documentation for files, durability and
// concurrency.
type Log struct {
	cfg Config
	fs  vfs.FS
	log *slog.Logger
	// lock holds the directory for this Log until Close.
	lock io.Closer

	// syncMu serialises fsync of the active segment with operations that close or delete
	// segment files (truncation, retention, Close). Lock order: syncMu, then mu.
	syncMu sync.Mutex

	mu sync.RWMutex
	// segments are sorted by base offset; the last one is active.
	// Invariant: segments[i+1].baseOffset == segments[i].nextOffset(); len(segments) >= 1.
	segments []*segment
	meta     partitionMeta
	// Invariant: meta.LogStart <= nextOffset.
	lastID batch.ID
	// tombstones are the deleted records at or above the log start.
	tombstones tombstoneSet
	// setID is the newest XSETID in the log (nil: none).
	setID *SetIDState
	// dataBelowStart counts the data records of the first segment below the log start.
	dataBelowStart uint64
	// Invariant: syncedEnd <= nextOffset().
	syncedEnd uint64
	// durableChanged is closed and replaced each time syncedEnd advances (a broadcast).
	durableChanged chan struct{}
	// truncations counts Truncate calls, and truncatedTo is the lowest end any of them cut to,
	// so WaitDurable can tell a waiter that its batch was cut away.
	truncations uint64
	truncatedTo uint64
	// failure is set by a failed write or fsync; the log then refuses writes (ErrFailed).
	failure error
	closed  bool

	closeOnce sync.Once

	syncKick chan struct{}
	syncStop chan struct{}
	syncDone chan struct{}

	scannedEpochs []EpochStart // epochs seen while recovering, merged by recoverState
	scratch       []byte       // reused by appends that build control batches and by scans under mu
}

// Recovery reports what Open found and did.
type Recovery struct {
	// Segments is the number of segment files in the log.
	Segments int
	// Cut describes a torn or corrupt tail that Open removed; zero when nothing was cut.
	Cut Cut
	// RebuiltIndexes lists index files that were missing or broken and were rebuilt.
	RebuiltIndexes []string
	// RemovedFiles lists files removed because they were below the log start or left over.
	RemovedFiles []string
	// Unclean is true when the log was not closed cleanly last time (a crash): under
	// FsyncInterval and FsyncNever acknowledged appends may have been lost.
	Unclean bool
}

// Cut is a removed tail of the active segment.
type Cut struct {
	File       string
	Position   int64  // where the file was cut
	Bytes      int64  // how many bytes were removed
	FromOffset uint64 // the first offset that was lost (the log end after the cut)
	Reason     string
}

// Appended describes a batch that Append wrote.
type Appended struct {
	BaseOffset uint64
	NextOffset uint64
	FirstID    batch.ID
	LastID     batch.ID
	// truncations is the log's truncation count at the append (see WaitAppended).
	truncations uint64
}

// LogStart returns the first offset the log holds.
func (l *Log) LogStart() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.meta.LogStart
}

// LogEnd returns the offset the next append will get.
func (l *Log) LogEnd() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.nextOffset()
}

// LastID returns the largest data id ever appended and still accounted for (Redis's
// last-generated-id).
func (l *Log) LastID() batch.ID {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.lastID
}

// SyncedEnd returns the offset below which every batch is fsynced.
func (l *Log) SyncedEnd() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.syncedEnd
}

// DurableEnd returns the offset below which appends may be acknowledged under the policy:
// SyncedEnd under FsyncAlways, LogEnd under FsyncInterval and FsyncNever.
func (l *Log) DurableEnd() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.durableEndLocked()
}

func (l *Log) durableEndLocked() uint64 {
	if l.cfg.Fsync == FsyncAlways {
		return l.syncedEnd
	}
	return l.nextOffset()
}

// Epochs returns a copy of the leader epoch history.
func (l *Log) Epochs() []EpochStart {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]EpochStart(nil), l.meta.Epochs...)
}

// LastEpoch returns the epoch of the last batch in the log, or 0 for an empty history.
func (l *Log) LastEpoch() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.lastEpochLocked()
}

func (l *Log) lastEpochLocked() uint64 {
	if n := len(l.meta.Epochs); n > 0 {
		return l.meta.Epochs[n-1].Epoch
	}
	return 0
}

// PromisedEpoch returns the highest epoch this replica promised to a candidate.
func (l *Log) PromisedEpoch() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.meta.PromisedEpoch
}

// Promise durably records that this replica promised epoch; it refuses an epoch lower than
// the one already promised (ErrStaleEpoch).
func (l *Log) Promise(epoch uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	if epoch < l.meta.PromisedEpoch {
		return fmt.Errorf("%w: promise %d below promised %d", ErrStaleEpoch, epoch, l.meta.PromisedEpoch)
	}
	m := l.meta
	m.PromisedEpoch = epoch
	return l.saveMetaLocked(m)
}

// Err returns the failure that made the log refuse writes, or nil.
func (l *Log) Err() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.failure
}

func (l *Log) nextOffset() uint64 { return l.active().nextOffset() }

func (l *Log) active() *segment { return l.segments[len(l.segments)-1] }

func (l *Log) writableLocked() error {
	switch {
	case l.closed:
		return ErrClosed
	case l.failure != nil:
		return fmt.Errorf("%w: %w (reopen the log to recover)", ErrFailed, l.failure)
	}
	return nil
}

// saveMetaLocked writes m with the current tombstones and makes it the log's meta.
func (l *Log) saveMetaLocked(m partitionMeta) error {
	m.Tombstones = l.tombstones.pairs()
	m.TombstonesThrough = l.nextOffset()
	m.SetID = l.setID
	if err := writeMeta(l.fs, l.cfg.Dir, m); err != nil {
		return l.failLocked(err)
	}
	l.meta = m
	return nil
}

// failLocked records a write or fsync failure: after it, what is on disk is unknown until a
// reopen recovers it, so the log refuses further writes.
func (l *Log) failLocked(err error) error {
	if l.failure == nil {
		l.failure = err
		l.wakeWaitersLocked()
		l.log.Error("storage: log failed; writes refused until it is reopened", "dir", l.cfg.Dir, "err", err)
	}
	return fmt.Errorf("%w: %w", ErrFailed, err)
}

// wakeWaitersLocked wakes every WaitDurable call so it looks at the log's state again.
func (l *Log) wakeWaitersLocked() {
	close(l.durableChanged)
	l.durableChanged = make(chan struct{})
}
