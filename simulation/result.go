package simulation

import (
	"fmt"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/simulation/check"
	"github.com/shoalmq/shoal/simulation/simnet"
)

// EventKind names an event of the timeline.
type EventKind string

// Timeline events.
const (
	EventFault    EventKind = "fault"
	EventCrash    EventKind = "crash"
	EventRestart  EventKind = "restart"
	EventPause    EventKind = "pause"
	EventResume   EventKind = "resume"
	EventLeader   EventKind = "leader"
	EventStepDown EventKind = "step-down"
	EventHeal     EventKind = "heal"
)

// Event is one entry of the timeline: a fault, a process change or a change of leader.
type Event struct {
	Tick      int64              `json:"tick"`
	Kind      EventKind          `json:"kind"`
	Partition int                `json:"partition"` // -1: not about one partition
	Node      replication.NodeID `json:"node,omitempty"`
	Epoch     replication.Epoch  `json:"epoch,omitempty"`
	Class     Class              `json:"class,omitempty"`
	Until     int64              `json:"until,omitempty"`
	Detail    string             `json:"detail"`
}

func (s *sim) event(e Event) {
	e.Tick = s.now
	s.trace.add(0xE0, uint64(len(e.Kind)), uint64(e.Partition+1), uint64(e.Epoch))
	s.trace.str(string(e.Node))
	if s.cfg.Timeline {
		s.timeline = append(s.timeline, e)
	}
	if s.cfg.Trace != nil {
		fmt.Fprintf(s.cfg.Trace, "%5d p%d %s %s %s e%d %s\n", e.Tick, e.Partition, e.Kind, orDash(e.Node), e.Class, e.Epoch, e.Detail)
	}
}

// Result is the outcome of one seed.
type Result struct {
	// Tier is TierProtocol or TierCluster; durations are in ticks of TickMillis() ms (the
	// protocol tier's simulated 50 ms ticks; the cluster tier's wall-clock milliseconds).
	Tier       string `json:"tier"`
	Seed       uint64 `json:"seed"`
	Nodes      int    `json:"nodes"`
	Partitions int    `json:"partitions"`
	Canary     Canary `json:"canary,omitempty"`
	// Faults is the drawn mix; FaultMix its one-line form.
	Faults   Faults `json:"-"`
	FaultMix string `json:"fault_mix"`
	// Kind is the failure (KindNone when every check passed).
	Kind       check.Kind              `json:"kind"`
	Violations []check.Violation       `json:"violations,omitempty"`
	Invariants map[check.Invariant]int `json:"invariants"`
	Counts     check.Counts            `json:"counts"`
	// Ops counts operations by kind and result ("produce ok", "poll ok", ...), and produces by
	// acks level ("acks quorum ok", ...).
	Ops    map[string]int `json:"ops"`
	Faulty map[Class]int  `json:"faults"`
	Net    simnet.Stats   `json:"net"`
	// Failovers: leaderless time after each leader crash; ConvergeTicks: ticks from healing to
	// convergence (-1: it did not). RFRestores (cluster tier): ticks from the loss of a
	// replica (a node down, left or removed) until every partition was back at RF in sync.
	Failovers     []Failover `json:"failovers"`
	ConvergeTicks int64      `json:"converge_ticks"`
	RFRestores    []int64    `json:"rf_restore_ticks,omitempty"`
	// Notes (cluster tier): the run's events (faults, restarts, refusals) with their times.
	Notes        []string `json:"notes,omitempty"`
	Ticks, Steps int      `json:"-"`
	// SafetyTicks: the tick the faults healed at.
	SafetyTicks int `json:"safety_ticks"`
	// Storms: ticks in which more messages were due than a tick delivers (a message storm).
	Storms    int    `json:"storms,omitempty"`
	TraceHash uint64 `json:"trace_hash"`
	// Crash and Stack: the simulator's own panic (Kind crash), or the core's (core-panic).
	Crash string `json:"crash,omitempty"`
	Stack string `json:"-"`
	// Lost: acknowledged records missing after healing (allowed ones included).
	Lost []check.LostRecord `json:"lost,omitempty"`
	// Timeline and History: with Config.Timeline.
	Timeline []Event        `json:"-"`
	History  *check.History `json:"-"`
}

// TickMillis is the length of the result's ticks in milliseconds.
func (r Result) TickMillis() int64 {
	if r.Tier == TierCluster {
		return 1
	}
	return TickMillis
}

func (s *sim) result() Result {
	res := Result{Tier: TierProtocol, Seed: s.cfg.Seed, Nodes: s.cfg.Nodes, Partitions: s.cfg.Partitions, Canary: s.cfg.Canary,
		Faults: s.faults, FaultMix: s.faults.String(), Kind: s.chk.Failed(), Violations: s.chk.Violations(),
		Invariants: map[check.Invariant]int{}, Counts: s.chk.Counts, Ops: map[string]int{}, Faulty: map[Class]int{},
		Net: s.net.Stats, ConvergeTicks: -1, Lost: s.chk.Lost(), Ticks: int(s.now), Steps: s.steps + int(s.now), TraceHash: s.trace.sum, Storms: s.storms,
		SafetyTicks: s.cfg.SafetyTicks}
	for _, i := range check.Invariants() {
		if n := s.chk.Count(i); n > 0 {
			res.Invariants[i] = n
		}
	}
	for _, op := range s.hist.Ops {
		res.Ops[op.Kind.String()+" "+op.Result.String()]++
		if op.Kind == check.Produce {
			res.Ops["acks "+op.Acks.String()+" "+op.Result.String()]++
		}
	}
	for c, n := range s.counts {
		res.Faulty[c] = n
	}
	st := s.net.Stats
	for c, n := range map[Class]int{ClassDrop: st.Dropped, ClassDuplicate: st.Duplicated, ClassReorder: st.Reordered} {
		if n > 0 {
			res.Faulty[c] = n
		}
	}
	if s.faults.Net.DelayTicks > 0 || s.faults.Net.JitterTicks > 0 {
		res.Faulty[ClassDelay] = st.Sent
	}
	for _, f := range s.failovers {
		res.Failovers = append(res.Failovers, *f)
	}
	if s.converged >= 0 {
		res.ConvergeTicks = s.converged - int64(s.cfg.SafetyTicks)
	}
	if s.cfg.Timeline {
		res.Timeline, res.History = s.timeline, &s.hist
	}
	return res
}
