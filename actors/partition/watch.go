package partition

import "sync"

// watch publishes the high watermark: a value and a channel that is closed (and replaced) each
// time the value rises, so any number of long-poll fetches can wait for the next advance
// without the actor knowing about them.
type watch struct {
	mu sync.Mutex
	// Invariant: highWatermark never decreases (single node: no truncation below it).
	highWatermark uint64
	changed       chan struct{}
	// stopped: the partition is gone; changed stays closed.
	stopped bool
}

func newWatch(highWatermark uint64) *watch {
	return &watch{highWatermark: highWatermark, changed: make(chan struct{})}
}

// advance raises the high watermark to hw and wakes the waiters; a lower hw is ignored.
func (w *watch) advance(hw uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if hw <= w.highWatermark || w.stopped {
		return false
	}
	w.highWatermark = hw
	close(w.changed)
	w.changed = make(chan struct{})
	return true
}

// stop wakes every waiter for good.
func (w *watch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.stopped = true
		close(w.changed)
	}
}

// get returns the high watermark and a channel closed when it next rises (or the partition stops).
func (w *watch) get() (uint64, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.highWatermark, w.changed
}
