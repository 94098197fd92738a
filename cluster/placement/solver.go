package placement

import (
	"slices"

	"github.com/shoalmq/shoal/cluster/ring"
)

// solver fills an Assignment's sets by the greedy walk that Assign documents.
type solver struct {
	sets       [][]ring.NodeID   // the assignment's sets, filled in place
	want       []int             // per set: how many replicas it takes
	rankings   [][]ring.Weighted // per set: the ring's ranking of its partition's key
	replicas   map[ring.NodeID]int
	leaders    map[ring.NodeID]int
	replicaCap int
	leaderCap  int
	queue      proposals
}

// newSolver ranks every partition's key and computes the caps. a must have a member.
func newSolver(r *ring.Ring, a *Assignment) *solver {
	s := &solver{sets: a.sets, replicas: map[ring.NodeID]int{}, leaders: map[ring.NodeID]int{}}
	for _, t := range a.topics {
		for p := range t.Partitions {
			s.rankings = append(s.rankings, r.Ranking(ring.PartitionKey(t.Name, p)))
			s.want = append(s.want, min(t.ReplicationFactor, r.Len()))
		}
	}
	replicaTotal := 0
	for _, w := range s.want {
		replicaTotal += w
	}
	s.replicaCap = capOf(replicaTotal, r.Len(), replicaCapPercent)
	s.leaderCap = capOf(len(s.sets), r.Len(), leaderCapPercent)
	return s
}

// capOf is percent of the mean share of total over members, rounded down, but never below the
// mean rounded up. Integer arithmetic keeps it identical on every platform.
func capOf(total, members, percent int) int {
	return max(total*percent/(100*members), (total+members-1)/members)
}

// solve walks the (partition, member) pairs from the heaviest down. The queue holds each open
// partition's next candidate, so it yields pairs in the same order as sorting all of them would.
func (s *solver) solve() {
	for slot := range s.sets {
		s.queue.push(proposal{weight: s.rankings[slot][0].Weight, slot: slot})
	}
	for len(s.queue) > 0 {
		p := s.queue.pop()
		s.consider(p)
		if next := p.rank + 1; len(s.sets[p.slot]) < s.want[p.slot] && next < len(s.rankings[p.slot]) {
			s.queue.push(proposal{weight: s.rankings[p.slot][next].Weight, slot: p.slot, rank: next})
		}
	}
	for slot := range s.sets {
		s.fill(slot)
	}
}

// consider gives the proposal's member to its partition unless a cap forbids it.
func (s *solver) consider(p proposal) {
	id := s.rankings[p.slot][p.rank].Member
	leads := len(s.sets[p.slot]) == 0
	if s.replicas[id] >= s.replicaCap || (leads && s.leaders[id] >= s.leaderCap) {
		return
	}
	if leads {
		s.leaders[id]++
	}
	s.replicas[id]++
	s.sets[p.slot] = append(s.sets[p.slot], id)
}

// fill completes a set the caps left short with its most preferred missing members, ignoring the
// replica cap. The members the walk gave it keep their places (its leader stays the one the
// leader cap allowed) and the added ones follow in preference order; a set the walk left empty
// takes as leader its most preferred member still under the leader cap. Filling in plain
// preference order used to put a member the caps had skipped first, and with it the leadership:
// 7 leaderships on one node against a cap of 5 (24 partitions on 5 nodes). The counts follow
// the fill.
func (s *solver) fill(slot int) {
	set := s.sets[slot]
	missing := s.want[slot] - len(set)
	if missing == 0 {
		return
	}
	hadLeader := len(set) > 0
	filled := append(make([]ring.NodeID, 0, s.want[slot]), set...)
	for _, w := range s.rankings[slot] {
		if missing > 0 && !slices.Contains(filled, w.Member) {
			filled = append(filled, w.Member)
			s.replicas[w.Member]++
			missing--
		}
	}
	if !hadLeader && len(filled) > 0 {
		lead := slices.IndexFunc(filled, func(id ring.NodeID) bool { return s.leaders[id] < s.leaderCap })
		if lead > 0 {
			filled = append(append([]ring.NodeID{filled[lead]}, filled[:lead]...), filled[lead+1:]...)
		}
		s.leaders[filled[0]]++
	}
	s.sets[slot] = filled
}

// proposal offers the member at rank in a partition's ranking to that partition.
type proposal struct {
	weight uint64 // the ring weight of the pair
	slot   int    // the partition's index in the assignment
	rank   int    // the member's index in the partition's ranking
}

// before orders proposals heaviest first; ties (64-bit collisions) go to the lower slot, then
// the lower rank, so the walk is the same on every node.
func (p proposal) before(q proposal) bool {
	if p.weight != q.weight {
		return p.weight > q.weight
	}
	if p.slot != q.slot {
		return p.slot < q.slot
	}
	return p.rank < q.rank
}

// proposals is a binary heap ordered by proposal.before.
type proposals []proposal

// push adds p to the heap.
func (q *proposals) push(p proposal) {
	*q = append(*q, p)
	h := *q
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h[i].before(h[parent]) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

// pop removes and returns the first proposal. The heap must not be empty.
func (q *proposals) pop() proposal {
	h := *q
	top, last := h[0], len(h)-1
	h[0], h = h[last], h[:last]
	for i := 0; ; {
		first := i
		for _, child := range [2]int{2*i + 1, 2*i + 2} {
			if child < len(h) && h[child].before(h[first]) {
				first = child
			}
		}
		if first == i {
			break
		}
		h[i], h[first] = h[first], h[i]
		i = first
	}
	*q = h
	return top
}
