package simulation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/simulation/check"
	"github.com/shoalmq/shoal/simulation/memnet"
)

// Tiers of the simulator (Result.Tier).
const (
	TierProtocol = "protocol"
	TierCluster  = "cluster"
)

// Defaults and limits of ClusterConfig.
const (
	DefaultClusterSafety   = 4 * time.Second
	DefaultClusterLiveness = 30 * time.Second
	MaxClusterPartitions   = 8
	// clusterRF is the replication factor of the simulated topic (and of __meta).
	clusterRF = 3
	// clusterCallTimeout bounds one client request; a produce that times out is indeterminate.
	clusterCallTimeout = 2 * time.Second
	// monitorEvery is the period of the monitor (leaders, failovers, RF, commit points).
	monitorEvery = 25 * time.Millisecond
	// formBound bounds the cluster's formation (gossip joined, __meta voters, topic led). In
	// make test, under -race with every package's tests running at once on two cores,
	// __meta's reconfiguration from one voter to three has taken over 30 s (gossip had every
	// member alive); alone it takes a second or two.
	formBound = 60 * time.Second
)

// ClusterConfig is one run of the cluster tier. Zero fields are drawn from the seed or
// defaulted.
type ClusterConfig struct {
	Seed uint64
	// Nodes at the start: 3..5 (0: drawn). Up to maxJoins more may join.
	Nodes int
	// Partitions of the simulated topic (RF 3): 1..MaxClusterPartitions (0: drawn, 1..4).
	Partitions int
	// Safety is the length of the phase with faults and traffic; Liveness bounds the phase
	// after healing (0: the defaults).
	Safety, Liveness time.Duration
	// Classes are the fault classes a seed may draw from (nil: all of ClusterClasses).
	Classes []Class
	// Log, if not nil, gets the events of the run and the nodes' logs (INFO and up).
	Log io.Writer
	// Timeline keeps the events of the run (faults, crashes and restarts, leaders seen by the
	// monitor) and its history in the Result, for the HTML page.
	Timeline bool
}

// Validate checks a ClusterConfig; RunCluster reports an invalid one as a simulator crash.
func (c ClusterConfig) Validate() error {
	var errs []error
	if c.Nodes != 0 && (c.Nodes < 3 || c.Nodes > 5) {
		errs = append(errs, fmt.Errorf("nodes: %d, want 3..5", c.Nodes))
	}
	if c.Partitions < 0 || c.Partitions > MaxClusterPartitions {
		errs = append(errs, fmt.Errorf("partitions: %d, want 1..%d", c.Partitions, MaxClusterPartitions))
	}
	if c.Safety < 0 || c.Liveness < 0 {
		errs = append(errs, fmt.Errorf("durations: safety %v, liveness %v, want >= 0", c.Safety, c.Liveness))
	}
	for _, cl := range c.Classes {
		if !slices.Contains(ClusterClasses(), cl) {
			errs = append(errs, fmt.Errorf("faults: unknown class %q for the cluster tier", cl))
		}
	}
	return errors.Join(errs...)
}

// clusterRun is one cluster-tier run in progress.
type clusterRun struct {
	cfg    ClusterConfig
	faults ClusterFaults
	net    *memnet.Network
	logger *slog.Logger
	start  time.Time

	// mu guards everything below, and the checker and the history.
	mu       sync.Mutex
	diskRNG  *rand.Rand
	nodes    []*cnode
	chk      *check.Checker
	hist     check.History
	counts   map[Class]int
	notes    []string
	failover []*Failover
	rfOpen   []int64 // starts (ms) of RF-restore measurements not closed yet
	rfDone   []int64 // RF-restore times (ms)
	phase    string
	joined   int
	lost     int   // nodes killed for good
	converge int64 // ms from healing to convergence, -1 if it did not
	// timeline (with cfg.Timeline) and the leaderships the monitor saw last, to tell changes.
	timeline []Event
	leaders  []leadership

	conns sync.Map // node id → *memnet.Conn from the client host
}

