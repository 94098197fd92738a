package ring

// Method: tables and tiny builders for New, Preference and PartitionKey; a differential test
// that checks Preference against a naive rendezvous model (score every member with one-shot
// xxhash, sort, cut) on member sets and keys drawn from a seeded *rand.Rand; property checks
// that removing or adding a member leaves the order of the other members unchanged; and a
// golden preference list, because every node of a cluster (and every version of Shoal in a
// rolling upgrade) must rank members identically.

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// nodes builds the member list n1..nN.
func nodes(n int) []NodeID {
	members := make([]NodeID, n)
	for i := range members {
		members[i] = NodeID(fmt.Sprintf("n%d", i+1))
	}
	return members
}

// naivePreference is the model: weigh every member with one-shot xxhash of key ‖ id, sort by
// weight descending then id, drop duplicates, keep n (all when n <= 0 or n is too large).
func naivePreference(members []NodeID, key []byte, n int) []NodeID {
	distinct := slices.Compact(slices.Sorted(slices.Values(members)))
	weight := func(id NodeID) uint64 { return xxhash.Sum64(append(slices.Clone(key), id...)) }
	slices.SortFunc(distinct, func(a, b NodeID) int {
		if c := cmp.Compare(weight(b), weight(a)); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	if n <= 0 || n > len(distinct) {
		return distinct
	}
	return distinct[:n]
}

func TestNewIgnoresOrderAndDuplicates(t *testing.T) {
	tests := []struct {
		name    string
		members []NodeID
		want    []NodeID
	}{
		{"empty", nil, []NodeID{}},
		{"sorted", []NodeID{"a", "b", "c"}, []NodeID{"a", "b", "c"}},
		{"reversed", []NodeID{"c", "b", "a"}, []NodeID{"a", "b", "c"}},
		{"duplicates", []NodeID{"b", "a", "b", "c", "a"}, []NodeID{"a", "b", "c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(tc.members)
			if got := r.Members(); !slices.Equal(got, tc.want) || r.Len() != len(tc.want) {
				t.Fatalf("Members() = %v, Len() = %d; want %v", got, r.Len(), tc.want)
			}
			key := PartitionKey("t", 7)
			if got, want := r.Preference(key, 0), New(tc.want).Preference(key, 0); !slices.Equal(got, want) {
				t.Fatalf("Preference = %v; the ring of %v says %v", got, tc.want, want)
			}
		})
	}
}

func TestNewCopiesItsInput(t *testing.T) {
	members := []NodeID{"b", "a"}
	r := New(members)
	members[0] = "z"
	if got := r.Members(); !slices.Equal(got, []NodeID{"a", "b"}) {
		t.Fatalf("after the caller changed its slice, Members() = %v; want [a b]", got)
	}
	r.Members()[0] = "z"
	if got := r.Members(); !slices.Equal(got, []NodeID{"a", "b"}) {
		t.Fatalf("after the caller changed Members' result, Members() = %v; want [a b]", got)
	}
}

func TestPreferenceLength(t *testing.T) {
	key := PartitionKey("t", 0)
	tests := []struct {
		members, n, want int
	}{
		{0, 0, 0}, {0, 3, 0}, {3, 0, 3}, {3, -1, 3}, {3, 1, 1}, {3, 3, 3}, {3, 4, 3},
	}
	for _, tc := range tests {
		got := New(nodes(tc.members)).Preference(key, tc.n)
		if len(got) != tc.want {
			t.Errorf("%d members, Preference(n=%d) = %v; want %d members", tc.members, tc.n, got, tc.want)
		}
	}
}

func TestPreferenceMatchesNaiveModel(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for trial := range 2000 {
		members := make([]NodeID, rng.Intn(12))
		for i := range members {
			members[i] = NodeID(fmt.Sprintf("node-%d", rng.Intn(16))) // duplicates on purpose
		}
		key := make([]byte, rng.Intn(24))
		rng.Read(key)
		n := rng.Intn(15) - 2
		got, want := New(members).Preference(key, n), naivePreference(members, key, n)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: members %v key %x n %d: Preference = %v; naive model = %v",
				trial, members, key, n, got, want)
		}
	}
}

func TestRankingWeightsAreTheModel(t *testing.T) {
	key := PartitionKey("orders", 3)
	for _, w := range New(nodes(5)).Ranking(key) {
		if want := xxhash.Sum64(append(slices.Clone(key), w.Member...)); w.Weight != want {
			t.Errorf("weight of %s = %#x; want xxhash64(key ‖ id) = %#x", w.Member, w.Weight, want)
		}
	}
}

// Rendezvous hashing moves only what must move: taking a member out leaves the others in the
// same order for every key, and adding one only inserts it.
func TestChangingOneMemberKeepsTheOthersInOrder(t *testing.T) {
	all := nodes(8)
	full := New(all)
	for _, gone := range all {
		without := New(slices.DeleteFunc(slices.Clone(all), func(id NodeID) bool { return id == gone }))
		for p := range 200 {
			key := PartitionKey("t", p)
			want := slices.DeleteFunc(full.Preference(key, 0), func(id NodeID) bool { return id == gone })
			if got := without.Preference(key, 0); !slices.Equal(got, want) {
				t.Fatalf("without %s, partition %d: Preference = %v; want %v (the full order minus %s)",
					gone, p, got, want, gone)
			}
		}
	}
}

// The golden list pins the hash: if it changes, nodes of two versions disagree on every
// partition's replica set. Change it only with a migration plan.
func TestPreferenceIsStable(t *testing.T) {
	golden := []struct {
		topic     string
		partition int
		want      []NodeID
	}{
		{"t", 0, []NodeID{"n2", "n1", "n4", "n3", "n5"}},
		{"t", 1, []NodeID{"n3", "n4", "n2", "n1", "n5"}},
		{"orders", 7, []NodeID{"n4", "n5", "n1", "n3", "n2"}},
	}
	r := New(nodes(5))
	for _, g := range golden {
		if got := r.Preference(PartitionKey(g.topic, g.partition), 0); !slices.Equal(got, g.want) {
			t.Errorf("%s/%d: Preference = %v; golden %v", g.topic, g.partition, got, g.want)
		}
	}
}

func TestPartitionKey(t *testing.T) {
	if got, want := PartitionKey("ab", 258), []byte{0, 0, 0, 0, 0, 0, 1, 2, 'a', 'b'}; !bytes.Equal(got, want) {
		t.Fatalf("PartitionKey(ab, 258) = %v; want %v", got, want)
	}
	seen := map[string]string{}
	for _, topic := range []string{"", "a", "ab", "a\x00", "\x00a", "t1", "t"} {
		for p := range 300 {
			key, name := string(PartitionKey(topic, p)), fmt.Sprintf("%q/%d", topic, p)
			if other, dup := seen[key]; dup {
				t.Fatalf("%s and %s share the key %x", name, other, key)
			}
			seen[key] = name
		}
	}
}

func TestPartitionKeyPanicsOnNegativePartition(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("PartitionKey(t, -1) did not panic")
		}
	}()
	PartitionKey("t", -1)
}
