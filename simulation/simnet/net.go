// Package simnet is the simulated network of the protocol-tier simulator: replication messages
// between nodes, delivered in logical ticks with seeded loss, duplication, delay, jitter and
// reordering, and link rules that block one direction of a link (one-way loss), every link of a
// node (isolation) or every link across a split, and slow down a link.
//
// Everything is decided by the *rand.Rand it is given, in the order calls are made, and the
// queue is ordered by (delivery tick, send sequence), so a run is a function of its seed.
// Link rules are counted, so two faults that block the same link overlap correctly: the link
// opens when both are over.
package simnet

import (
	"math/rand/v2"

	"github.com/shoalmq/shoal/actors/replication"
)

// Knobs are the per-message faults of the network. Percentages are 0..100.
type Knobs struct {
	// DropPercent of messages are lost.
	DropPercent int
	// DuplicatePercent of messages are delivered twice (each copy with its own delay).
	DuplicatePercent int
	// A message arrives DelayTicks + rand[0, JitterTicks] ticks after it is sent (0: in the same
	// tick, after what is already due).
	DelayTicks, JitterTicks int
	// ReorderPercent of messages get ReorderTicks more, so later messages overtake them.
	ReorderPercent, ReorderTicks int
}

// Packet is one message of one partition on the wire.
type Packet struct {
	Partition int
	Msg       replication.Message
	// At is the tick it is due; Seq orders packets due at the same tick (send order).
	At  int64
	Seq uint64
}

// Link is one direction of a link between two nodes.
type Link struct{ From, To replication.NodeID }

// Stats count what the network did to messages.
type Stats struct {
	Sent, Delivered, Dropped, Blocked, Duplicated, Reordered, Slowed int
}

// Network is the queue of packets in flight and the rules that act on them.
type Network struct {
	rng     *rand.Rand
	knobs   Knobs
	queue   packetHeap
	seq     uint64
	blocked map[Link]int
	slow    map[Link]int // extra ticks per link
	Stats   Stats
}

// New returns an empty network drawing from rng.
func New(rng *rand.Rand, k Knobs) *Network {
	return &Network{rng: rng, knobs: k, blocked: map[Link]int{}, slow: map[Link]int{}}
}

// SetKnobs changes the per-message faults (the liveness phase sets none).
func (n *Network) SetKnobs(k Knobs) { n.knobs = k }

// Send puts a message of a partition on the wire at tick now: it may be dropped (by loss or a
// blocked link), duplicated, delayed and reordered.
func (n *Network) Send(now int64, partition int, m replication.Message) {
	n.Stats.Sent++
	l := Link{m.From, m.To}
	if n.blocked[l] > 0 {
		n.Stats.Blocked++
		return
	}
	if n.percent(n.knobs.DropPercent) {
		n.Stats.Dropped++
		return
	}
	copies := 1
	if n.percent(n.knobs.DuplicatePercent) {
		n.Stats.Duplicated++
		copies = 2
	}
	for range copies {
		delay := int64(n.knobs.DelayTicks + n.slow[l])
		if n.knobs.JitterTicks > 0 {
			delay += int64(n.rng.IntN(n.knobs.JitterTicks + 1))
		}
		if n.slow[l] > 0 {
			n.Stats.Slowed++
		}
		if n.percent(n.knobs.ReorderPercent) {
			n.Stats.Reordered++
			delay += int64(1 + n.rng.IntN(max(1, n.knobs.ReorderTicks)))
		}
		n.push(Packet{Partition: partition, Msg: m, At: now + delay})
	}
}

func (n *Network) percent(p int) bool { return p > 0 && n.rng.IntN(100) < p }

func (n *Network) push(p Packet) {
	n.seq++
	p.Seq = n.seq
	n.queue.push(p)
}

// Next pops the next packet due at or before now. A packet whose link was blocked while it was
// in flight is lost (counted) and skipped.
func (n *Network) Next(now int64) (Packet, bool) {
	for len(n.queue) > 0 && n.queue[0].At <= now {
		p := n.queue.pop()
		if n.blocked[Link{p.Msg.From, p.Msg.To}] > 0 {
			n.Stats.Blocked++
			continue
		}
		n.Stats.Delivered++
		return p, true
	}
	return Packet{}, false
}

// Defer puts a popped packet back, due at tick at (a paused receiver reads it when it
// resumes, as a stopped process finds its socket buffers full).
func (n *Network) Defer(p Packet, at int64) {
	n.Stats.Delivered--
	p.At = at
	n.push(p)
}

// Len returns the number of packets in flight.
func (n *Network) Len() int { return len(n.queue) }

// Block blocks one direction of a link (counted: Unblock as many times to open it).
func (n *Network) Block(l Link) { n.blocked[l]++ }

// Unblock undoes one Block.
func (n *Network) Unblock(l Link) {
	if n.blocked[l]--; n.blocked[l] <= 0 {
		delete(n.blocked, l)
	}
}

// Blocked reports whether a direction of a link is blocked.
func (n *Network) Blocked(l Link) bool { return n.blocked[l] > 0 }

// Slow adds extra ticks to one direction of a link (negative to undo).
func (n *Network) Slow(l Link, ticks int) {
	if n.slow[l] += ticks; n.slow[l] <= 0 {
		delete(n.slow, l)
	}
}

// Heal opens every link and removes every slow-down.
func (n *Network) Heal() {
	clear(n.blocked)
	clear(n.slow)
}

// Isolate returns the links to and from id (to every other of ids), for Block and Unblock.
func Isolate(id replication.NodeID, ids []replication.NodeID) []Link {
	var out []Link
	for _, o := range ids {
		if o != id {
			out = append(out, Link{id, o}, Link{o, id})
		}
	}
	return out
}

// Split returns the links between two groups, both directions.
func Split(a, b []replication.NodeID) []Link {
	var out []Link
	for _, x := range a {
		for _, y := range b {
			out = append(out, Link{x, y}, Link{y, x})
		}
	}
	return out
}

// packetHeap is a binary min-heap of packets by (At, Seq), typed so that a packet is never
// boxed (container/heap would allocate one per message).
type packetHeap []Packet

func (h packetHeap) less(i, j int) bool {
	if h[i].At != h[j].At {
		return h[i].At < h[j].At
	}
	return h[i].Seq < h[j].Seq
}

func (h *packetHeap) push(p Packet) {
	*h = append(*h, p)
	q := *h
	for i := len(q) - 1; i > 0; {
		parent := (i - 1) / 2
		if !q.less(i, parent) {
			break
		}
		q[i], q[parent] = q[parent], q[i]
		i = parent
	}
}

func (h *packetHeap) pop() Packet {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = Packet{}
	q = q[:last]
	for i := 0; ; {
		small, l, r := i, 2*i+1, 2*i+2
		if l < len(q) && q.less(l, small) {
			small = l
		}
		if r < len(q) && q.less(r, small) {
			small = r
		}
		if small == i {
			break
		}
		q[i], q[small] = q[small], q[i]
		i = small
	}
	*h = q
	return top
}
