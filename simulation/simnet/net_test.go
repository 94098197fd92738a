// Tests of the simulated network: every knob does what it says, link rules count, and the
// queue is ordered by (tick, send order). Method: tables over a network with a fixed seed.
package simnet

import (
	"math/rand/v2"
	"testing"

	"github.com/shoalmq/shoal/actors/replication"
)

func msg(from, to string, i int) replication.Message {
	return replication.Message{Type: replication.MsgAppend, From: replication.NodeID(from), To: replication.NodeID(to),
		Index: replication.Offset(i)}
}

func newNet(k Knobs) *Network { return New(rand.New(rand.NewPCG(1, 2)), k) }

// drain delivers everything due up to tick end and returns the indexes in delivery order.
func drain(n *Network, end int64) []int {
	var out []int
	for now := int64(0); now <= end; now++ {
		for {
			p, ok := n.Next(now)
			if !ok {
				break
			}
			out = append(out, int(p.Msg.Index))
		}
	}
	return out
}

func TestSimnetOrderAndDelay(t *testing.T) {
	n := newNet(Knobs{DelayTicks: 2})
	for i := range 5 {
		n.Send(0, 0, msg("a", "b", i))
	}
	if _, ok := n.Next(1); ok {
		t.Fatal("a packet arrived before its delay")
	}
	got := drain(n, 2)
	if want := []int{0, 1, 2, 3, 4}; !equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func TestSimnetDropDuplicateReorder(t *testing.T) {
	cases := []struct {
		name  string
		knobs Knobs
		check func(t *testing.T, n *Network, got []int)
	}{
		{"drop all", Knobs{DropPercent: 100}, func(t *testing.T, n *Network, got []int) {
			if len(got) != 0 || n.Stats.Dropped != 100 {
				t.Fatalf("delivered %d, dropped %d", len(got), n.Stats.Dropped)
			}
		}},
		{"duplicate all", Knobs{DuplicatePercent: 100}, func(t *testing.T, n *Network, got []int) {
			if len(got) != 200 || n.Stats.Duplicated != 100 {
				t.Fatalf("delivered %d, duplicated %d", len(got), n.Stats.Duplicated)
			}
		}},
		{"reorder", Knobs{ReorderPercent: 50, ReorderTicks: 5}, func(t *testing.T, n *Network, got []int) {
			if len(got) != 100 || n.Stats.Reordered == 0 || sorted(got) {
				t.Fatalf("delivered %d, reordered %d, sorted %t", len(got), n.Stats.Reordered, sorted(got))
			}
		}},
		{"jitter", Knobs{JitterTicks: 4}, func(t *testing.T, n *Network, got []int) {
			if len(got) != 100 || sorted(got) {
				t.Fatalf("delivered %d, sorted %t", len(got), sorted(got))
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := newNet(c.knobs)
			for i := range 100 {
				n.Send(0, 0, msg("a", "b", i))
			}
			c.check(t, n, drain(n, 20))
		})
	}
}

func TestSimnetLinks(t *testing.T) {
	n := newNet(Knobs{})
	ab := Link{"a", "b"}
	n.Block(ab)
	n.Block(ab) // two faults on one link
	n.Send(0, 0, msg("a", "b", 1))
	n.Send(0, 0, msg("b", "a", 2)) // one-way: the other direction works
	if got := drain(n, 0); !equal(got, []int{2}) {
		t.Fatalf("delivered %v, want [2]", got)
	}
	n.Unblock(ab)
	if !n.Blocked(ab) {
		t.Fatal("one of two blocks undone opened the link")
	}
	// A packet in flight when its link is cut is lost.
	n.Unblock(ab)
	n.Send(0, 0, msg("a", "b", 3))
	n.Block(ab)
	if got := drain(n, 1); len(got) != 0 {
		t.Fatalf("delivered %v across a cut link", got)
	}
	n.Heal()
	n.Send(2, 0, msg("a", "b", 4))
	if got := drain(n, 2); !equal(got, []int{4}) {
		t.Fatalf("after Heal: %v", got)
	}
	ids := []replication.NodeID{"a", "b", "c"}
	if got := len(Isolate("a", ids)); got != 4 {
		t.Fatalf("isolating one of three cuts %d links, want 4", got)
	}
	if got := len(Split(ids[:1], ids[1:])); got != 4 {
		t.Fatalf("a split 1|2 cuts %d links, want 4", got)
	}
}

func TestSimnetSlowAndDefer(t *testing.T) {
	n := newNet(Knobs{})
	n.Slow(Link{"a", "b"}, 3)
	n.Send(0, 0, msg("a", "b", 1))
	if got := drain(n, 2); len(got) != 0 {
		t.Fatalf("a slow link delivered at once: %v", got)
	}
	p, ok := n.Next(3)
	if !ok {
		t.Fatal("nothing after the slow-down")
	}
	n.Defer(p, 10)
	if _, ok := n.Next(9); ok {
		t.Fatal("a deferred packet came early")
	}
	if _, ok := n.Next(10); !ok {
		t.Fatal("a deferred packet never came")
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sorted(a []int) bool {
	for i := 1; i < len(a); i++ {
		if a[i] < a[i-1] {
			return false
		}
	}
	return true
}