// RunCluster runs one seed of the cluster tier: a cluster forms, the safety phase runs the
// workload under the drawn faults, everything heals, the liveness phase must converge, and
// the checker judges the history. It never panics: a panic is a simulator crash.
func RunCluster(cfg ClusterConfig) (res Result) {
	if err := cfg.Validate(); err != nil {
		return Result{Tier: TierCluster, Seed: cfg.Seed, Kind: check.KindCrash, Crash: "invalid config: " + err.Error(), ConvergeTicks: -1}
	}
	r := newClusterRun(cfg)
	defer func() {
		if p := recover(); p != nil {
			res = r.result()
			res.Kind, res.Crash, res.Stack = check.KindCrash, fmt.Sprint(p), string(debug.Stack())
		}
		r.shutdown()
	}()
	r.run()
	return r.result()
}

func newClusterRun(cfg ClusterConfig) *clusterRun {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5851f42d4c957f2d))
	if cfg.Nodes == 0 {
		cfg.Nodes = 3 + rng.IntN(3)
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 1 + rng.IntN(4)
	}
	if cfg.Safety == 0 {
		cfg.Safety = DefaultClusterSafety
	}
	if cfg.Liveness == 0 {
		cfg.Liveness = DefaultClusterLiveness
	}
	if cfg.Classes == nil {
		cfg.Classes = ClusterClasses()
	}
	later := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	r := &clusterRun{cfg: cfg, faults: drawClusterFaults(rng, later, cfg.Classes, cfg.Nodes, cfg.Safety),
		net: memnet.New(rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))), counts: map[Class]int{},
		diskRNG: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())), phase: "form", logger: discardLogger(), converge: -1}
	if cfg.Log != nil {
		r.logger = slog.New(slog.NewTextHandler(&lockedWriter{w: cfg.Log}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	var ids []replication.NodeID
	for i := range cfg.Nodes + maxJoins {
		ids = append(ids, replication.NodeID(fmt.Sprintf("n%d", i+1)))
	}
	r.chk = check.New(cfg.Partitions, ids, r.faults.FsyncInterval)
	r.chk.SetQuorum(clusterRF/2 + 1)
	r.net.AddHost(clientHost, "", "")
	for i := range cfg.Nodes {
		r.nodes = append(r.nodes, r.newNode(i))
	}
	for i, s := range r.faults.Skews[:cfg.Nodes] {
		if s != 0 {
			r.counts[ClassClockSkew]++
			r.nodes[i].skew = s
		}
	}
	return r
}

// lockedWriter serialises writes from the nodes' goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// now is the run's clock in milliseconds (the checker's ticks in this tier).
func (r *clusterRun) now() int64 { return time.Since(r.start).Milliseconds() }

// note records an event of the run (and logs it).
func (r *clusterRun) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.notes = append(r.notes, fmt.Sprintf("%6d ms %s: %s", r.now(), r.phase, msg))
	r.mu.Unlock()
	r.logger.Info("sim: " + msg)
}

// event records a timeline event at the run's clock (with cfg.Timeline).
func (r *clusterRun) event(e Event) {
	if !r.cfg.Timeline {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eventLocked(e)
}

// eventLocked is event with r.mu held; reading the clock under the lock keeps the timeline in
// time order.
func (r *clusterRun) eventLocked(e Event) {
	e.Tick = r.now()
	r.timeline = append(r.timeline, e)
}

func (r *clusterRun) violate(v check.Violation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.chk.Violate(v)
}

func (r *clusterRun) setPhase(p string) {
	r.mu.Lock()
	r.phase = p
	r.mu.Unlock()
}

func (r *clusterRun) run() {
	r.start = time.Now()
	if err := r.form(); err != nil {
		r.violate(check.Violation{Invariant: check.Liveness, Tick: r.now(), Partition: -1,
			Detail: "the cluster did not form: " + err.Error()})
		return
	}
	r.setPhase("safety")
	for _, nd := range r.allNodes() {
		nd.clockSkew.Store(int64(nd.skew))
		if nd.skew != 0 {
			r.event(Event{Kind: EventFault, Partition: -1, Node: replication.NodeID(nd.id), Class: ClassClockSkew,
				Detail: fmt.Sprintf("%s's clock is %v off", nd.id, nd.skew)})
		}
	}
	r.net.SetKnobs(memnet.Knobs{DropPercent: r.faults.DropPercent, Delay: r.faults.Delay, Jitter: r.faults.Jitter,
		DuplicatePercent: r.faults.DuplicatePercent})
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	r.startWorkload(ctx, &wg)
	monitorDone := make(chan struct{})
	monitorCtx, stopMonitor := context.WithCancel(context.Background())
	go func() { defer close(monitorDone); r.monitor(monitorCtx) }()
	r.runSchedule()
	stop()
	wg.Wait()
	r.setPhase("liveness")
	r.heal()
	r.liveness()
	stopMonitor()
	<-monitorDone
}

// form starts the first nodes, waits for __meta to have its voters, and creates the topic and
// its consumer group.
func (r *clusterRun) form() error {
	deadline := time.Now().Add(formBound)
	if err := r.nodes[0].start(nil); err != nil {
		return err
	}
	for _, nd := range r.nodes[1:] {
		if err := nd.start([]string{r.nodes[0].gossipAddr}); err != nil {
			return err
		}
	}
	want := min(clusterRF, len(r.nodes))
	if err := waitUntil(deadline, func() error {
		for _, nd := range r.nodes {
			if v := nd.broker().Node().Meta().Leadership().Replicas; len(v) != want {
				// Say what the node knows, so a formation that never completes can be told apart:
				// gossip not joined, or __meta not reconfigured.
				var members []string
				if nd.ms != nil {
					for _, m := range nd.ms.Members() {
						members = append(members, fmt.Sprintf("%s:%v", m.ID, m.State))
					}
				}
				meta := nd.broker().Node().Meta()
				lead := meta.Leadership()
				status := ""
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				if st, err := meta.Replication(ctx); err == nil {
					status = fmt.Sprintf("; __meta here: role %v, config %+v, commit %d, log end %d, unclean %v, progress %+v",
						st.Role, st.Config, st.Commit, st.LogEnd, st.Unclean, st.Progress)
				}
				cancel()
				return fmt.Errorf("%s sees __meta voters %v (leader %q, epoch %d; gossip members %v%s)", nd.id, v, lead.Leader, lead.Epoch, members, status)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := waitUntil(deadline, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
		defer cancel()
		err := r.call(ctx, r.nodes[0].id, protocol.TypeCreateTopic, &protocol.CreateTopicRequest{Name: simTopic,
			Config: protocol.TopicConfig{Partitions: int32(r.cfg.Partitions), Replication: clusterRF}}, nil)
		if protocol.CodeOf(err) == protocol.CodeTopicExists {
			return nil
		}
		return err
	}); err != nil {
		return fmt.Errorf("create the topic: %w", err)
	}
	if err := waitUntil(deadline, func() error {
		for p := range r.cfg.Partitions {
			if _, err := r.fullyReplicated(p); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return r.createGroups(deadline)
}

// waitUntil polls cond until it returns nil or the deadline passes (then its last error).
func waitUntil(deadline time.Time, cond func() error) error {
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond) // the polling interval of a condition with a deadline
	}
}

// upNodes returns the running nodes in index order.
func (r *clusterRun) upNodes() []*cnode {
	r.mu.Lock()
	nodes := slices.Clone(r.nodes)
	r.mu.Unlock()
	var out []*cnode
	for _, nd := range nodes {
		if nd.getState() == nodeUp {
			out = append(out, nd)
		}
	}
	return out
}

func (r *clusterRun) allNodes() []*cnode {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.nodes)
}

func (r *clusterRun) node(id string) *cnode {
	for _, nd := range r.allNodes() {
		if nd.id == id {
			return nd
		}
	}
	return nil
}

// seedsFor returns the gossip addresses of the running nodes other than nd.
func (r *clusterRun) seedsFor(nd *cnode) []string {
	var out []string
	for _, o := range r.upNodes() {
		if o != nd {
			out = append(out, o.gossipAddr)
		}
	}
	return out
}

// call sends one request from the client host to a node's broker, over one cached
// connection per node (dialled again after a failure).
func (r *clusterRun) call(ctx context.Context, id string, t protocol.MessageType, req, resp any) error {
	nd := r.node(id)
	if nd == nil {
		return fmt.Errorf("%w: no node %s", memnet.ErrUnreachable, id)
	}
	var conn *memnet.Conn
	if c, ok := r.conns.Load(id); ok {
		conn = c.(*memnet.Conn)
	} else {
		c, err := r.net.Dial(ctx, clientHost, nd.brokerAddr)
		if err != nil {
			return err
		}
		conn = c
		r.conns.Store(id, c)
	}
	err := conn.Call(ctx, t, req, resp)
	if errors.Is(err, memnet.ErrUnreachable) || errors.Is(err, memnet.ErrClosed) {
		r.conns.CompareAndDelete(id, conn)
	}
	return err
}

// shutdown stops every node that still runs (the run is over).
func (r *clusterRun) shutdown() {
	r.net.ResumeAll() // held messages go (to nodes that stop): nothing waits for a resume
	var wg sync.WaitGroup
	for _, nd := range r.allNodes() {
		nd.mu.Lock()
		b, ms, up := nd.b, nd.ms, nd.state == nodeUp
		nd.state = nodeGone
		nd.mu.Unlock()
		if !up {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r.net.SetHandler(nd.id, nil)
			_ = b.Stop(ctx)
			_ = ms.Shutdown()
		}()
	}
	wg.Wait()
}

// result is the outcome of the run so far.
func (r *clusterRun) result() Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := Result{Tier: TierCluster, Seed: r.cfg.Seed, Nodes: r.cfg.Nodes, Partitions: r.cfg.Partitions, FaultMix: r.faults.String(),
		Kind: r.chk.Failed(), Violations: r.chk.Violations(), Invariants: map[check.Invariant]int{}, Counts: r.chk.Counts,
		Ops: map[string]int{}, Faulty: map[Class]int{}, ConvergeTicks: r.converge, Lost: r.chk.Lost(),
		RFRestores: slices.Clone(r.rfDone), Notes: slices.Clone(r.notes), SafetyTicks: int(r.cfg.Safety.Milliseconds()), Ticks: int(r.now())}
	for _, i := range check.Invariants() {
		if n := r.chk.Count(i); n > 0 {
			res.Invariants[i] = n
		}
	}
	for _, op := range r.hist.Ops {
		res.Ops[op.Kind.String()+" "+op.Result.String()]++
		if op.Kind == check.Produce {
			res.Ops["acks "+op.Acks.String()+" "+op.Result.String()]++
		}
	}
	for c, n := range r.counts {
		res.Faulty[c] = n
	}
	st := r.net.Stats()
	if r.faults.DropPercent > 0 {
		res.Faulty[ClassDrop] = int(st.PacketsDropped + st.CallsDropped)
	}
	if r.faults.Delay > 0 || r.faults.Jitter > 0 {
		res.Faulty[ClassDelay] = int(st.Packets + st.Calls)
	}
	if st.Duplicated > 0 {
		res.Faulty[ClassDuplicate] = int(st.Duplicated)
	}
	for _, f := range r.failover {
		res.Failovers = append(res.Failovers, *f)
	}
	if r.cfg.Timeline {
		// Copies: after a simulator crash the workload may still be writing the history.
		res.Timeline, res.History = slices.Clone(r.timeline), &check.History{Ops: slices.Clone(r.hist.Ops)}
	}
	return res
}

// RunClusterSeeds runs cfg for each seed on workers goroutines (each seed is a whole cluster:
// more than one or two at a time on a small machine make its timing noisy) and returns the
// summary in seed order; progress is as in RunSeeds. It drops cfg.Log. With cfg.Timeline,
// only Summary.Drawn keeps a timeline: a run cannot be replayed (it runs on the wall clock),
// and a swarm's histories would not fit in memory.
func RunClusterSeeds(cfg ClusterConfig, seeds []uint64, workers int, progress func(done int, r Result)) *Summary {
	var mu sync.Mutex
	var drawn *Result
	sum := runSeeds(seeds, workers, progress, func(seed uint64) Result {
		c := cfg
		c.Seed = seed
		if len(seeds) > 1 {
			c.Log = nil
		}
		r := RunCluster(c)
		if cfg.Timeline {
			mu.Lock()
			if drawFirst(seeds, r, drawn) {
				kept := r
				drawn = &kept
			}
			mu.Unlock()
			r.Timeline, r.History = nil, nil
		}
		if r.Kind == check.KindNone {
			r.Notes = nil
		}
		return r
	})
	sum.Drawn = drawn
	return sum
}

// drawFirst reports whether r comes before drawn for the page: a failing seed before a passing
// one, then the seed order; of the passing seeds, only the first is drawn.
func drawFirst(seeds []uint64, r Result, drawn *Result) bool {
	failing := r.Kind != check.KindNone
	switch {
	case drawn == nil:
		return failing || r.Seed == seeds[0]
	case drawn.Kind == check.KindNone:
		return failing
	}
	return failing && slices.Index(seeds, r.Seed) < slices.Index(seeds, drawn.Seed)
}
