// Tests of the cluster tier: whole brokers in one process on memnet and CrashFS, a seeded
// fault schedule, the same checker as the protocol tier.
//
// Method: RunCluster and RunClusterSeeds as `shoal sim --tier cluster` calls them. Timing is
// the real scheduler's, so a seed reproduces its schedule, not its interleaving; the tests
// assert the invariants and what the schedule did, never timing. TestClusterSeeds runs
// SHOAL_SIM_CLUSTER_SEEDS (default: five seeds whose mixes cover crashes, torn tails, bit
// flips, power loss, joins, drains, leaves, removals and clock skew). goleak checks, after all
// the package's tests, that every node's goroutines stopped.
package simulation

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/simulation/check"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clusterTestSeeds: seed 4 crashes, flips a bit, joins and removes under clock skew; seed 5
// crashes with torn tails, loses power, flips a bit, drains and leaves; seed 6 joins twice,
// drains, removes and crashes on five nodes; seed 46 loses power under fsync=interval, then a
// voter is removed for good (the surviving voters are unclean: unclean-survivors-voter-gone.txt);
// seed 36 does the same to __meta's voters, so the removal reaches the catalog only through
// the hint every live node gets (Broker.spreadGone).
var clusterTestSeeds = []uint64{4, 5, 6, 36, 46}

func TestClusterSeeds(t *testing.T) {
	seeds := clusterTestSeeds
	if s := os.Getenv("SHOAL_SIM_CLUSTER_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("SHOAL_SIM_CLUSTER_SEEDS=%q: %v", s, err)
		}
		seeds = seedsUpTo(n)
	}
	sum := RunClusterSeeds(ClusterConfig{}, seeds, 1, nil)
	for _, r := range sum.Failures {
		var b strings.Builder
		r.WriteFailure(&b, "")
		t.Errorf("%s", b.String())
	}
	if sum.Kind() != check.KindNone {
		t.Fatalf("failed seeds: %v", sum.FailedSeeds)
	}
	if os.Getenv("SHOAL_SIM_CLUSTER_SEEDS") != "" {
		return
	}
	// The seeds' schedules cover these classes (whether a fault runs depends on the state it
	// meets: a crash waits while a majority would be down, for one).
	drawn := map[Class]bool{}
	for _, seed := range seeds {
		f := newClusterRun(ClusterConfig{Seed: seed}).faults
		for _, s := range f.Schedule {
			drawn[s.Class] = true
		}
		drawn[ClassTornTail] = drawn[ClassTornTail] || f.TornTailPercent > 0
	}
	for _, c := range []Class{ClassCrash, ClassTornTail, ClassBitFlip, ClassPowerLoss, ClassJoin, ClassDrain, ClassLeave, ClassRemove, ClassSplit} {
		if !drawn[c] {
			t.Errorf("no %s fault drawn for seeds %v: the seeds' mixes changed", c, seeds)
		}
	}
	if sum.Faults[ClassCrash]+sum.Faults[ClassJoin]+sum.Faults[ClassRemove]+sum.Faults[ClassSplit] == 0 {
		t.Errorf("no fault ran in seeds %v: %v", seeds, sum.Faults)
	}
	for _, k := range []string{"acks quorum ok", "acks leader ok", "acks none ok", "poll ok"} {
		if sum.Ops[k] == 0 {
			t.Errorf("no %q operation in seeds %v", k, seeds)
		}
	}
	if sum.Converge.N != len(seeds) || sum.RFRestore.N == 0 {
		t.Errorf("converged %d of %d seeds; %d RF restores measured", sum.Converge.N, len(seeds), sum.RFRestore.N)
	}
	var b strings.Builder
	sum.WriteText(&b)
	t.Logf("%s", b.String())
}

