package placement

// Method: property tests of Assign over the workloads of helpers_test.go (1,000 partitions each)
// on n1..nN for N in 3..10 and RF 1..3:
//   - determinism: shuffled members with duplicates, shuffled topics and fresh rings give the
//     same sets;
//   - balance: replicas per node max/mean <= 1.15, leaders per node max/mean <= 1.2 (both logged);
//   - minimal movement: one node joining, or any one of the N leaving, moves at most 1.2/N of
//     the replicas (Moves: sets compared as sets), on the one-topic and the ten-topic workloads;
//   - every set is in ring order, so Order agrees with element 0 being the preferred leader;
//   - creating a topic moves fewer existing replicas than it adds.
// A differential test compares Assign with a naive model (sort every (partition, member) pair by
// weight, walk them under the caps, fill what is short) on small random catalogs from a seeded
// *rand.Rand, where the caps bind often and the fill step runs. Tables cover the edge cases.

import (
	"cmp"
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/shoalmq/shoal/cluster/ring"
)

// sameAssignment reports the first partition whose sets differ, or "" when none does.
func sameAssignment(a, b *Assignment) string {
	if !slices.Equal(a.Topics(), b.Topics()) {
		return fmt.Sprintf("topics %v and %v", a.Topics(), b.Topics())
	}
	for _, t := range a.Topics() {
		for p := range t.Partitions {
			if x, y := a.Replicas(t.Name, p), b.Replicas(t.Name, p); !slices.Equal(x, y) {
				return fmt.Sprintf("%s/%d: %v and %v", t.Name, p, x, y)
			}
		}
	}
	return ""
}

// ratios returns replicas and leaders per node, max/mean, over every member of a.
func ratios(a *Assignment) (replicas, leaders float64) {
	loads := a.Loads()
	maxReplicas, maxLeaders, partitions := 0, 0, 0
	for _, l := range loads {
		maxReplicas, maxLeaders = max(maxReplicas, l.Replicas), max(maxLeaders, l.Leaders)
		partitions += l.Leaders
	}
	members := float64(len(loads))
	return float64(maxReplicas) * members / float64(a.ReplicaCount()), float64(maxLeaders) * members / float64(partitions)
}

func TestAssignIsDeterministic(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, w := range workloads {
		for n := 3; n <= 10; n += 7 {
			want := Assign(ring.New(nodes(n)), w.topics(3))
			for range 3 {
				members := append(nodes(n), nodes(n)[:n/2]...)
				rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
				topics := w.topics(3)
				rng.Shuffle(len(topics), func(i, j int) { topics[i], topics[j] = topics[j], topics[i] })
				if diff := sameAssignment(Assign(ring.New(members), topics), want); diff != "" {
					t.Fatalf("%s, members %v: sets differ at %s", w.name, members, diff)
				}
			}
		}
	}
}

func TestAssignBalance(t *testing.T) {
	for _, w := range workloads {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			worstReplicas, worstLeaders := 0.0, 0.0
			for n := 3; n <= 10; n++ {
				for rf := 1; rf <= 3; rf++ {
					replicas, leaders := ratios(Assign(ring.New(nodes(n)), w.topics(rf)))
					if replicas > 1.15 || leaders > 1.2 {
						t.Errorf("%s, %d nodes, RF %d: replicas max/mean %.3f (bound 1.15), leaders %.3f (bound 1.2)",
							w.name, n, rf, replicas, leaders)
					}
					worstReplicas, worstLeaders = max(worstReplicas, replicas), max(worstLeaders, leaders)
				}
			}
			t.Logf("%-14s worst over 3..10 nodes, RF 1..3: replicas per node max/mean %.3f, leaders %.3f",
				w.name, worstReplicas, worstLeaders)
		})
	}
}

