package placement

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shoalmq/shoal/cluster/ring"
)

// Load caps, as percentages of the mean. A node takes no replica beyond replicaCapPercent of
// the mean replica count, and leads no partition beyond leaderCapPercent of the mean leader
// count (never less than the rounded-up mean, so every replica fits). The package
// documentation has the measurements behind the two numbers.
const (
	replicaCapPercent = 110
	leaderCapPercent  = 115
)

// Topic is one catalog entry as placement sees it.
type Topic struct {
	Name              string
	Partitions        int
	ReplicationFactor int
}

// Load is what one node holds in an Assignment.
type Load struct {
	Replicas int // replica slots, leaders included
	Leaders  int // partitions whose desired set starts with the node
}

// Assignment is the desired replica sets of a whole cluster: every partition of every topic, each
// set in the ring's preference order for its partition (element 0 is the preferred leader). It
// is immutable; its methods return slices and maps the caller owns.
type Assignment struct {
	members []ring.NodeID
	topics  []Topic        // sorted by name
	first   map[string]int // topic name → index in sets of its partition 0
	sets    [][]ring.NodeID
}

// Assign computes the authoritative desired replica sets of topics over the ring's members. It
// is a pure function of the member set and the topic list (their order does not matter), so
// every node that follows the same catalog and sees the same members computes the same
// Assignment. Each partition takes min(ReplicationFactor, members) replicas. Assign panics on a
// duplicate topic name, a negative partition count or a replication factor below 1.
//
// Method: every (partition, member) pair has the ring's weight for that partition's key. Assign
// walks all pairs from the heaviest down and gives the member to the partition unless the
// partition is full, the member is at its replica cap, or the member would become the
// partition's leader (its first, heaviest member) beyond its leader cap. Each set the walk fills
// is in preference order, and a partition leaves its ring choice only for a member at a cap. A
// partition the caps leave short is completed from its preference order ignoring the replica cap
// (after the members it has; an empty one takes as leader its most preferred member under the
// leader cap).
func Assign(r *ring.Ring, topics []Topic) *Assignment {
	a := newAssignment(r, topics)
	if len(a.sets) > 0 && len(a.members) > 0 {
		newSolver(r, a).solve()
	}
	return a
}

// newAssignment validates and sorts topics and lays out one empty set per partition.
func newAssignment(r *ring.Ring, topics []Topic) *Assignment {
	sorted := slices.Clone(topics)
	slices.SortFunc(sorted, func(x, y Topic) int { return strings.Compare(x.Name, y.Name) })
	a := &Assignment{members: r.Members(), topics: sorted, first: make(map[string]int, len(sorted))}
	for _, t := range sorted {
		if _, dup := a.first[t.Name]; dup {
			panic(fmt.Sprintf("placement.Assign: topic %q listed twice", t.Name))
		}
		if t.Partitions < 0 {
			panic(fmt.Sprintf("placement.Assign: topic %q has %d partitions", t.Name, t.Partitions))
		}
		mustReplicate(t.ReplicationFactor)
		a.first[t.Name] = len(a.sets)
		a.sets = append(a.sets, make([][]ring.NodeID, t.Partitions)...)
	}
	a.layOut(r.Len())
	return a
}

// layOut gives every partition an empty set with room for its replicas, all in one array.
func (a *Assignment) layOut(members int) {
	replicaTotal := 0
	for _, t := range a.topics {
		replicaTotal += t.Partitions * min(t.ReplicationFactor, members)
	}
	backing := make([]ring.NodeID, replicaTotal)
	for _, t := range a.topics {
		want := min(t.ReplicationFactor, members)
		for p := range t.Partitions {
			a.sets[a.first[t.Name]+p], backing = backing[:0:want], backing[want:]
		}
	}
}

// Topics returns the assignment's topics, sorted by name.
func (a *Assignment) Topics() []Topic { return slices.Clone(a.topics) }

// Replicas returns the desired replica set of topic/partition in preference order, or nil when
// the assignment has no such partition.
func (a *Assignment) Replicas(topic string, partition int) []ring.NodeID {
	slot, ok := a.slot(topic, partition)
	if !ok {
		return nil
	}
	return slices.Clone(a.sets[slot])
}

// slot is the index in a.sets of topic/partition.
func (a *Assignment) slot(topic string, partition int) (int, bool) {
	first, ok := a.first[topic]
	if !ok || partition < 0 {
		return 0, false
	}
	i, _ := slices.BinarySearchFunc(a.topics, topic, func(t Topic, name string) int {
		return strings.Compare(t.Name, name)
	})
	if partition >= a.topics[i].Partitions {
		return 0, false
	}
	return first + partition, true
}

// Loads returns the replica and leader counts of every member, zero counts included.
func (a *Assignment) Loads() map[ring.NodeID]Load {
	loads := make(map[ring.NodeID]Load, len(a.members))
	for _, id := range a.members {
		loads[id] = Load{}
	}
	for _, set := range a.sets {
		for i, id := range set {
			l := loads[id]
			l.Replicas++
			if i == 0 {
				l.Leaders++
			}
			loads[id] = l
		}
	}
	return loads
}

// ReplicaCount returns the number of replica slots in the assignment, over all partitions.
func (a *Assignment) ReplicaCount() int {
	count := 0
	for _, set := range a.sets {
		count += len(set)
	}
	return count
}

// Moves counts the replicas that move from one assignment to the other: for every partition
// in both, the members of its set in to that are not in its set in from (sets compared as
// sets, so a change of order alone moves nothing). Partitions in only one of the two count
// nothing.
func Moves(from, to *Assignment) int {
	moves := 0
	for _, t := range to.topics {
		for p := range t.Partitions {
			before, ok := from.slot(t.Name, p)
			if !ok {
				continue
			}
			after, _ := to.slot(t.Name, p)
			add, _ := Diff(to.sets[after], from.sets[before])
			moves += len(add)
		}
	}
	return moves
}

// AssignInOrder is Assign run topic by topic in the order given (a cluster passes its catalog in
// creation order): a topic's sets depend only on the members and the topics before it, so
// creating a topic never moves the replicas or preferred leaders of the older ones. Each topic
// is placed by the same greedy walk, with the caps of everything placed so far, so balance
// holds as it grows (slightly less tight than one walk over the whole catalog).
func AssignInOrder(r *ring.Ring, topics []Topic) *Assignment {
	a := newAssignment(r, topics)
	if len(a.sets) == 0 || len(a.members) == 0 {
		return a
	}
	replicas, leaders := map[ring.NodeID]int{}, map[ring.NodeID]int{}
	replicaTotal, setTotal := 0, 0
	for _, t := range topics {
		first := a.first[t.Name]
		s := &solver{sets: a.sets[first : first+t.Partitions], replicas: replicas, leaders: leaders}
		for p := range t.Partitions {
			s.rankings = append(s.rankings, r.Ranking(ring.PartitionKey(t.Name, p)))
			s.want = append(s.want, min(t.ReplicationFactor, r.Len()))
			replicaTotal += min(t.ReplicationFactor, r.Len())
		}
		setTotal += t.Partitions
		s.replicaCap = capOf(replicaTotal, r.Len(), replicaCapPercent)
		s.leaderCap = capOf(setTotal, r.Len(), leaderCapPercent)
		s.solve()
	}
	return a
}
