package storage

import (
	"slices"
	"sort"
)

// tombstone marks the data record at offset deleted by the control record at offset by.
// Keeping by lets truncation and recovery drop the tombstones whose control batch is gone.
type tombstone struct {
	offset uint64
	by     uint64
}

// tombstoneSet is the log's deleted offsets, sorted by offset, unique.
//
// Invariant: every offset is at or above the log start and below its by.
type tombstoneSet []tombstone

func (s tombstoneSet) search(offset uint64) int {
	return sort.Search(len(s), func(i int) bool { return s[i].offset >= offset })
}

// add inserts a tombstone and reports whether its offset was not deleted yet.
func (s *tombstoneSet) add(t tombstone) bool {
	i := s.search(t.offset)
	if i < len(*s) && (*s)[i].offset == t.offset {
		return false
	}
	*s = slices.Insert(*s, i, t)
	return true
}

func (s tombstoneSet) contains(offset uint64) bool {
	i := s.search(offset)
	return i < len(s) && s[i].offset == offset
}

// countIn counts the deleted offsets in [from, to).
func (s tombstoneSet) countIn(from, to uint64) int { return s.search(to) - s.search(from) }

// committedIn returns the deleted offsets in [from, to) whose control record is below
// committed (a reader must not see a deletion that may still be rolled back), or nil.
func (s tombstoneSet) committedIn(from, to, committed uint64) []uint64 {
	var out []uint64
	for _, t := range s[s.search(from):s.search(to)] {
		if t.by < committed {
			out = append(out, t.offset)
		}
	}
	return out
}

// withoutBelow drops the tombstones of offsets below start (retention took them).
func (s tombstoneSet) withoutBelow(start uint64) tombstoneSet {
	return slices.Clone(s[s.search(start):])
}

// onlyBefore keeps the tombstones whose record and control record are both below end.
func (s tombstoneSet) onlyBefore(end uint64) tombstoneSet {
	var out tombstoneSet
	for _, t := range s {
		if t.offset < end && t.by < end {
			out = append(out, t)
		}
	}
	return out
}

// pairs is the meta file's form: [offset, by] pairs.
func (s tombstoneSet) pairs() [][2]uint64 {
	out := make([][2]uint64, len(s))
	for i, t := range s {
		out[i] = [2]uint64{t.offset, t.by}
	}
	return out
}

func tombstonesFromPairs(pairs [][2]uint64) tombstoneSet {
	out := make(tombstoneSet, len(pairs))
	for i, p := range pairs {
		out[i] = tombstone{offset: p[0], by: p[1]}
	}
	return out
}
