// Tests of the cluster tier: whole brokers in one process on memnet and CrashFS, a seeded
// fault schedule, the same checker as the protocol tier.
//
// Method: RunCluster and RunClusterSeeds as `shoal sim --tier cluster` calls them. Timing is
// the real scheduler's, so a seed reproduces its schedule, not its interleaving; the tests
// assert the invariants and what the schedule did, never timing. TestClusterSeeds runs
// SHOAL_SIM_CLUSTER_SEEDS (default: four seeds whose mixes cover crashes, torn tails, bit
// flips, power loss, joins, drains, leaves, removals and clock skew). goleak checks, after all
// the package's tests, that every node's goroutines stopped.
package simulation

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/shoalmq/shoal/simulation/check"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clusterTestSeeds: seed 4 crashes, flips a bit, joins and removes under clock skew; seed 5
// crashes with torn tails, loses power, flips a bit, drains and leaves; seed 6 joins twice,
// drains, removes and crashes on five nodes; seed 46 loses power under fsync=interval, then a
// voter is removed for good (the surviving voters are unclean: unclean-survivors-voter-gone.txt).
var clusterTestSeeds = []uint64{4, 5, 6, 46}

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
