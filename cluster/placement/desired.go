package placement

import (
	"slices"

	"github.com/shoalmq/shoal/cluster/ring"
)

// Desired returns the ring's replica set of topic/partition over the eligible members: the
// first min(rf, distinct members) members of the partition's preference order, so element 0 is
// the ring's preferred leader. It is a pure function of (members, topic, partition, rf); the
// order of members and duplicates in it do not matter; no members gives an empty set.
//
// NB(placement): Desired sees one partition and so cannot balance load. The authoritative
// desired sets are Assign's (see the package documentation); they equal Desired's except for
// the replicas Assign moves off nodes that would exceed their share.
func Desired(members []ring.NodeID, topic string, partition int, rf int) []ring.NodeID {
	return DesiredOn(ring.New(members), topic, partition, rf)
}

// DesiredOn is Desired with a prebuilt ring, for callers that ask about many partitions.
func DesiredOn(r *ring.Ring, topic string, partition int, rf int) []ring.NodeID {
	mustReplicate(rf)
	if r.Len() == 0 {
		return []ring.NodeID{}
	}
	return r.Preference(ring.PartitionKey(topic, partition), min(rf, r.Len()))
}

// Order returns set sorted into the ring's preference order for topic/partition: members of the
// ring first, by preference, then the ids the ring does not know (dead or departed members) in
// their input order. The first live member of a replica set in this order is the promotion
// candidate (docs/design.md, "Replication and failover", rule 2). The caller owns the result;
// set is not modified.
func Order(r *ring.Ring, topic string, partition int, set []ring.NodeID) []ring.NodeID {
	preference := r.Preference(ring.PartitionKey(topic, partition), 0)
	position := func(id ring.NodeID) int {
		if i := slices.Index(preference, id); i >= 0 {
			return i
		}
		return len(preference)
	}
	ordered := slices.Clone(set)
	slices.SortStableFunc(ordered, func(a, b ring.NodeID) int { return position(a) - position(b) })
	return ordered
}

// Next returns the next node to add to a partition's replica set on the ring alone: the first
// member in the partition's preference order that is not in current, or "" when every member
// already is. To converge on Assign's sets, add what Diff reports instead.
func Next(r *ring.Ring, topic string, partition int, current []ring.NodeID) ring.NodeID {
	for _, id := range r.Preference(ring.PartitionKey(topic, partition), 0) {
		if !slices.Contains(current, id) {
			return id
		}
	}
	return ""
}

// Diff compares a partition's current replica set with its desired one: add lists the desired
// members missing from current, in desired order; remove lists the current members that are not
// desired, in current order. Both are nil when the sets are equal as sets.
func Diff(desired, current []ring.NodeID) (add, remove []ring.NodeID) {
	for _, id := range desired {
		if !slices.Contains(current, id) {
			add = append(add, id)
		}
	}
	for _, id := range current {
		if !slices.Contains(desired, id) {
			remove = append(remove, id)
		}
	}
	return add, remove
}

// mustReplicate panics unless rf is a valid replication factor: the catalog validates topic
// settings, so a bad one here is a programmer error.
func mustReplicate(rf int) {
	if rf < 1 {
		panic("placement: replication factor below 1; the catalog must validate topic settings")
	}
}