// With no fault class, nothing fails: every produce is acknowledged and every record read.
func TestClusterQuiet(t *testing.T) {
	cfg := ClusterConfig{Seed: 1, Nodes: 3, Partitions: 2, Classes: []Class{}}
	if os.Getenv("SHOAL_SIM_LOG") != "" {
		cfg.Log = os.Stderr
	}
	r := RunCluster(cfg)
	if r.Kind != check.KindNone {
		var b strings.Builder
		r.WriteFailure(&b, "")
		t.Fatalf("%s", b.String())
	}
	if r.Ops["acks quorum ok"] == 0 || r.Ops["poll ok"] == 0 || r.Counts.Checked == 0 {
		t.Fatalf("a quiet run did little: %v %+v", r.Ops, r.Counts)
	}
	if r.Ops["produce failed"] != 0 || r.Counts.LostLeader+r.Counts.LostNone != 0 {
		t.Fatalf("a quiet run failed or lost records: %v %+v", r.Ops, r.Counts)
	}
}

// With Timeline, a run keeps its events in time order (a leader of every partition, seen by
// the monitor; the crash and restart of the schedule; the healing) and its history, and its
// page draws every partition with a row per node.
func TestClusterTimeline(t *testing.T) {
	cfg := ClusterConfig{Seed: 4, Nodes: 3, Partitions: 2, Safety: 1500 * time.Millisecond, Classes: []Class{ClassCrash}, Timeline: true}
	if s := newClusterRun(cfg).faults.Schedule; len(s) != 1 || s[0].Class != ClassCrash || s[0].At+s[0].For >= cfg.Safety {
		t.Fatalf("seed %d drew %+v, want one crash and its restart in the safety phase: the mixes changed, pick another seed", cfg.Seed, s)
	}
	r := RunCluster(cfg)
	if r.Kind != check.KindNone {
		var b strings.Builder
		r.WriteFailure(&b, "")
		t.Fatalf("%s", b.String())
	}
	if r.History == nil || len(r.History.Ops) == 0 {
		t.Fatalf("no history with the timeline: %+v", r.History)
	}
	led := map[int]bool{}
	var crashed replication.NodeID
	restarted, healed := false, false
	for i, e := range r.Timeline {
		if i > 0 && e.Tick < r.Timeline[i-1].Tick {
			t.Errorf("event %d at %d ms comes after one at %d ms", i, e.Tick, r.Timeline[i-1].Tick)
		}
		switch e.Kind {
		case EventLeader:
			led[e.Partition] = true
		case EventCrash:
			crashed = e.Node
		case EventRestart:
			restarted = restarted || e.Node == crashed
		case EventHeal:
			healed = true
		}
	}
	if len(led) != cfg.Partitions || crashed == "" || !restarted || !healed {
		t.Fatalf("timeline: leaders of partitions %v (want %d), crashed %q, restarted %t, healed %t:\n%+v",
			led, cfg.Partitions, crashed, restarted, healed, r.Timeline)
	}
	var b strings.Builder
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if n := strings.Count(page, "<h2>partition"); n != cfg.Partitions {
		t.Errorf("the page draws %d partitions, want %d", n, cfg.Partitions)
	}
	for _, want := range []string{">n1</text>", ">n2</text>", ">n3</text>", "leads epoch", string(crashed) + " down ", "<h2>notes</h2>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// The page of a cluster-tier result: milliseconds, a row for a node that joined, the notes.
func TestClusterHTML(t *testing.T) {
	r := Result{Tier: TierCluster, Seed: 7, Nodes: 3, Partitions: 1, Ticks: 61_000, FaultMix: "join×1",
		Timeline: []Event{
			{Tick: 2000, Kind: EventLeader, Partition: 0, Node: "n1", Epoch: 1},
			{Tick: 3000, Kind: EventFault, Partition: -1, Node: "n4", Class: ClassJoin, Detail: "n4 joins"},
			{Tick: 5000, Kind: EventStepDown, Partition: 0, Node: "n1", Epoch: 1},
			{Tick: 5100, Kind: EventLeader, Partition: 0, Node: "n4", Epoch: 2},
			{Tick: 40_000, Kind: EventHeal, Partition: -1},
		},
		Notes: []string{"  3000 ms safety: n4 joins <seen>"}}
	var b strings.Builder
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"61000 ms", ">n4</text>", "n4 leads epoch 2, ms 5100–61001", "<li>  3000 ms safety: n4 joins &lt;seen&gt;</li>",
		"<td>5100</td><td>5100</td><td>leader</td>", "stroke-dasharray"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "ticks of") {
		t.Error("the page counts the cluster tier's milliseconds as ticks")
	}
	if n := strings.Count(page, `stroke="#ddd"`); n < 9 || n > 21 {
		t.Errorf("%d grid lines over 61000 ms, want 9..21", n)
	}
}

// A page draws the first failing seed, or the first seed when none failed.
func TestDrawFirst(t *testing.T) {
	seeds := []uint64{3, 4, 5}
	pass := func(seed uint64) *Result { return &Result{Seed: seed} }
	fail := func(seed uint64) *Result { return &Result{Seed: seed, Kind: check.KindSafety} }
	cases := []struct {
		r, drawn *Result
		want     bool
	}{
		{pass(3), nil, true},
		{pass(4), nil, false},
		{fail(5), nil, true},
		{fail(5), pass(3), true},
		{pass(4), fail(5), false},
		{fail(4), fail(5), true},
		{fail(5), fail(4), false},
	}
	for _, c := range cases {
		if got := drawFirst(seeds, *c.r, c.drawn); got != c.want {
			t.Errorf("drawFirst(seed %d %s, drawn %+v) = %t, want %t", c.r.Seed, c.r.Kind, c.drawn, got, c.want)
		}
	}
}

// The axis has 9..21 grid lines whatever the length of the run.
func TestGridStep(t *testing.T) {
	for end := int64(10); end < 1e8; end = end*13/10 + 1 {
		step := gridStep(end)
		if n := end/step + 1; n < 9 || n > 21 {
			t.Errorf("gridStep(%d) = %d: %d grid lines", end, step, n)
		}
	}
}

func TestClusterConfigValidate(t *testing.T) {
	cases := []struct {
		cfg  ClusterConfig
		want string
	}{
		{ClusterConfig{Nodes: 2}, "nodes"},
		{ClusterConfig{Partitions: MaxClusterPartitions + 1}, "partitions"},
		{ClusterConfig{Safety: -1}, "durations"},
		{ClusterConfig{Classes: []Class{ClassReorder}}, "faults"},
	}
	for _, c := range cases {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want an error about %s", c.cfg, err, c.want)
		}
		if r := RunCluster(c.cfg); r.Kind != check.KindCrash || !strings.Contains(r.Crash, "invalid config") {
			t.Errorf("RunCluster(%+v) = %s %q, want a crash for an invalid config", c.cfg, r.Kind, r.Crash)
		}
	}
}

// The schedule is a function of the seed.
func TestClusterScheduleIsSeeded(t *testing.T) {
	a, b := newClusterRun(ClusterConfig{Seed: 9}), newClusterRun(ClusterConfig{Seed: 9})
	if a.faults.String() != b.faults.String() || len(a.faults.Schedule) != len(b.faults.Schedule) {
		t.Fatalf("seed 9 drew %s and %s", a.faults, b.faults)
	}
	for i := range a.faults.Schedule {
		if a.faults.Schedule[i] != b.faults.Schedule[i] {
			t.Fatalf("fault %d: %+v and %+v", i, a.faults.Schedule[i], b.faults.Schedule[i])
		}
	}
	if c := newClusterRun(ClusterConfig{Seed: 10}); c.faults.String() == a.faults.String() {
		t.Fatalf("seeds 9 and 10 drew the same mix %s", a.faults)
	}
}
