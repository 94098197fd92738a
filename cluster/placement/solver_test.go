package placement

// Method: the heap that orders Assign's walk, checked against sorting. Random proposals from a
// seeded *rand.Rand, with weights drawn from a handful of values so that the tie-breaks (slot,
// then rank) decide often, go into the heap and must come out in slices.SortFunc order.

import (
	"math/rand"
	"slices"
	"testing"
)

func TestProposalsPopInSortedOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for trial := range 300 {
		var queue proposals
		in := make([]proposal, rng.Intn(60))
		for i := range in {
			in[i] = proposal{weight: uint64(rng.Intn(4)), slot: rng.Intn(5), rank: rng.Intn(5)}
			queue.push(in[i])
		}
		want := slices.SortedFunc(slices.Values(in), func(p, q proposal) int {
			switch {
			case p.before(q):
				return -1
			case q.before(p):
				return 1
			}
			return 0
		})
		for i, w := range want {
			if got := queue.pop(); got != w {
				t.Fatalf("trial %d, pop %d: got %+v; want %+v (input %+v)", trial, i, got, w, in)
			}
		}
		if len(queue) != 0 {
			t.Fatalf("trial %d: %d proposals left after popping all", trial, len(queue))
		}
	}
}

func TestProposalOrder(t *testing.T) {
	tests := []struct {
		p, q proposal
		want bool
	}{
		{proposal{weight: 9, slot: 5, rank: 5}, proposal{weight: 8, slot: 0, rank: 0}, true},
		{proposal{weight: 8, slot: 0, rank: 0}, proposal{weight: 9, slot: 5, rank: 5}, false},
		{proposal{weight: 8, slot: 1, rank: 5}, proposal{weight: 8, slot: 2, rank: 0}, true},
		{proposal{weight: 8, slot: 2, rank: 0}, proposal{weight: 8, slot: 2, rank: 1}, true},
		{proposal{weight: 8, slot: 2, rank: 1}, proposal{weight: 8, slot: 2, rank: 1}, false},
	}
	for _, tc := range tests {
		if got := tc.p.before(tc.q); got != tc.want {
			t.Errorf("%+v before %+v = %v; want %v", tc.p, tc.q, got, tc.want)
		}
	}
}
