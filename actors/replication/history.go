package replication

import (
	"fmt"
	"sort"
	"strings"
)

// EpochStart records that epoch Epoch wrote its first entry at offset Start.
type EpochStart struct {
	Epoch Epoch  `msgpack:"e"`
	Start Offset `msgpack:"s"`
}

// History is a log's epoch history, ascending in both fields: the entries in [h[i].Start,
// h[i+1].Start) have epoch h[i].Epoch. Entries below h[0].Start have epoch 0.
type History []EpochStart

func (h History) String() string {
	parts := make([]string, len(h))
	for i, e := range h {
		parts[i] = fmt.Sprintf("%d@%d", e.Epoch, e.Start)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// EpochAt returns the epoch of the entry at offset o (0 before the first entry).
func (h History) EpochAt(o Offset) Epoch {
	i := sort.Search(len(h), func(i int) bool { return h[i].Start > o })
	if i == 0 {
		return 0
	}
	return h[i-1].Epoch
}

// Last returns the epoch of the newest entry, 0 for an empty history.
func (h History) Last() Epoch {
	if len(h) == 0 {
		return 0
	}
	return h[len(h)-1].Epoch
}

// StartOf returns where epoch e starts, and false when the history has no entry of e.
func (h History) StartOf(e Epoch) (Offset, bool) {
	for _, s := range h {
		if s.Epoch == e {
			return s.Start, true
		}
	}
	return 0, false
}

// withBatch returns h extended by a batch of epoch e at base. It panics on an epoch going
// backwards: a replica appends only batches it checked.
func (h History) withBatch(e Epoch, base Offset) History {
	last := h.Last()
	switch {
	case e == last && len(h) > 0:
		return h
	case e < last:
		panic(fmt.Sprintf("replication: batch of epoch %d at %d after epoch %d", e, base, last))
	}
	return append(h, EpochStart{Epoch: e, Start: base})
}

// truncated returns h for a log cut to end.
func (h History) truncated(end Offset) History {
	i := sort.Search(len(h), func(i int) bool { return h[i].Start >= end })
	return h[:i:i]
}

func (h History) clone() History { return append(History(nil), h...) }

// Divergence returns the end of the longest common prefix of two logs given by their histories
// and ends: every offset below it is in both logs with the same epoch, which (one leader per
// epoch, and a leader never rewrites its own log) means the same entry.
func Divergence(a History, aEnd Offset, b History, bEnd Offset) Offset {
	limit := min(aEnd, bEnd)
	points := make([]Offset, 0, len(a)+len(b)+1)
	points = append(points, 0)
	for _, s := range a {
		points = append(points, s.Start)
	}
	for _, s := range b {
		points = append(points, s.Start)
	}
	sort.Slice(points, func(i, j int) bool { return points[i] < points[j] })
	for _, p := range points {
		if p >= limit {
			break
		}
		if a.EpochAt(p) != b.EpochAt(p) {
			return p
		}
	}
	return limit
}

// more reports whether a log (lastEpoch a, end aEnd) is more advanced than (b, bEnd): ordered by
// last epoch, then end.
func more(a Epoch, aEnd Offset, b Epoch, bEnd Offset) bool {
	if a != b {
		return a > b
	}
	return aEnd > bEnd
}
