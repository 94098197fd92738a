// Tests of the checker: each invariant is reported from a small synthetic history, and
// allowed losses are counted, not reported (a checker that cannot fail proves nothing).
package check

import (
	"testing"

	"github.com/shoalmq/shoal/actors/replication"
)

var nodes = []replication.NodeID{"n1", "n2", "n3"}

func entry(o replication.Offset, id string) Entry {
	return Entry{Offset: o, Epoch: 1, Base: o, ID: id}
}

func only(t *testing.T, c *Checker, want Invariant) {
	t.Helper()
	for _, i := range Invariants() {
		n := c.Count(i)
		if i == want && n == 0 || i != want && n != 0 {
			t.Fatalf("%s: %d violations (want only %q): %v", i, n, want, c.Violations())
		}
	}
}

func TestSimCheckCommitted(t *testing.T) {
	c := New(1, nodes, false)
	c.Committed(1, 0, "n1", []Entry{entry(0, "a"), entry(1, "b")})
	c.Committed(2, 0, "n2", []Entry{entry(0, "a"), entry(1, "b")})
	only(t, c, "")
	c.Committed(3, 0, "n3", []Entry{entry(1, "x")})
	only(t, c, InconsistentOffsets)

	d := New(1, nodes, false)
	d.Committed(1, 0, "n1", []Entry{entry(0, "a"), entry(1, "a")})
	only(t, d, Duplicate)
}

func TestSimCheckExcused(t *testing.T) {
	// Under fsync=interval a majority that dropped offset 1 in crashes excuses a new entry there.
	c := New(1, nodes, true)
	c.Committed(1, 0, "n1", []Entry{entry(0, "a"), entry(1, "b")})
	c.Dropped(0, "n1", 1, 2)
	c.Dropped(0, "n2", 1, 3)
	c.Committed(2, 0, "n3", []Entry{entry(1, "x")})
	only(t, c, "")
	if c.Counts.Excused != 1 {
		t.Fatalf("excused %d, want 1", c.Counts.Excused)
	}
	// Under always nothing is excused.
	d := New(1, nodes, false)
	d.Committed(1, 0, "n1", []Entry{entry(1, "b")})
	d.Dropped(0, "n1", 1, 2)
	d.Dropped(0, "n2", 1, 2)
	d.Committed(2, 0, "n3", []Entry{entry(1, "x")})
	only(t, d, InconsistentOffsets)
}

func TestSimCheckPoll(t *testing.T) {
	cases := []struct {
		name    string
		from    replication.Offset
		entries []Entry
		want    Invariant
	}{
		{"dense", 0, []Entry{entry(0, "a"), entry(1, "b")}, ""},
		{"skip", 0, []Entry{entry(1, "b")}, PollSkip},
		{"backwards", 2, []Entry{entry(1, "b")}, PollNonMonotonic},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(1, nodes, false)
			c.Poll(1, 0, "c", "n1", tc.from, tc.entries)
			only(t, c, tc.want)
		})
	}
	c := New(1, nodes, false)
	c.Poll(1, 0, "c1", "n1", 0, []Entry{entry(0, "a")})
	c.Poll(2, 0, "c2", "n2", 0, []Entry{entry(0, "z")})
	only(t, c, InconsistentOffsets)
}

func TestSimCheckFinal(t *testing.T) {
	produce := func(acks Acks, r Result, offset replication.Offset, values ...string) Op {
		return Op{Kind: Produce, Acks: acks, Result: r, Offset: offset, Values: values, Node: "n1"}
	}
	healed := []Entry{entry(0, "a"), entry(1, "b")}
	cases := []struct {
		name string
		ops  []Op
		read []Entry
		log  []Entry
		want Invariant
	}{
		{"all there", []Op{produce(AcksQuorum, OK, 0, "a", "b")}, nil, healed, ""},
		{"quorum ack lost", []Op{produce(AcksQuorum, OK, 2, "c")}, nil, healed, AckedLost},
		{"quorum ack moved", []Op{produce(AcksQuorum, OK, 0, "b")}, nil, healed, InconsistentOffsets},
		{"leader ack lost: counted", []Op{produce(AcksLeader, OK, 2, "c")}, nil, healed, ""},
		{"unknown lost: counted", []Op{produce(AcksQuorum, Unknown, 2, "c")}, nil, healed, ""},
		{"aborted read", nil, []Entry{entry(0, "a"), entry(1, "x")}, healed, AbortedRead},
		{"duplicate in the healed log", nil, nil, []Entry{entry(0, "a"), entry(1, "a")}, Duplicate},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(1, nodes, false)
			if tc.read != nil {
				c.Poll(1, 0, "c", "n1", 0, tc.read)
			}
			c.Final(0, tc.log, &History{Ops: tc.ops})
			only(t, c, tc.want)
		})
	}
}

func TestSimCheckLeaders(t *testing.T) {
	c := New(1, nodes, false)
	c.Leader(1, 0, 1, "n1")
	c.Leader(2, 0, 1, "n1")
	c.Leader(3, 0, 2, "n2")
	only(t, c, "")
	c.Leader(4, 0, 2, "n3")
	only(t, c, TwoLeaders)
	if c.Failed() != KindSafety {
		t.Fatalf("kind %s", c.Failed())
	}
}
