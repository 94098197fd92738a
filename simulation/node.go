package simulation

import (
	"fmt"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/simulation/simnet"
)

// node is one simulated process: a replica of every partition, a membership view and a disk.
type node struct {
	sim      *sim
	index    int
	id       replication.NodeID
	replicas []*replica

	down      bool
	restartAt int64
	paused    bool
	resumeAt  int64

	// view[j]: node j is alive in this node's view. unreachSince[j]: the tick j became
	// unreachable (-1: reachable). suspect[j]: j is falsely dead in the view until then (-1).
	view         []bool
	unreachSince []int64
	suspect      []int64
	// detect: ticks of unreachability before this node's view marks a node dead.
	detect   int
	lastSync int64
}

func (nd *node) running() bool { return !nd.down && !nd.paused }

func (nd *node) start() {
	for _, rp := range nd.replicas {
		rp.restart()
	}
}

// crash is a power loss of the node: its replicas stop and lose what was not synced (with
// torn, only the last unsynced batch); it restarts at restartAt.
func (nd *node) crash(cause Class, torn bool, downTicks int) {
	s := nd.sim
	s.openFailovers(nd, cause)
	nd.down, nd.paused, nd.restartAt = true, false, s.now+int64(downTicks)
	detail := fmt.Sprintf("%s for %d ticks", cause, downTicks)
	if torn {
		detail += ", torn tail"
	}
	s.event(Event{Kind: EventCrash, Partition: -1, Node: nd.id, Class: cause, Detail: detail})
	for _, rp := range nd.replicas {
		rp.crash(torn)
	}
}

func (nd *node) restart() {
	nd.down = false
	for j := range nd.view {
		nd.view[j], nd.unreachSince[j] = true, -1
	}
	nd.lastSync = nd.sim.now
	nd.sim.event(Event{Kind: EventRestart, Partition: -1, Node: nd.id, Detail: "restarted from its disk"})
	for _, rp := range nd.replicas {
		rp.restart()
	}
}

func (nd *node) pause(ticks int) {
	nd.paused, nd.resumeAt = true, nd.sim.now+int64(ticks)
	nd.sim.event(Event{Kind: EventPause, Partition: -1, Node: nd.id, Class: ClassPause, Detail: fmt.Sprintf("paused for %d ticks", ticks)})
}

func (nd *node) resume() {
	nd.paused = false
	nd.sim.event(Event{Kind: EventResume, Partition: -1, Node: nd.id, Detail: "resumed"})
}

// maybeRestart restarts the node, resumes it, or restarts a replica stopped by a disk error,
// when their time came.
func (nd *node) maybeRestart() {
	now := nd.sim.now
	switch {
	case nd.down && now >= nd.restartAt:
		nd.restart()
	case nd.paused && now >= nd.resumeAt:
		nd.resume()
	}
	if nd.down {
		return
	}
	for _, rp := range nd.replicas {
		if rp.r == nil && now >= rp.restartAt {
			rp.restart()
		}
	}
}

// updateView recomputes the node's membership view: a node is dead in it once unreachable
// (down, paused, or a link blocked in either direction: a probe needs both) for detect ticks,
// or while falsely suspected; alive as soon as it answers again. Replicas get the view when it
// changes.
func (nd *node) updateView() {
	if !nd.running() {
		return
	}
	s, changed := nd.sim, false
	for j, other := range s.nodes {
		if j == nd.index {
			continue
		}
		reachable := other.running() && !s.net.Blocked(simnet.Link{From: nd.id, To: other.id}) &&
			!s.net.Blocked(simnet.Link{From: other.id, To: nd.id})
		alive := reachable
		if reachable {
			nd.unreachSince[j] = -1
		} else {
			if nd.unreachSince[j] < 0 {
				nd.unreachSince[j] = s.now
			}
			alive = s.now-nd.unreachSince[j] < int64(nd.detect)
		}
		if nd.suspect[j] > s.now {
			alive = false
		}
		if alive != nd.view[j] {
			nd.view[j], changed = alive, true
		}
	}
	if !changed {
		return
	}
	s.trace.add(0xB0, uint64(nd.index), uint64(s.now))
	alive := nd.aliveIDs()
	for _, rp := range nd.replicas {
		rp.setAlive(alive)
	}
}

func (nd *node) aliveIDs() []replication.NodeID {
	var out []replication.NodeID
	for j, a := range nd.view {
		if a || j == nd.index {
			out = append(out, nd.sim.ids[j])
		}
	}
	return out
}

// sync runs the node's syncer: under interval every SyncIntervalTicks for every replica,
// under always each replica's unsynced tail once its latency passed.
func (nd *node) sync() {
	s := nd.sim
	if s.faults.Fsync == FsyncInterval {
		if s.now-nd.lastSync < int64(s.faults.SyncIntervalTicks) {
			return
		}
		nd.lastSync = s.now
		for _, rp := range nd.replicas {
			rp.syncNow()
		}
		return
	}
	for _, rp := range nd.replicas {
		if rp.syncAt >= 0 && s.now >= rp.syncAt {
			rp.syncNow()
		}
	}
}
