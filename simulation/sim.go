package simulation

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/simulation/check"
	"github.com/shoalmq/shoal/simulation/simnet"
)

// Timing of the cores, as the cluster's `local` profile (actors.DefaultHeartbeatTicks and
// DefaultElectionTicks): a tick is 50 ms of simulated time.
const (
	TickMillis     = 50
	HeartbeatTicks = 2
	ElectionTicks  = 10
)

// Defaults and limits of Config.
const (
	MaxPartitions      = 16
	DefaultSafetyTicks = 600 // 30 s of simulated time
	// DefaultLivenessTicks bounds the liveness phase: a healed cluster must converge within it
	// (about 20 election timeouts: an unclean learner catches up, a leader is chosen, its epoch
	// start commits).
	DefaultLivenessTicks = 200
	// maxDeliveriesPerTick bounds the messages delivered in one tick; the rest wait a tick (a
	// guard against a message storm that would never let the tick end).
	maxDeliveriesPerTick = 5_000
	// maxPacketsInFlight, or maxStormTicks ticks in a row at maxDeliveriesPerTick, is a message
	// storm: a liveness failure (a catch-up after healing takes a few such ticks at most).
	maxPacketsInFlight = 100_000
	maxStormTicks      = 20
)

// Config is one run. Zero fields are drawn from the seed (Nodes, Partitions) or defaulted.
type Config struct {
	Seed uint64
	// Nodes is the replica set size of every partition: 3 or 5 (0: drawn).
	Nodes int
	// Partitions is the number of partitions, each replicated on every node (0: drawn, 1..3).
	Partitions int
	// SafetyTicks is the length of the phase with faults; LivenessTicks bounds the phase after.
	SafetyTicks, LivenessTicks int
	// Classes are the fault classes a seed may draw from (nil: all).
	Classes []Class
	// Canary plants a known bug (see Canaries).
	Canary Canary
	// Timeline keeps the events of the run for the HTML page.
	Timeline bool
	// Trace, if not nil, gets one line per delivered message and per event, in order.
	Trace io.Writer
}

// Validate checks a Config; Run reports an invalid one as a simulator crash.
func (c Config) Validate() error {
	var errs []error
	if c.Nodes != 0 && c.Nodes != 3 && c.Nodes != 5 {
		errs = append(errs, fmt.Errorf("nodes: %d, want 3 or 5", c.Nodes))
	}
	if c.Partitions < 0 || c.Partitions > MaxPartitions {
		errs = append(errs, fmt.Errorf("partitions: %d, want 1..%d", c.Partitions, MaxPartitions))
	}
	if c.SafetyTicks < 0 || c.LivenessTicks < 0 {
		errs = append(errs, fmt.Errorf("ticks: safety %d, liveness %d, want >= 0", c.SafetyTicks, c.LivenessTicks))
	}
	if c.Canary != CanaryNone && canaryByName(c.Canary).name == CanaryNone {
		errs = append(errs, fmt.Errorf("canary: unknown %q (`shoal sim --list-canaries` lists them)", c.Canary))
	}
	for _, cl := range c.Classes {
		if !slices.Contains(Classes(), cl) {
			errs = append(errs, fmt.Errorf("faults: unknown class %q", cl))
		}
	}
	return errors.Join(errs...)
}

// Run runs one seed: a safety phase with the drawn faults, then a liveness phase with every
// fault healed, then the final checks. It never panics: a panic of the core under test is a
// core-panic violation, any other one a simulator crash (Result.Crash).
func Run(cfg Config) (res Result) {
	if err := cfg.Validate(); err != nil {
		return Result{Seed: cfg.Seed, Kind: check.KindCrash, Crash: "invalid config: " + err.Error(), ConvergeTicks: -1}
	}
	s := newSim(cfg)
	defer func() {
		if p := recover(); p != nil {
			res = s.result()
			if s.inCore {
				s.chk.Violate(check.Violation{Invariant: check.CorePanic, Tick: s.now, Partition: s.corePart,
					Replicas: []replication.NodeID{s.coreNode}, Detail: fmt.Sprint(p)})
				res = s.result()
				res.Stack = string(debug.Stack())
			} else {
				res.Kind = check.KindCrash
				res.Crash = fmt.Sprint(p)
				res.Stack = string(debug.Stack())
			}
		}
	}()
	s.run()
	return s.result()
}

// sim is one run in progress.
type sim struct {
	cfg    Config
	faults Faults
	canary canarySpec
	rng    *rand.Rand
	now    int64
	phase  string
	ids    []replication.NodeID
	nodes  []*node
	net    *simnet.Network
	chk    *check.Checker
	hist   check.History
	trace  traceHash

	active []activeFault
	// isolations: isolations of new leaders scheduled by LeaderIsolatePercent.
	isolations []scheduledIsolation
	consumers  []*consumer
	probes     []int // liveness phase: the probe write of each partition (-1: none yet)
	probing    bool  // liveness phase: converged idle, now writing the probes
	failovers  []*Failover
	timeline   []Event
	counts     map[Class]int
	steps      int
	storms     int   // ticks that hit maxDeliveriesPerTick
	stormRun   int   // consecutive ones
	converged  int64 // tick the liveness phase converged at, -1 if it did not

	// inCore is set while the core under test runs (a panic then is the core's own
	// assertion); corePart and coreNode say which replica.
	inCore   bool
	corePart int
	coreNode replication.NodeID
}

