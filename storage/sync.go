package storage

import (
	"context"
	"fmt"
	"time"
)

func (l *Log) startSyncer() {
	l.syncKick = make(chan struct{}, 1)
	l.syncStop = make(chan struct{})
	l.syncDone = make(chan struct{})
	if l.cfg.Fsync == FsyncNever {
		close(l.syncDone)
		return
	}
	go l.syncLoop()
}

// syncLoop is the group-commit loop: under FsyncAlways every append kicks it, and appends that
// arrive while an fsync runs are covered by the next one; under FsyncInterval a ticker drives it.
func (l *Log) syncLoop() {
	defer close(l.syncDone)
	var tick <-chan time.Time
	if l.cfg.Fsync == FsyncInterval {
		ticker := time.NewTicker(l.cfg.FsyncInterval)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		select {
		case <-l.syncStop:
			return
		case <-l.syncKick:
		case <-tick:
		}
		_ = l.Sync() // a failure is recorded in the log (Err) and reported to writers
	}
}

// kickSyncer asks the syncer for an fsync under FsyncAlways; it never blocks.
func (l *Log) kickSyncer() {
	if l.cfg.Fsync != FsyncAlways {
		return
	}
	select {
	case l.syncKick <- struct{}{}:
	default:
	}
}

// Sync fsyncs everything appended so far and advances SyncedEnd. It may be called from any
// goroutine; concurrent calls are serialised.
func (l *Log) Sync() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.RLock()
	if err := l.writableLocked(); err != nil {
		l.mu.RUnlock()
		return err
	}
	end, file, synced := l.nextOffset(), l.active().file, l.syncedEnd
	l.mu.RUnlock()
	if end == synced {
		return nil
	}
	// Segments before the active one were fsynced when they were sealed, so syncing the active
	// file makes everything below end durable. The file stays open: only holders of syncMu
	// close segment files.
	start := time.Now()
	err := file.Sync()
	if l.cfg.OnFsync != nil {
		l.cfg.OnFsync(time.Since(start))
	}
	l.mu.Lock()
	if err != nil {
		err = l.failLocked(err)
		l.mu.Unlock()
		return err
	}
	l.syncedToLocked(end)
	l.mu.Unlock()
	return nil
}

// syncedToLocked records that everything below end is fsynced: it wakes WaitDurable callers and
// reports to OnDurable. Callers hold syncMu too, which keeps the reports in order.
func (l *Log) syncedToLocked(end uint64) {
	if end <= l.syncedEnd {
		return
	}
	l.syncedEnd = end
	l.wakeWaitersLocked()
	if l.cfg.OnDurable != nil {
		l.cfg.OnDurable(end)
	}
}

// WaitDurable blocks until DurableEnd reaches offset (an Appended.NextOffset), the log fails or
// closes, or ctx is done.
func (l *Log) WaitDurable(ctx context.Context, offset uint64) error {
	l.mu.RLock()
	truncations := l.truncations
	l.mu.RUnlock()
	return l.waitDurable(ctx, offset, truncations)
}

// WaitAppended waits until the batch a describes is durable, like WaitDurable, and fails with
// ErrTruncated if a Truncate since the append cut it away (even before the wait began).
func (l *Log) WaitAppended(ctx context.Context, a Appended) error {
	return l.waitDurable(ctx, a.NextOffset, a.truncations)
}

func (l *Log) waitDurable(ctx context.Context, offset, truncations uint64) error {
	for {
		l.mu.RLock()
		done, changed := l.durableEndLocked() >= offset, l.durableChanged
		err := l.writableLocked()
		if l.truncations != truncations && l.truncatedTo < offset {
			// Other batches may fill these offsets now: their durability says nothing of ours.
			err = fmt.Errorf("%w: waiting for offset %d, the log was cut to %d", ErrTruncated, offset, l.truncatedTo)
			done = false
		}
		l.mu.RUnlock()
		if done {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops the syncer, fsyncs, records a clean shutdown and closes the files. Reads and
// appends after Close return ErrClosed. Close is idempotent.
func (l *Log) Close() error {
	var err error
	l.closeOnce.Do(func() { err = l.close() })
	return err
}

func (l *Log) close() error {
	close(l.syncStop)
	<-l.syncDone
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	// Closed first, under the lock: an append racing with Close either lands before the final
	// fsync below or is refused, so a clean-shutdown mark never covers an unsynced append.
	l.closed = true
	var err error
	if l.failure == nil {
		err = l.finalSyncLocked()
	}
	l.closeFiles()
	l.wakeWaitersLocked()
	return err
}

// finalSyncLocked fsyncs the active segment and records a clean shutdown.
func (l *Log) finalSyncLocked() error {
	if l.syncedEnd < l.nextOffset() {
		if err := l.active().file.Sync(); err != nil {
			return l.failLocked(fmt.Errorf("sync %s: %w", l.active().path, err))
		}
		l.syncedToLocked(l.nextOffset())
	}
	m := l.meta
	m.CleanShutdown = true
	return l.saveMetaLocked(m)
}
