// Package memnet is the in-memory network of the simulator's cluster tier: whole nodes in one
// process talk through it, both their gossip (a memberlist.NodeAwareTransport per node) and
// their broker transport (a connection whose Call hands the request to the target's broker,
// as actors.ClusterConfig.Dial wants). memberlist's own MockNetwork cannot lose or partition
// anything; this one can:
//
//   - link rules block one direction of a link between two hosts (one-way loss), every link of
//     a host (isolation) or every link across a split. They are counted, so two faults that
//     block the same link overlap: it opens when both are over;
//   - a host that is down (crashed) neither sends nor receives, and a connection dialled
//     before it went down or restarted stays broken (as TCP after a restart);
//   - per-message knobs: drop % and delay plus jitter. A dropped gossip packet is lost; a
//     dropped broker call fails with a connection error, half of the time before the request
//     reaches the target and half after it ran there (the answer is lost: the caller cannot
//     tell whether it happened). Duplicate % delivers a gossip packet twice (UDP may), and
//     hands a node-to-node replication request to its target a second time (a resend);
//   - a slow link adds a delay to every message across it, for a while;
//   - a paused host (as under SIGSTOP) holds every message to and from it until it resumes,
//     then they go in a burst, late; its streams break. Its own goroutines and clock go on, as
//     a whole process in one address space cannot be stopped alone: what it decided while
//     paused reaches the others only after the pause, stale, which is what SIGSTOP tests.
//
// Timing is real (memberlist reads the wall clock): a delayed gossip packet is delivered by a
// timer, a delayed call waits on the caller's goroutine. The random draws come from one seeded
// source, in the order the goroutines make them, so they are not a function of the seed alone.
//
// Clients are hosts too; a client host normally has no link rules, so it reaches every node
// that is up (a stale leader gets writes too).
package memnet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/shoalmq/shoal/protocol"
)

// Knobs are the per-message faults. Percentages are 0..100.
type Knobs struct {
	DropPercent      int
	DuplicatePercent int
	// Delay + rand[0, Jitter] is added to every packet and to each direction of a call.
	Delay, Jitter time.Duration
}

// Handler serves broker requests: actors.Broker's Admit (ordered half) with the rest of the
// request in the returned function.
type Handler interface {
	Admit(ctx context.Context, t protocol.MessageType, body []byte) func(context.Context) (any, error)
}

// ErrUnreachable is the error of a call or dial across a blocked link, to or from a host that
// is down, or dropped by the knobs.
var ErrUnreachable = errors.New("memnet: unreachable")

// Stats count what the network did.
type Stats struct {
	Packets, PacketsDropped, PacketsBlocked int64
	Calls, CallsDropped, CallsBlocked       int64
	// Duplicated: packets delivered twice and replication requests handed over twice; Held:
	// messages that waited for a paused host.
	Duplicated, Held int64
}

type link struct{ from, to string }

// Network connects hosts by name. Safe for concurrent use.
type Network struct {
	mu      sync.Mutex
	rng     *rand.Rand
	knobs   Knobs
	blocked map[link]int
	slow    map[link]time.Duration
	hosts   map[string]*host // by name
	gossip  map[string]*host // by gossip address
	broker  map[string]*host // by broker address
	stats   Stats
}

// host is one node (or client) of the network.
type host struct {
	name        string
	gossipAddr  string
	brokerAddr  string
	down        bool
	incarnation uint64 // bumped when the host goes down: old connections break
	handler     Handler
	transport   *Transport    // the gossip transport of the current incarnation
	resumed     chan struct{} // non-nil while paused: closed when it resumes
}

// New returns an empty network drawing from rng.
func New(rng *rand.Rand) *Network {
	return &Network{rng: rng, blocked: map[link]int{}, slow: map[link]time.Duration{}, hosts: map[string]*host{},
		gossip: map[string]*host{}, broker: map[string]*host{}}
}

// AddHost names a host with its gossip and broker addresses ("" for a client, which has
// neither). Adding a known name again changes nothing.
func (n *Network) AddHost(name, gossipAddr, brokerAddr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.hosts[name]; ok {
		return
	}
	h := &host{name: name, gossipAddr: gossipAddr, brokerAddr: brokerAddr}
	n.hosts[name] = h
	if gossipAddr != "" {
		n.gossip[gossipAddr] = h
	}
	if brokerAddr != "" {
		n.broker[brokerAddr] = h
	}
}

