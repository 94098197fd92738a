package placement

// Method: tables with tiny builders for the per-partition functions. Desired is checked
// against the ring's Preference and for independence from member order and duplicates; Order,
// Next and Diff against hand-computed answers built from one partition's preference order.

import (
	"slices"
	"testing"

	"github.com/shoalmq/shoal/cluster/ring"
)

func TestDesiredIsTheRingPreference(t *testing.T) {
	tests := []struct {
		name      string
		members   []ring.NodeID
		rf        int
		wantCount int
	}{
		{"no members", nil, 3, 0},
		{"rf below members", nodes(5), 3, 3},
		{"rf equals members", nodes(3), 3, 3},
		{"rf above members", nodes(2), 3, 2},
		{"duplicates", []ring.NodeID{"n2", "n1", "n2", "n1"}, 3, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Desired(tc.members, "t", 5, tc.rf)
			want := ring.New(tc.members).Preference(ring.PartitionKey("t", 5), tc.wantCount)
			if got == nil || len(got) != tc.wantCount || (tc.wantCount > 0 && !slices.Equal(got, want)) {
				t.Fatalf("Desired = %#v; want %d members: %v", got, tc.wantCount, want)
			}
		})
	}
}

func TestDesiredIgnoresMemberOrder(t *testing.T) {
	forward := nodes(7)
	backward := slices.Clone(forward)
	slices.Reverse(backward)
	doubled := append(slices.Clone(backward), forward...)
	for p := range 100 {
		want := Desired(forward, "orders", p, 3)
		for _, members := range [][]ring.NodeID{backward, doubled} {
			if got := Desired(members, "orders", p, 3); !slices.Equal(got, want) {
				t.Fatalf("partition %d: Desired(%v) = %v; Desired(%v) = %v", p, members, got, forward, want)
			}
		}
	}
}

func TestDesiredPanicsOnZeroReplicationFactor(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Desired with rf 0 did not panic")
		}
	}()
	Desired(nodes(3), "t", 0, 0)
}

func TestOrder(t *testing.T) {
	r := ring.New(nodes(5))
	preference := r.Preference(ring.PartitionKey("t", 9), 0) // p[0] is the most preferred
	p := func(i int) ring.NodeID { return preference[i] }
	tests := []struct {
		name string
		set  []ring.NodeID
		want []ring.NodeID
	}{
		{"empty", nil, []ring.NodeID{}},
		{"already ordered", []ring.NodeID{p(0), p(2), p(4)}, []ring.NodeID{p(0), p(2), p(4)}},
		{"reversed", []ring.NodeID{p(4), p(2), p(0)}, []ring.NodeID{p(0), p(2), p(4)}},
		{"dead members last in input order", []ring.NodeID{"x9", p(3), "x1", p(1)}, []ring.NodeID{p(1), p(3), "x9", "x1"}},
		{"only dead members", []ring.NodeID{"x2", "x1"}, []ring.NodeID{"x2", "x1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			input := slices.Clone(tc.set)
			got := Order(r, "t", 9, tc.set)
			if len(got) != len(tc.want) || (len(got) > 0 && !slices.Equal(got, tc.want)) {
				t.Fatalf("Order(%v) = %v; want %v (preference %v)", tc.set, got, tc.want, preference)
			}
			if !slices.Equal(input, tc.set) {
				t.Fatalf("Order changed its input to %v", tc.set)
			}
		})
	}
}

func TestNext(t *testing.T) {
	r := ring.New(nodes(4))
	preference := r.Preference(ring.PartitionKey("t", 2), 0)
	tests := []struct {
		name    string
		current []ring.NodeID
		want    ring.NodeID
	}{
		{"empty set", nil, preference[0]},
		{"first two present", preference[:2], preference[2]},
		{"gap in the middle", []ring.NodeID{preference[0], preference[2]}, preference[1]},
		{"dead members do not count", []ring.NodeID{"x1", preference[0]}, preference[1]},
		{"everyone present", preference, ""},
	}
	for _, tc := range tests {
		if got := Next(r, "t", 2, tc.current); got != tc.want {
			t.Errorf("%s: Next(%v) = %q; want %q (preference %v)", tc.name, tc.current, got, tc.want, preference)
		}
	}
	if got := Next(ring.New(nil), "t", 2, nil); got != "" {
		t.Errorf("Next on an empty ring = %q; want \"\"", got)
	}
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name                string
		desired, current    []ring.NodeID
		wantAdd, wantRemove []ring.NodeID
	}{
		{"equal", []ring.NodeID{"a", "b"}, []ring.NodeID{"a", "b"}, nil, nil},
		{"equal as sets", []ring.NodeID{"a", "b"}, []ring.NodeID{"b", "a"}, nil, nil},
		{"one replaced", []ring.NodeID{"a", "b", "c"}, []ring.NodeID{"d", "a", "b"}, []ring.NodeID{"c"}, []ring.NodeID{"d"}},
		{"grow", []ring.NodeID{"c", "a", "b"}, []ring.NodeID{"a"}, []ring.NodeID{"c", "b"}, nil},
		{"shrink", []ring.NodeID{"a"}, []ring.NodeID{"b", "a", "c"}, nil, []ring.NodeID{"b", "c"}},
	}
	for _, tc := range tests {
		add, remove := Diff(tc.desired, tc.current)
		if !slices.Equal(add, tc.wantAdd) || !slices.Equal(remove, tc.wantRemove) {
			t.Errorf("%s: Diff(%v, %v) = add %v remove %v; want add %v remove %v",
				tc.name, tc.desired, tc.current, add, remove, tc.wantAdd, tc.wantRemove)
		}
	}
}