func newSim(cfg Config) *sim {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	spec := canaryByName(cfg.Canary)
	if cfg.Nodes == 0 {
		cfg.Nodes = []int{3, 5}[rng.IntN(2)]
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 1 + rng.IntN(3)
	}
	if cfg.SafetyTicks == 0 {
		cfg.SafetyTicks = DefaultSafetyTicks
	}
	if cfg.LivenessTicks == 0 {
		cfg.LivenessTicks = DefaultLivenessTicks
	}
	if cfg.Classes == nil {
		cfg.Classes = Classes()
	}
	f := Draw(rng, cfg.Classes)
	if spec.shape != nil {
		spec.shape(rng, &cfg, &f)
	}
	s := &sim{cfg: cfg, faults: f, canary: spec, rng: rng, phase: "safety", counts: map[Class]int{}, converged: -1}
	s.trace.sum = fnvOffset
	s.net = simnet.New(rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())), f.Net)
	for i := range cfg.Nodes {
		s.ids = append(s.ids, replication.NodeID(fmt.Sprintf("n%d", i+1)))
	}
	s.chk = check.New(cfg.Partitions, s.ids, f.Fsync == FsyncInterval)
	for i, id := range s.ids {
		nd := &node{sim: s, index: i, id: id, view: make([]bool, len(s.ids)),
			unreachSince: make([]int64, len(s.ids)), suspect: make([]int64, len(s.ids)),
			detect: f.DetectTicks + rng.IntN(f.DetectJitterTicks+1)}
		for j := range nd.view {
			nd.view[j], nd.unreachSince[j], nd.suspect[j] = true, -1, -1
		}
		for p := range cfg.Partitions {
			nd.replicas = append(nd.replicas, &replica{sim: s, node: nd, part: p, log: newLog()})
		}
		s.nodes = append(s.nodes, nd)
	}
	for p := range cfg.Partitions {
		s.probes = append(s.probes, -1)
		for c := range 1 + rng.IntN(2) {
			s.consumers = append(s.consumers, &consumer{name: fmt.Sprintf("c%d.%d", p, c), part: p})
		}
	}
	return s
}

// voters is partition p's replica set in ring order: the nodes rotated by p, so that the
// partitions have different first voters.
func (s *sim) voters(p int) []replication.NodeID {
	out := make([]replication.NodeID, 0, len(s.ids))
	for i := range s.ids {
		out = append(out, s.ids[(p+i)%len(s.ids)])
	}
	return out
}

func (s *sim) run() {
	for _, nd := range s.nodes {
		nd.start()
	}
	for s.now = 0; s.now < int64(s.cfg.SafetyTicks); s.now++ {
		s.tick(true)
		if s.stopped() {
			return
		}
	}
	s.heal()
	// The liveness phase: first the healed cluster, idle, must converge on its own; then it
	// must take a probe write per partition and converge again.
	end := s.now + int64(s.cfg.LivenessTicks)
	for ; s.now < end; s.now++ {
		s.tick(false)
		if s.stopped() {
			return
		}
		if !s.convergedAll(s.probing) {
			continue
		}
		if !s.probing {
			s.probing, s.converged = true, s.now
			continue
		}
		if s.probedAll() {
			break
		}
	}
	if s.now >= end {
		what := "not converged"
		if s.probing {
			what = "converged idle, but the probe writes were not all acknowledged and converged"
		}
		s.converged = -1
		s.chk.Violate(check.Violation{Invariant: check.Liveness, Tick: s.now, Partition: -1,
			Detail: fmt.Sprintf("%s %d ticks after healing: %s", what, s.cfg.LivenessTicks, s.describeState())})
		return
	}
	s.finalChecks()
}

// stopped ends a run at its first safety violation (what follows is a consequence of it, and
// a broken core can flood the network), or when the network holds more packets than any
// correct run could (a message storm: a liveness failure).
func (s *sim) stopped() bool {
	if s.net.Len() > maxPacketsInFlight || s.stormRun >= maxStormTicks {
		s.chk.Violate(check.Violation{Invariant: check.Liveness, Tick: s.now, Partition: -1,
			Detail: fmt.Sprintf("message storm: %d packets in flight, %d ticks in a row with more than %d messages due",
				s.net.Len(), s.stormRun, maxDeliveriesPerTick)})
		return true
	}
	return s.chk.Failed() == check.KindSafety
}