// SetKnobs replaces the per-message faults.
func (n *Network) SetKnobs(k Knobs) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.knobs = k
}

// Stats returns what the network did so far.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// Block blocks the link from → to until a matching Unblock.
func (n *Network) Block(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.blocked[link{from, to}]++
}

// Unblock undoes one Block of the link.
func (n *Network) Unblock(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := link{from, to}
	if n.blocked[l] <= 1 {
		delete(n.blocked, l)
		return
	}
	n.blocked[l]--
}

// HealLinks removes every link rule and slowness.
func (n *Network) HealLinks() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.blocked = map[link]int{}
	n.slow = map[link]time.Duration{}
}

// Slow adds d to every message from → to until a matching Unslow.
func (n *Network) Slow(from, to string, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.slow[link{from, to}] += d
}

// Unslow undoes one Slow of the link by d.
func (n *Network) Unslow(from, to string, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := link{from, to}
	if n.slow[l] <= d {
		delete(n.slow, l)
		return
	}
	n.slow[l] -= d
}

// Pause holds every message to and from a host until Resume (see the package doc).
func (n *Network) Pause(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if h := n.hosts[name]; h != nil && h.resumed == nil {
		h.resumed = make(chan struct{})
	}
}

// Resume lets a paused host's held messages go; it does nothing for a host not paused.
func (n *Network) Resume(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if h := n.hosts[name]; h != nil && h.resumed != nil {
		close(h.resumed)
		h.resumed = nil
	}
}

// ResumeAll resumes every paused host and returns their names.
func (n *Network) ResumeAll() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var names []string
	for _, h := range n.hosts {
		if h.resumed != nil {
			close(h.resumed)
			h.resumed = nil
			names = append(names, h.name)
		}
	}
	return names
}

// SetDown takes a host down (true: it crashed; its connections break) or up again.
func (n *Network) SetDown(name string, down bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	h := n.hosts[name]
	if h == nil {
		return
	}
	if down && !h.down {
		h.incarnation++
	}
	h.down = down
}

// SetHandler sets the broker that serves calls to a host (nil: calls are refused as from a
// node still starting).
func (n *Network) SetHandler(name string, hd Handler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if h := n.hosts[name]; h != nil {
		h.handler = hd
	}
}

// passLocked decides the fate of one message from → to: blocked, dropped, or delivered after
// hold is closed (nil: at once; an end is paused) and then the returned delay. n.mu must be
// held.
func (n *Network) passLocked(from, to *host) (delay time.Duration, hold <-chan struct{}, err error) {
	switch {
	case from.down || to.down:
		return 0, nil, fmt.Errorf("%w: %s → %s: host down", ErrUnreachable, from.name, to.name)
	case n.blocked[link{from.name, to.name}] > 0:
		return 0, nil, fmt.Errorf("%w: %s → %s: link blocked", ErrUnreachable, from.name, to.name)
	case n.knobs.DropPercent > 0 && n.rng.IntN(100) < n.knobs.DropPercent:
		return 0, nil, fmt.Errorf("%w: %s → %s: dropped", ErrUnreachable, from.name, to.name)
	}
	delay = n.knobs.Delay + n.slow[link{from.name, to.name}]
	if n.knobs.Jitter > 0 {
		delay += time.Duration(n.rng.Int64N(int64(n.knobs.Jitter) + 1))
	}
	if from.resumed != nil {
		hold = from.resumed
	} else if to.resumed != nil {
		hold = to.resumed
	}
	if hold != nil {
		n.stats.Held++
	}
	return delay, hold, nil
}

// duplicateLocked draws whether a message is delivered twice. n.mu must be held.
func (n *Network) duplicateLocked() bool {
	if n.knobs.DuplicatePercent > 0 && n.rng.IntN(100) < n.knobs.DuplicatePercent {
		n.stats.Duplicated++
		return true
	}
	return false
}

// linkOpen reports whether from → to is open now (no knobs applied): for streams.
func (n *Network) linkOpen(from, to string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	a, b := n.hosts[from], n.hosts[to]
	return a != nil && b != nil && !a.down && !b.down && a.resumed == nil && b.resumed == nil && n.blocked[link{from, to}] == 0
}

// await waits until hold is closed (nil: at once), then d, or until ctx ends.
func await(ctx context.Context, hold <-chan struct{}, d time.Duration) error {
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return sleep(ctx, d)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
