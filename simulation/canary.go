package simulation

import (
	"math/rand/v2"
	"slices"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/simulation/check"
	"github.com/shoalmq/shoal/simulation/simnet"
)

// Canary names a known bug planted in the code under test: the core's own canaries
// (replication.Canary) or the simulator shell's. A checker that does not catch each of them
// within its stated number of seeds is not good enough.
type Canary string

// Canaries. The core's have the core's names.
const (
	CanaryNone                   Canary = ""
	CanaryPromoteWithoutMajority        = Canary(replication.CanaryPromoteWithoutMajority)
	CanarySkipTruncation                = Canary(replication.CanarySkipTruncation)
	CanaryCommitOldEpoch                = Canary(replication.CanaryCommitOldEpoch)
	CanaryAcceptStaleEpoch              = Canary(replication.CanaryAcceptStaleEpoch)
	// CanaryAckBeforeFsync: the shell reports a write durable before its fsync (so under
	// fsync=always the core counts unsynced copies toward the commit point, and acks=leader is
	// answered at once), while a restart still counts as clean.
	CanaryAckBeforeFsync Canary = "ack-before-fsync"
	// CanaryAckBeforeReplication: the shell answers acks=quorum at the leader's own append.
	CanaryAckBeforeReplication Canary = "ack-before-replication"
)

// CanaryInfo describes a canary: where the bug sits, what it is, the seeds that must catch it
// (seeds 0..Seeds-1 with the default Config: at least one of them fails with one of Catches)
// and the invariants that count as catching it.
type CanaryInfo struct {
	Name    Canary            `json:"name"`
	Where   string            `json:"where"`
	Bug     string            `json:"bug"`
	Seeds   int               `json:"seeds"`
	Catches []check.Invariant `json:"catches"`
}

// canarySpec is a canary and the fault mix it runs with: a canary shapes the seed's draw
// toward the interleaving that exposes its bug (as a test would), which keeps the seeds needed
// small and stated.
type canarySpec struct {
	CanaryInfo
	name  Canary
	core  replication.Canary
	shape func(rng *rand.Rand, cfg *Config, f *Faults)
}

var safetyInvariants = []check.Invariant{check.AckedLost, check.Duplicate, check.InconsistentOffsets,
	check.AbortedRead, check.TwoLeaders, check.RefusedWrite, check.CorePanic}

var canarySpecs = []canarySpec{
	{
		CanaryInfo: CanaryInfo{Name: CanaryPromoteWithoutMajority, Where: "core (candidate.go maybeDecide)",
			Bug: "a candidate leads with one promise fewer than a majority", Seeds: 10, Catches: safetyInvariants},
		shape: func(rng *rand.Rand, cfg *Config, f *Faults) {
			f.Isolate = Rate{20, 10, 60}
			f.View = Rate{20, 5, 40}
		},
	},
	{
		CanaryInfo: CanaryInfo{Name: CanarySkipTruncation, Where: "core (follower.go handleAppend)",
			Bug: "a follower keeps a divergent suffix and answers as if it matched", Seeds: 10, Catches: safetyInvariants},
		shape: func(rng *rand.Rand, cfg *Config, f *Faults) {
			f.Isolate = Rate{20, 10, 60}
			f.ProducePercent = 60
		},
	},
	{
		CanaryInfo: CanaryInfo{Name: CanaryCommitOldEpoch, Where: "core (leader.go maybeCommit)",
			Bug: "a leader commits older epochs' entries by counting replicas (Raft figure 8)", Seeds: 300, Catches: safetyInvariants},
		shape: func(rng *rand.Rand, cfg *Config, f *Faults) {
			// Figure 8 needs a leader that appended entries nobody else has (a new leader
			// isolated while clients still reach it), a leader that takes office and dies before
			// its epoch-start entry leaves (it comes back later with a newer last epoch), and a
			// leader that counts old entries and dies right at its first commit; one batch per
			// append and lost messages keep the epoch-start entry from following the old ones.
			cfg.Nodes, cfg.Partitions = 3, 3
			f.MaxAppendBytes = 1
			f.Crash = Rate{20, 10, 40}
			f.LeaderCrashPercent, f.CommitCrashPercent = 30, 30
			f.Isolate, f.LeaderIsolatePercent = Rate{0, 10, 20}, 30
			f.Net.DropPercent = 40
			f.Fsync, f.FsyncLatencyTicks = FsyncAlways, 0
			f.ProducePercent = 60
		},
	},
	{
		CanaryInfo: CanaryInfo{Name: CanaryAcceptStaleEpoch, Where: "core (follower.go receiveAppend)",
			Bug: "a follower accepts appends from a leader of a lower epoch", Seeds: 30, Catches: safetyInvariants},
		shape: func(rng *rand.Rand, cfg *Config, f *Faults) {
			// The follower must hear from two leaders: a bridge (a leader and a candidate on
			// either side of the follower), with the follower's view wrong about the old
			// leader so that it promises the candidate.
			cfg.Nodes = 3
			f.Bridge = Rate{40, 20, 80}
			f.View = Rate{100, 10, 40}
			f.Net = simnet.Knobs{}
			f.Fsync = FsyncAlways
			f.ProducePercent = 60
		},
	},
	{
		CanaryInfo: CanaryInfo{Name: CanaryAckBeforeFsync, Where: "simulator shell (shell.go wrote)",
			Bug: "a write is reported durable before its fsync, and the restart counts as clean", Seeds: 10, Catches: safetyInvariants},
		shape: func(rng *rand.Rand, cfg *Config, f *Faults) {
			f.Fsync, f.FsyncLatencyTicks = FsyncAlways, 3
			f.PowerLoss = Rate{15, 1, 20}
		},
	},
	{
		CanaryInfo: CanaryInfo{Name: CanaryAckBeforeReplication, Where: "simulator shell (shell.go produce)",
			Bug: "acks=quorum is answered at the leader's own append", Seeds: 10, Catches: []check.Invariant{check.AckedLost}},
		shape: func(rng *rand.Rand, cfg *Config, f *Faults) {
			f.Crash = Rate{20, 1, 40}
			f.AcksWeights = [3]int{1, 0, 0}
		},
	},
}

func init() {
	for i := range canarySpecs {
		c := &canarySpecs[i]
		c.name = c.Name
		if c.Where[:4] == "core" {
			c.core = replication.Canary(c.Name)
		}
	}
}

// Canaries lists every canary.
func Canaries() []CanaryInfo {
	out := make([]CanaryInfo, len(canarySpecs))
	for i, c := range canarySpecs {
		out[i] = c.CanaryInfo
	}
	return out
}

// LookupCanary returns the canary of that name.
func LookupCanary(name string) (CanaryInfo, bool) {
	for _, c := range canarySpecs {
		if string(c.Name) == name {
			return c.CanaryInfo, true
		}
	}
	return CanaryInfo{}, false
}

// Caught reports whether a run with canary c caught it: it failed with one of c's invariants.
func Caught(c CanaryInfo, r Result) bool {
	for _, v := range r.Violations {
		if slices.Contains(c.Catches, v.Invariant) {
			return true
		}
	}
	return false
}

func canaryByName(c Canary) canarySpec {
	for _, s := range canarySpecs {
		if s.name == c {
			return s
		}
	}
	return canarySpec{}
}
