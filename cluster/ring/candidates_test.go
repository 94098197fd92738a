package ring

// Method: the measurement that chose rendezvous hashing over virtual nodes. Both candidates
// place the replicas of 1,000 partitions (topic "t", and ten topics of 100) on n1..nN for N in
// 3..10 and RF 1..3; the sweep reports the worst replicas-per-node and leaders-per-node max/mean
// and the worst fraction of replicas moved, times N, when one node joins or any one node leaves.
// Run it with
//
//	go test ./cluster/ring -run TestCandidates -v -sweep
//
// (it is skipped otherwise: it takes seconds). The benchmarks compare the cost of one lookup.
// The virtual-node ring lives here only, as the rejected candidate.

import (
	"cmp"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/cespare/xxhash/v2"
)

var sweep = flag.Bool("sweep", false, "run the candidate measurement of candidates_test.go")

// vnodeRing is the rejected candidate: vnodesPerNode points per member on a sorted circle of
// xxhash values; a key's preference is the distinct members met walking clockwise from its hash.
type vnodeRing struct {
	points  []vnodePoint // sorted by hash
	members int
}

type vnodePoint struct {
	hash   uint64
	member NodeID
}

func newVnodeRing(members []NodeID, vnodesPerNode int) *vnodeRing {
	members = slices.Compact(slices.Sorted(slices.Values(members)))
	v := &vnodeRing{members: len(members)}
	for _, id := range members {
		for i := range vnodesPerNode {
			v.points = append(v.points, vnodePoint{xxhash.Sum64String(string(id) + "#" + strconv.Itoa(i)), id})
		}
	}
	slices.SortFunc(v.points, func(a, b vnodePoint) int {
		if c := cmp.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		return cmp.Compare(a.member, b.member)
	})
	return v
}

func (v *vnodeRing) preference(key []byte, n int) []NodeID {
	n = min(n, v.members)
	h := xxhash.Sum64(key)
	start, _ := slices.BinarySearchFunc(v.points, h, func(p vnodePoint, h uint64) int { return cmp.Compare(p.hash, h) })
	set := make([]NodeID, 0, n)
	for i := 0; len(set) < n; i++ {
		if id := v.points[(start+i)%len(v.points)].member; !slices.Contains(set, id) {
			set = append(set, id)
		}
	}
	return set
}

// chooser builds, for a member list, the function that gives a key's replica set of size n.
type chooser func(members []NodeID) func(key []byte, n int) []NodeID

func rendezvousChooser(members []NodeID) func([]byte, int) []NodeID {
	return New(members).Preference
}

func vnodeChooser(vnodesPerNode int) chooser {
	return func(members []NodeID) func([]byte, int) []NodeID {
		return newVnodeRing(members, vnodesPerNode).preference
	}
}

// topicSize is a topic name and its partition count.
type topicSize struct {
	name       string
	partitions int
}

// placeAll returns the replica set of every partition of topics, in topic order.
func placeAll(choose chooser, members []NodeID, topics []topicSize, rf int) [][]NodeID {
	preference := choose(members)
	var sets [][]NodeID
	for _, t := range topics {
		for p := range t.partitions {
			sets = append(sets, preference(PartitionKey(t.name, p), rf))
		}
	}
	return sets
}

// maxOverMean returns replicas-per-node and leaders-per-node max/mean over members.
func maxOverMean(sets [][]NodeID, members int) (replicas, leaders float64) {
	replicaCount, leaderCount := map[NodeID]int{}, map[NodeID]int{}
	total := 0
	for _, set := range sets {
		total += len(set)
		leaderCount[set[0]]++
		for _, id := range set {
			replicaCount[id]++
		}
	}
	worst := func(counts map[NodeID]int) int { return slices.Max(slices.Collect(maps.Values(counts))) }
	return float64(worst(replicaCount)) * float64(members) / float64(total),
		float64(worst(leaderCount)) * float64(members) / float64(len(sets))
}