func TestAssignMovesLittle(t *testing.T) {
	for _, w := range []workload{workloads[0], workloads[2]} { // the extremes, to keep -race fast
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			worstJoin, worstLeave := 0.0, 0.0
			for n := 3; n <= 10; n++ {
				for rf := 1; rf <= 3; rf++ {
					members := nodes(n)
					before := Assign(ring.New(members), w.topics(rf))
					movedTimesN := func(after []ring.NodeID) float64 {
						moved := Moves(before, Assign(ring.New(after), w.topics(rf)))
						return float64(moved) * float64(n) / float64(before.ReplicaCount())
					}
					join := movedTimesN(nodes(n + 1))
					worstJoin = max(worstJoin, join)
					if join > 1.2 {
						t.Errorf("%s, %d nodes, RF %d: a join moves %.3f/N of the replicas; bound 1.2/N", w.name, n, rf, join)
					}
					for i := range members {
						leave := movedTimesN(without(members, i))
						worstLeave = max(worstLeave, leave)
						if leave > 1.2 {
							t.Errorf("%s, %d nodes, RF %d: %s leaving moves %.3f/N of the replicas; bound 1.2/N",
								w.name, n, rf, members[i], leave)
						}
					}
				}
			}
			t.Logf("%-14s worst replicas moved, times N: join %.3f, leave %.3f", w.name, worstJoin, worstLeave)
		})
	}
}

func TestAssignSetsAreInRingOrder(t *testing.T) {
	for _, w := range workloads {
		for rf := 1; rf <= 3; rf++ {
			differ, partitions := 0, 0
			for n := 3; n <= 10; n++ {
				r := ring.New(nodes(n))
				a := Assign(r, w.topics(rf))
				for _, topic := range a.Topics() {
					for p := range topic.Partitions {
						set := a.Replicas(topic.Name, p)
						if ordered := Order(r, topic.Name, p, set); !slices.Equal(ordered, set) {
							t.Fatalf("%s/%d on %d nodes: set %v is not in ring order %v", topic.Name, p, n, set, ordered)
						}
						partitions++
						if !slices.Equal(set, DesiredOn(r, topic.Name, p, rf)) {
							differ++
						}
					}
				}
			}
			t.Logf("%-14s RF %d, 3..10 nodes: %.1f%% of partitions differ from the ring's unbalanced choice (Desired)",
				w.name, rf, 100*float64(differ)/float64(partitions))
		}
	}
}

// A new topic competes for the same caps, so creating one may move existing replicas; it should
// move fewer than it adds.
func TestCreatingATopicMovesLittle(t *testing.T) {
	for _, w := range workloads {
		worst := 0.0
		for n := 3; n <= 10; n++ {
			for rf := 1; rf <= 3; rf++ {
				before := Assign(ring.New(nodes(n)), w.topics(rf))
				after := Assign(ring.New(nodes(n)), append(w.topics(rf), Topic{"new", 50, rf}))
				moved, added := Moves(before, after), after.ReplicaCount()-before.ReplicaCount()
				if moved >= added {
					t.Errorf("%s, %d nodes, RF %d: a topic of 50 partitions moves %d existing replicas; want fewer than the %d it adds",
						w.name, n, rf, moved, added)
				}
				worst = max(worst, float64(moved)/float64(before.ReplicaCount()))
			}
		}
		t.Logf("%-14s creating a 50-partition topic moves at most %.2f%% of the existing replicas", w.name, 100*worst)
	}
}

