package ring

import (
	"encoding/binary"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// NodeID names a node: its stable id, kept in its data directory (for example "n1").
type NodeID string

// Ring is an immutable rendezvous-hashing structure over a set of node ids. Build one per
// membership change with New. Nothing changes after New returns, so a Ring is safe for
// concurrent use.
type Ring struct {
	// members holds the distinct node ids.
	// Invariant: sorted ascending, no duplicates.
	members []NodeID
	// longestID is the length in bytes of the longest member id.
	longestID int
}

// Weighted is one member with its rendezvous weight for a key.
type Weighted struct {
	Member NodeID
	// Weight is xxhash64 of the key's bytes followed by the member id's bytes.
	Weight uint64
}

// New builds the ring of members. The order of members and any duplicates do not matter: two
// calls with the same set of ids build rings that answer every question identically. New copies
// members; the caller keeps its slice.
func New(members []NodeID) *Ring {
	sorted := slices.Clone(members)
	slices.Sort(sorted)
	r := &Ring{members: slices.Compact(sorted)}
	for _, id := range r.members {
		r.longestID = max(r.longestID, len(id))
	}
	return r
}

// Members returns the distinct members in ascending order, in a slice the caller owns.
func (r *Ring) Members() []NodeID { return slices.Clone(r.members) }

// Len returns the number of distinct members.
func (r *Ring) Len() int { return len(r.members) }

// Preference returns up to n distinct members in preference order for key (see Ranking).
// n <= 0 or n > Len returns all members. The caller owns the returned slice.
func (r *Ring) Preference(key []byte, n int) []NodeID {
	if n <= 0 || n > len(r.members) {
		n = len(r.members)
	}
	ranking := r.Ranking(key)
	preference := make([]NodeID, n)
	for i := range preference {
		preference[i] = ranking[i].Member
	}
	return preference
}

// Ranking returns every member with its weight for key, in preference order: highest weight
// first, and on equal weights (a 64-bit collision) the smaller id first. This is rendezvous
// (highest random weight) hashing: removing a member changes no key's order among the others,
// and adding one only inserts it. The caller owns the returned slice.
func (r *Ring) Ranking(key []byte) []Weighted {
	ranking := make([]Weighted, len(r.members))
	keyed := make([]byte, len(key), len(key)+r.longestID)
	copy(keyed, key)
	for i, id := range r.members {
		ranking[i] = Weighted{Member: id, Weight: xxhash.Sum64(append(keyed, id...))}
	}
	slices.SortFunc(ranking, heavierFirst)
	return ranking
}

// heavierFirst orders a ranking: higher weight first, then the smaller id.
func heavierFirst(a, b Weighted) int {
	switch {
	case a.Weight > b.Weight:
		return -1
	case a.Weight < b.Weight:
		return 1
	}
	return strings.Compare(string(a.Member), string(b.Member))
}

// PartitionKey is the ring key of a topic partition, the one definition every node uses: the
// partition number as 8 bytes big-endian followed by the topic name. The fixed-width prefix makes
// the encoding unambiguous: no two topic/partition pairs share a key. partition must not be
// negative.
func PartitionKey(topic string, partition int) []byte {
	if partition < 0 {
		panic("ring.PartitionKey: negative partition; partitions are numbered from 0")
	}
	key := make([]byte, 8, 8+len(topic))
	binary.BigEndian.PutUint64(key, uint64(partition))
	return append(key, topic...)
}