// movedFraction is the fraction of replica slots of before whose node is not in after's set.
func movedFraction(before, after [][]NodeID) float64 {
	moved, total := 0, 0
	for i := range before {
		total += len(before[i])
		for _, id := range after[i] {
			if !slices.Contains(before[i], id) {
				moved++
			}
		}
	}
	return float64(moved) / float64(total)
}

// sweepResult is the worst of each figure over N in 3..10 and RF in 1..3.
type sweepResult struct {
	replicas, leaders, join, leave float64
	over                           int // configurations with replicas max/mean above 1.15
}

func sweepCandidate(choose chooser, topics []topicSize) sweepResult {
	var r sweepResult
	for n := 3; n <= 10; n++ {
		for rf := 1; rf <= 3; rf++ {
			members := nodes(n)
			base := placeAll(choose, members, topics, rf)
			replicas, leaders := maxOverMean(base, n)
			r.replicas, r.leaders = max(r.replicas, replicas), max(r.leaders, leaders)
			if replicas > 1.15 {
				r.over++
			}
			r.join = max(r.join, float64(n)*movedFraction(base, placeAll(choose, nodes(n+1), topics, rf)))
			for i := range members {
				rest := slices.Delete(slices.Clone(members), i, i+1)
				r.leave = max(r.leave, float64(n)*movedFraction(base, placeAll(choose, rest, topics, rf)))
			}
		}
	}
	return r
}

// overAcrossNames counts, over 20 topics of 1,000 partitions each taken alone, N in 3..10 and RF
// in 1..3, the configurations whose replicas max/mean exceeds 1.15: one workload's figures
// above can be luck, good or bad.
func overAcrossNames(choose chooser) (over, configs int) {
	for n := 3; n <= 10; n++ {
		for rf := 1; rf <= 3; rf++ {
			for i := range 20 {
				sets := placeAll(choose, nodes(n), []topicSize{{fmt.Sprintf("name-%d", i), 1000}}, rf)
				if replicas, _ := maxOverMean(sets, n); replicas > 1.15 {
					over++
				}
				configs++
			}
		}
	}
	return over, configs
}

func TestCandidates(t *testing.T) {
	if !*sweep {
		t.Skip("a measurement; run with -sweep")
	}
	workloads := map[string][]topicSize{"t×1000": {{"t", 1000}}, "10 topics×100": {}}
	for i := range 10 {
		workloads["10 topics×100"] = append(workloads["10 topics×100"], topicSize{fmt.Sprintf("topic-%d", i), 100})
	}
	candidates := []struct {
		name   string
		choose chooser
	}{
		{"rendezvous", rendezvousChooser},
		{"vnodes-64", vnodeChooser(64)},
		{"vnodes-128", vnodeChooser(128)},
		{"vnodes-256", vnodeChooser(256)},
	}
	for _, c := range candidates {
		for _, name := range []string{"t×1000", "10 topics×100"} {
			r := sweepCandidate(c.choose, workloads[name])
			t.Logf("%-10s %-14s replicas max/mean %.3f (%2d of 24 configs > 1.15), leaders %.3f, moved×N join %.3f leave %.3f",
				c.name, name, r.replicas, r.over, r.leaders, r.join, r.leave)
		}
		over, configs := overAcrossNames(c.choose)
		t.Logf("%-10s 20 names×1000  %d of %d configs > 1.15", c.name, over, configs)
	}
}

func BenchmarkPreference(b *testing.B) {
	key := PartitionKey("orders", 17)
	for _, n := range []int{3, 10, 30} {
		members := nodes(n)
		b.Run(fmt.Sprintf("rendezvous/nodes=%d", n), func(b *testing.B) {
			r := New(members)
			b.ReportAllocs()
			for b.Loop() {
				r.Preference(key, 3)
			}
		})
		b.Run(fmt.Sprintf("vnodes-256/nodes=%d", n), func(b *testing.B) {
			v := newVnodeRing(members, 256)
			b.ReportAllocs()
			for b.Loop() {
				v.preference(key, 3)
			}
		})
	}
}