// tick is one tick of simulated time: faults, views, core ticks, disk syncs, deliveries and
// the workload, in this order.
func (s *sim) tick(faulty bool) {
	s.trace.add(0xF0, uint64(s.now))
	if faulty {
		s.injectFaults()
	}
	s.endFaults()
	for _, nd := range s.nodes {
		nd.maybeRestart()
	}
	for _, nd := range s.nodes {
		nd.updateView()
	}
	for _, nd := range s.nodes {
		if nd.running() {
			for _, rp := range nd.replicas {
				rp.tick()
			}
		}
	}
	for _, nd := range s.nodes {
		if nd.running() {
			nd.sync()
		}
	}
	s.deliver()
	if faulty {
		s.workload()
	} else if s.probing {
		s.probe()
	}
	s.measureFailovers()
}

// deliver hands every packet due to its receiver: a packet to a paused node waits until the
// node resumes, one to a down node (or a stopped replica) is lost.
func (s *sim) deliver() {
	for n := 0; ; n++ {
		if n == maxDeliveriesPerTick {
			s.storms++
			s.stormRun++
			return
		}
		p, ok := s.net.Next(s.now)
		if !ok {
			s.stormRun = 0
			return
		}
		nd := s.node(p.Msg.To)
		switch {
		case nd.down:
			continue
		case nd.paused:
			s.net.Defer(p, nd.resumeAt)
			continue
		}
		rp := nd.replicas[p.Partition]
		if rp.r == nil {
			continue
		}
		s.steps++
		s.trace.msg(p.Partition, p.Msg)
		if s.cfg.Trace != nil {
			fmt.Fprintf(s.cfg.Trace, "%5d p%d %s\n", s.now, p.Partition, p.Msg)
		}
		rp.step(p.Msg)
	}
}

func (s *sim) node(id replication.NodeID) *node {
	return s.nodes[slices.Index(s.ids, id)]
}

// heal ends every fault: links open, per-message faults stop, down nodes and stopped replicas
// restart, paused nodes resume, views forget false suspicions.
func (s *sim) heal() {
	s.phase = "liveness"
	s.event(Event{Kind: EventHeal, Partition: -1, Detail: "all faults healed"})
	for _, a := range s.active {
		a.undo(s)
	}
	s.active = nil
	s.net.Heal()
	s.net.SetKnobs(simnet.Knobs{})
	for _, nd := range s.nodes {
		for j := range nd.suspect {
			nd.suspect[j] = -1
		}
		if nd.paused {
			nd.resume()
		}
		if nd.down {
			nd.restart()
		}
		for _, rp := range nd.replicas {
			if rp.r == nil {
				rp.restart()
			}
		}
	}
}

// describeState renders every replica's state, for a liveness failure.
func (s *sim) describeState() string {
	var b strings.Builder
	for p := range s.cfg.Partitions {
		fmt.Fprintf(&b, "\n  partition %d:", p)
		for _, nd := range s.nodes {
			rp := nd.replicas[p]
			if rp.r == nil {
				fmt.Fprintf(&b, "\n    %s: stopped", nd.id)
				continue
			}
			st := rp.r.Status()
			fmt.Fprintf(&b, "\n    %s: %s epoch=%d leader=%s commit=%d end=%d durable=%d synced=%d unclean=%t",
				nd.id, st.Role, st.Epoch, orDash(st.Leader), st.Commit, st.LogEnd, st.Durable, rp.log.SyncedEnd(), st.Unclean)
			for _, id := range s.ids {
				if pr, ok := st.Progress[id]; ok {
					fmt.Fprintf(&b, " %s:match=%d,durable=%d,active=%t", id, pr.Match, pr.Durable, pr.Active)
				}
			}
		}
	}
	return b.String()
}

func orDash(id replication.NodeID) string {
	if id == "" {
		return "-"
	}
	return string(id)
}

// traceHash is a running FNV-1a hash of every event of the run (ticks, deliveries, faults,
// operations): two runs of one seed must end with the same value.
type traceHash struct{ sum uint64 }

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func (t *traceHash) add(vals ...uint64) {
	for _, v := range vals {
		for i := range 8 {
			t.sum ^= (v >> (8 * i)) & 0xff
			t.sum *= fnvPrime
		}
	}
}

func (t *traceHash) str(s string) {
	for i := range len(s) {
		t.sum ^= uint64(s[i])
		t.sum *= fnvPrime
	}
}

func (t *traceHash) msg(p int, m replication.Message) {
	flags := uint64(0)
	if m.Reject {
		flags |= 1
	}
	if m.Granted {
		flags |= 2
	}
	if m.Learner {
		flags |= 4
	}
	t.add(0xA0, uint64(p), uint64(m.Type), uint64(m.Epoch), uint64(m.Index), uint64(m.PrevEpoch),
		uint64(len(m.Data)), uint64(m.Commit), uint64(m.Match), uint64(m.Durable), uint64(m.End), flags)
	t.str(string(m.From))
	t.str(string(m.To))
}
