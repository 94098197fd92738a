package simulation

import (
	"fmt"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/simulation/simnet"
)

// activeFault is a link fault in force until a tick; undo ends it.
type activeFault struct {
	class Class
	until int64
	links []simnet.Link
	slow  int
}

func (a activeFault) undo(s *sim) {
	for _, l := range a.links {
		if a.slow > 0 {
			s.net.Slow(l, -a.slow)
		} else {
			s.net.Unblock(l)
		}
	}
}

func (s *sim) between(lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return lo + s.rng.IntN(hi-lo+1)
}

// chance draws whether a fault of rate r starts this tick.
func (s *sim) chance(r Rate) bool { return r.On() && s.rng.IntN(1000) < r.PerMille }

// injectFaults starts the faults whose coin came up this tick.
func (s *sim) injectFaults() {
	f := s.faults
	s.isolateLeaders()
	if s.chance(f.Isolate) {
		nd := s.nodes[s.rng.IntN(len(s.nodes))]
		s.linkFault(ClassIsolate, f.Isolate, simnet.Isolate(nd.id, s.ids), 0, fmt.Sprintf("isolate %s", nd.id))
	}
	if s.chance(f.Split) {
		order := s.rng.Perm(len(s.ids))
		k := 1 + s.rng.IntN(len(s.ids)/2)
		var a, b []replication.NodeID
		for i, j := range order {
			if i < k {
				a = append(a, s.ids[j])
			} else {
				b = append(b, s.ids[j])
			}
		}
		s.linkFault(ClassSplit, f.Split, simnet.Split(a, b), 0, fmt.Sprintf("split %v | %v", a, b))
	}
	if s.chance(f.Bridge) {
		order := s.rng.Perm(len(s.ids))
		bridge := s.ids[order[0]]
		k := 1 + s.rng.IntN(len(s.ids)/2)
		var a, b []replication.NodeID
		for i, j := range order[1:] {
			if i < k {
				a = append(a, s.ids[j])
			} else {
				b = append(b, s.ids[j])
			}
		}
		s.linkFault(ClassBridge, f.Bridge, simnet.Split(a, b), 0, fmt.Sprintf("bridge %v | %s | %v", a, bridge, b))
	}
	if s.chance(f.OneWay) {
		l := s.randomLink()
		s.linkFault(ClassOneWay, f.OneWay, []simnet.Link{l}, 0, fmt.Sprintf("one-way loss %s→%s", l.From, l.To))
	}
	if s.chance(f.Slow) {
		l := s.randomLink()
		s.linkFault(ClassSlow, f.Slow, []simnet.Link{l}, f.SlowTicks, fmt.Sprintf("slow link %s→%s +%d ticks", l.From, l.To, f.SlowTicks))
	}
	if s.chance(f.Crash) {
		if nd := s.nodes[s.rng.IntN(len(s.nodes))]; !nd.down {
			s.crash(nd, ClassCrash, s.between(f.Crash.MinTicks, f.Crash.MaxTicks))
		}
	}
	if s.chance(f.PowerLoss) {
		k := len(s.nodes)/2 + 1 + s.rng.IntN(len(s.nodes)-len(s.nodes)/2)
		s.counts[ClassPowerLoss]++
		for _, j := range s.rng.Perm(len(s.nodes))[:k] {
			if nd := s.nodes[j]; !nd.down {
				s.crash(nd, ClassPowerLoss, s.between(f.PowerLoss.MinTicks, f.PowerLoss.MaxTicks))
			}
		}
	}
	if s.chance(f.Pause) {
		if nd := s.nodes[s.rng.IntN(len(s.nodes))]; nd.running() {
			s.counts[ClassPause]++
			s.trace.add(0xC2, uint64(nd.index))
			nd.pause(s.between(f.Pause.MinTicks, f.Pause.MaxTicks))
		}
	}
	if s.chance(f.View) {
		x, y := s.rng.IntN(len(s.nodes)), s.rng.IntN(len(s.nodes)-1)
		if y >= x {
			y++
		}
		d := s.between(f.View.MinTicks, f.View.MaxTicks)
		s.nodes[x].suspect[y] = s.now + int64(d)
		s.counts[ClassView]++
		s.trace.add(0xC3, uint64(x), uint64(y), uint64(d))
		s.event(Event{Kind: EventFault, Partition: -1, Node: s.ids[x], Class: ClassView,
			Detail: fmt.Sprintf("%s's view marks %s dead for %d ticks", s.ids[x], s.ids[y], d)})
	}
}