// naiveAssign is the model of Assign: every (partition, member) pair sorted by weight (ties by
// topic, partition, member), walked under the same caps, then short sets filled from the
// partition's preference and put in preference order.
func naiveAssign(members []ring.NodeID, topics []Topic) map[string][][]ring.NodeID {
	members = slices.Compact(slices.Sorted(slices.Values(members)))
	type pair struct {
		weight    uint64
		topic     string
		partition int
		member    ring.NodeID
	}
	var pairs []pair
	sets := map[string][][]ring.NodeID{}
	replicaTotal, partitionTotal := 0, 0
	for _, t := range topics {
		sets[t.Name] = make([][]ring.NodeID, t.Partitions)
		for p := range t.Partitions {
			// The weights are the ring's (package ring checks them against xxhash itself).
			for _, w := range ring.New(members).Ranking(ring.PartitionKey(t.Name, p)) {
				pairs = append(pairs, pair{w.Weight, t.Name, p, w.Member})
			}
		}
		replicaTotal += t.Partitions * min(t.ReplicationFactor, len(members))
		partitionTotal += t.Partitions
	}
	if len(members) == 0 {
		return sets
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		return cmp.Or(cmp.Compare(b.weight, a.weight), cmp.Compare(a.topic, b.topic),
			cmp.Compare(a.partition, b.partition), cmp.Compare(a.member, b.member))
	})
	n := len(members)
	replicaCap := max(replicaTotal*110/(100*n), (replicaTotal+n-1)/n)
	leaderCap := max(partitionTotal*115/(100*n), (partitionTotal+n-1)/n)
	replicas, leaders := map[ring.NodeID]int{}, map[ring.NodeID]int{}
	want := map[string]int{}
	for _, t := range topics {
		want[t.Name] = min(t.ReplicationFactor, n)
	}
	for _, pr := range pairs {
		set := sets[pr.topic][pr.partition]
		if len(set) == want[pr.topic] || replicas[pr.member] >= replicaCap || (len(set) == 0 && leaders[pr.member] >= leaderCap) {
			continue
		}
		if len(set) == 0 {
			leaders[pr.member]++
		}
		replicas[pr.member]++
		sets[pr.topic][pr.partition] = append(set, pr.member)
	}
	// Fill the short sets, in the solver's slot order (topics by name, partitions ascending):
	// the walk's members keep their places, missing ones follow in preference order, and a set
	// the walk left empty takes as leader its most preferred member under the leader cap.
	byName := slices.SortedFunc(slices.Values(topics), func(a, b Topic) int { return cmp.Compare(a.Name, b.Name) })
	for _, t := range byName {
		for p, set := range sets[t.Name] {
			if len(set) == want[t.Name] {
				continue
			}
			hadLeader := len(set) > 0
			preference := ring.New(members).Preference(ring.PartitionKey(t.Name, p), 0)
			for _, m := range preference {
				if len(set) < want[t.Name] && !slices.Contains(set, m) {
					set = append(set, m)
				}
			}
			if !hadLeader {
				for i, m := range set {
					if leaders[m] < leaderCap {
						set = append(append([]ring.NodeID{m}, set[:i]...), set[i+1:]...)
						break
					}
				}
				leaders[set[0]]++
			}
			sets[t.Name][p] = set
		}
	}
	return sets
}

func TestAssignMatchesNaiveModel(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for trial := range 400 {
		members := make([]ring.NodeID, rng.Intn(8))
		for i := range members {
			members[i] = ring.NodeID(fmt.Sprintf("m%d", rng.Intn(10)))
		}
		topics := make([]Topic, rng.Intn(5))
		for i := range topics {
			topics[i] = Topic{fmt.Sprintf("topic-%d", i), rng.Intn(40), 1 + rng.Intn(4)}
		}
		a, want := Assign(ring.New(members), topics), naiveAssign(members, topics)
		for _, topic := range topics {
			for p := range topic.Partitions {
				if got := a.Replicas(topic.Name, p); !slices.Equal(got, want[topic.Name][p]) {
					t.Fatalf("trial %d, members %v, topics %v: %s/%d = %v; naive model %v",
						trial, members, topics, topic.Name, p, got, want[topic.Name][p])
				}
			}
		}
	}
}

func TestAssignEdgeCases(t *testing.T) {
	tests := []struct {
		name     string
		members  []ring.NodeID
		topic    Topic
		wantSize int
	}{
		{"no members", nil, Topic{"t", 4, 3}, 0},
		{"rf above members", nodes(2), Topic{"t", 4, 3}, 2},
		{"duplicate members", []ring.NodeID{"n1", "n1", "n2", "n3", "n2"}, Topic{"t", 4, 3}, 3},
		{"one member", nodes(1), Topic{"t", 4, 3}, 1},
		{"no partitions", nodes(3), Topic{"t", 0, 3}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := Assign(ring.New(tc.members), []Topic{tc.topic})
			for p := range tc.topic.Partitions {
				set := a.Replicas("t", p)
				if set == nil || len(set) != tc.wantSize || len(slices.Compact(slices.Sorted(slices.Values(set)))) != len(set) {
					t.Fatalf("Replicas(t, %d) = %#v; want %d distinct members", p, set, tc.wantSize)
				}
			}
			if a.Replicas("t", tc.topic.Partitions) != nil || a.Replicas("t", -1) != nil || a.Replicas("u", 0) != nil {
				t.Fatal("Replicas of a partition outside the assignment is not nil")
			}
			if got, want := a.ReplicaCount(), tc.topic.Partitions*tc.wantSize; got != want {
				t.Fatalf("ReplicaCount() = %d; want %d", got, want)
			}
		})
	}
}