func (s *sim) randomLink() simnet.Link {
	x, y := s.rng.IntN(len(s.ids)), s.rng.IntN(len(s.ids)-1)
	if y >= x {
		y++
	}
	return simnet.Link{From: s.ids[x], To: s.ids[y]}
}

func (s *sim) linkFault(c Class, r Rate, links []simnet.Link, slow int, detail string) {
	d := s.between(r.MinTicks, r.MaxTicks)
	for _, l := range links {
		if slow > 0 {
			s.net.Slow(l, slow)
		} else {
			s.net.Block(l)
		}
	}
	s.active = append(s.active, activeFault{class: c, until: s.now + int64(d), links: links, slow: slow})
	s.counts[c]++
	s.trace.add(0xC4, uint64(len(c)), uint64(len(links)), uint64(d))
	s.event(Event{Kind: EventFault, Partition: -1, Class: c, Detail: fmt.Sprintf("%s for %d ticks", detail, d), Until: s.now + int64(d)})
}

// endFaults ends the link faults whose time is over.
func (s *sim) endFaults() {
	kept := s.active[:0]
	for _, a := range s.active {
		if a.until <= s.now {
			a.undo(s)
			continue
		}
		kept = append(kept, a)
	}
	s.active = kept
}

// crashNow decides whether a replica's node crashes in the middle of doing a Ready, after its
// writes and before its messages: as a new leader takes office (LeaderCrashPercent), or as a
// leader's commit point advances (CommitCrashPercent). It returns "leader", "commit" or "".
func (s *sim) crashNow(rp *replica, rd replication.Ready) string {
	f := s.faults
	if s.phase != "safety" || !rp.r.IsLeader() {
		return ""
	}
	switch {
	case !rp.leading && f.LeaderCrashPercent > 0 && s.rng.IntN(100) < f.LeaderCrashPercent:
		return "leader"
	case rd.Commit > rp.commit && f.CommitCrashPercent > 0 && rp.crashDrawnEpoch != rp.r.Epoch():
		rp.crashDrawnEpoch = rp.r.Epoch() // one draw per leadership, at its first advance
		if s.rng.IntN(100) < f.CommitCrashPercent {
			return "commit"
		}
	}
	return ""
}

// maybeIsolateLeader schedules the isolation of a node that just took office
// (LeaderIsolatePercent), a few ticks from now.
func (s *sim) maybeIsolateLeader(nd *node) {
	f := s.faults
	if s.phase != "safety" || f.LeaderIsolatePercent == 0 || s.rng.IntN(100) >= f.LeaderIsolatePercent {
		return
	}
	s.isolations = append(s.isolations, scheduledIsolation{node: nd, at: s.now + int64(s.between(2, 10))})
}

type scheduledIsolation struct {
	node *node
	at   int64
}

// isolateLeaders starts the scheduled isolations that are due.
func (s *sim) isolateLeaders() {
	kept := s.isolations[:0]
	for _, i := range s.isolations {
		if i.at > s.now {
			kept = append(kept, i)
			continue
		}
		s.linkFault(ClassIsolate, s.faults.Isolate, simnet.Isolate(i.node.id, s.ids), 0, fmt.Sprintf("isolate %s (a new leader)", i.node.id))
	}
	s.isolations = kept
}

func (s *sim) crash(nd *node, cause Class, downTicks int) {
	torn := s.faults.TornTailPercent > 0 && s.rng.IntN(100) < s.faults.TornTailPercent
	if torn {
		s.counts[ClassTornTail]++
	}
	if cause == ClassCrash {
		s.counts[ClassCrash]++
	}
	s.trace.add(0xC5, uint64(nd.index), uint64(downTicks))
	nd.crash(cause, torn, downTicks)
}