func TestAssignPanicsOnBadCatalog(t *testing.T) {
	tests := map[string][]Topic{
		"duplicate topic":     {{"t", 1, 1}, {"t", 2, 1}},
		"negative partitions": {{"t", -1, 1}},
		"rf 0":                {{"t", 1, 0}},
	}
	for name, topics := range tests {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("Assign(%v) did not panic", topics)
				}
			}()
			Assign(ring.New(nodes(3)), topics)
		})
	}
}

func TestLoadsAndMoves(t *testing.T) {
	topics := []Topic{{"t", 50, 3}}
	three, four := Assign(ring.New(nodes(3)), topics), Assign(ring.New(nodes(4)), topics)
	if got := three.Loads(); got["n1"] != (Load{Replicas: 50, Leaders: got["n1"].Leaders}) || len(got) != 3 {
		t.Fatalf("RF 3 on 3 nodes: Loads() = %v; want 50 replicas on each of n1..n3", got)
	}
	if got := Moves(three, three); got != 0 {
		t.Fatalf("Moves(a, a) = %d; want 0", got)
	}
	// Every partition holds all of n1..n3 before, so what moves is exactly what n4 takes.
	if got, want := Moves(three, four), four.Loads()["n4"].Replicas; got != want || got == 0 {
		t.Fatalf("Moves(3 nodes, 4 nodes) = %d; want n4's replica count %d (> 0)", got, want)
	}
	more := Assign(ring.New(nodes(3)), append(topics, Topic{"u", 10, 1}))
	if got := Moves(three, more); got != 0 {
		t.Fatalf("adding a topic: Moves = %d; want 0 (new partitions are not moves)", got)
	}
	if got := Assign(ring.New(nil), topics).Loads(); len(got) != 0 {
		t.Fatalf("no members: Loads() = %v; want empty", got)
	}
}

// TestAssignInOrderKeepsOlderTopics: adding a topic at the end of the order leaves every older
// topic's sets (members and order) exactly as they were, on 3 to 10 nodes; and balance stays
// within the bounds of the whole-catalog assignment's tests plus a margin.
func TestAssignInOrderKeepsOlderTopics(t *testing.T) {
	for n := 3; n <= 10; n++ {
		var members []ring.NodeID
		for i := range n {
			members = append(members, ring.NodeID(fmt.Sprintf("node-%d", i)))
		}
		r := ring.New(members)
		var topics []Topic
		for i := range 12 {
			topics = append(topics, Topic{Name: fmt.Sprintf("topic-%02d", 11-i), Partitions: 6 + i, ReplicationFactor: 1 + i%3})
		}
		before := AssignInOrder(r, topics[:11])
		after := AssignInOrder(r, topics)
		for _, tp := range topics[:11] {
			for p := range tp.Partitions {
				if b, a := before.Replicas(tp.Name, p), after.Replicas(tp.Name, p); !slices.Equal(b, a) {
					t.Fatalf("%d nodes: adding %s changed %s/%d from %v to %v", n, topics[11].Name, tp.Name, p, b, a)
				}
			}
		}
		maxLoad, total := 0, 0
		for _, l := range after.Loads() {
			maxLoad, total = max(maxLoad, l.Replicas), total+l.Replicas
		}
		if ratio := float64(maxLoad) / (float64(total) / float64(n)); ratio > 1.35 {
			t.Errorf("%d nodes: replicas max/mean %.2f", n, ratio)
		}
	}
}
