package simulation

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/shoalmq/shoal/simulation/simnet"
)

// Class is a class of fault; `shoal sim --faults` takes a list of them.
type Class string

// Fault classes. Append only: names are part of the command line.
const (
	// Network, per message.
	ClassDrop      Class = "drop"
	ClassDelay     Class = "delay"
	ClassDuplicate Class = "duplicate"
	ClassReorder   Class = "reorder"
	// Network, per link, for a while.
	ClassSlow    Class = "slow"
	ClassIsolate Class = "isolate"
	ClassSplit   Class = "split"
	ClassOneWay  Class = "one-way"
	// ClassBridge: two halves that cannot talk, and one node that talks to both (Jepsen's
	// bridge): a leader and a candidate on either side share a follower.
	ClassBridge Class = "bridge"
	// Process.
	ClassCrash     Class = "crash"
	ClassPowerLoss Class = "power-loss"
	ClassPause     Class = "pause"
	// Disk.
	ClassFsyncError Class = "fsync-error"
	ClassTornTail   Class = "torn-tail"
	// Membership: a node's view marks a live node dead for a while.
	ClassView Class = "view"
)

// Classes lists every fault class in report order.
func Classes() []Class {
	return []Class{ClassDrop, ClassDelay, ClassDuplicate, ClassReorder, ClassSlow, ClassIsolate, ClassSplit,
		ClassOneWay, ClassBridge, ClassCrash, ClassPowerLoss, ClassPause, ClassFsyncError, ClassTornTail, ClassView}
}

// ParseClasses parses a comma-separated list of classes; "all" (or "") is every class and
// "none" is no fault at all.
func ParseClasses(list string) ([]Class, error) {
	switch strings.TrimSpace(list) {
	case "", "all":
		return Classes(), nil
	case "none":
		return []Class{}, nil
	}
	var out []Class
	for _, s := range strings.Split(list, ",") {
		c := Class(strings.TrimSpace(s))
		if !slices.Contains(Classes(), c) {
			return nil, fmt.Errorf("unknown fault class %q (classes: %s, or all, none)", c, joinClasses(Classes()))
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

func joinClasses(cs []Class) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ",")
}

// Fsync is the disk's fsync policy (storage's always and interval).
type Fsync string

// Fsync policies. Under always a write is durable once synced, a moment after it is written
// (group commit), and a crash loses only what was never reported durable, so a replica
// restarts clean. Under interval the durable end is the log end (the page cache is the ack
// point), a syncer runs every SyncIntervalTicks, and a crash loses the unsynced tail, so a
// replica restarts unclean (a learner until it caught up).
const (
	FsyncAlways   Fsync = "always"
	FsyncInterval Fsync = "interval"
)

// Rate is how often a fault starts and how long it lasts: each tick, a new one starts with
// probability PerMille/1000 (for fsync-error: per sync of a replica with unsynced batches) and
// lasts a number of ticks drawn from [MinTicks, MaxTicks].
type Rate struct {
	PerMille           int `json:"per_mille"`
	MinTicks, MaxTicks int `json:"-"`
}

// On reports whether the fault can happen.
func (r Rate) On() bool { return r.PerMille > 0 }

// Faults are the fault knobs of one run, all in one place (STYLE principle 18). A seed draws
// them (Draw): each enabled class is switched on or off by a coin and given a random strength,
// so every seed runs a different mix (swarm testing).
type Faults struct {
	// Net: per-message loss, duplication, delay, jitter and reordering.
	Net simnet.Knobs
	// Link faults.
	Slow, Isolate, Split, OneWay, Bridge Rate
	// LeaderIsolatePercent of new leaders are isolated (class isolate) a few ticks after they
	// take office, for Isolate's drawn ticks: clients still reach them, so they append records
	// no other replica gets.
	LeaderIsolatePercent int
	// SlowTicks: the extra delay of a slow link.
	SlowTicks int
	// Process faults. A crash (and every node of a power loss) is down for the drawn ticks and
	// then restarts from its disk; a pause stops a node's ticks and deliveries (SIGSTOP).
	Crash, PowerLoss, Pause Rate
	// LeaderCrashPercent of new leaders crash (class crash) as they take office: their first
	// writes (the epoch-start entry) reach the disk, their first messages never leave. Such
	// leaders, coming back later with a newer last epoch than the others, make the
	// interleavings of Raft's figure 8.
	LeaderCrashPercent int
	// CommitCrashPercent of leaders crash (class crash) at the first advance of their commit
	// point, right after answering the producers it covers and before their messages of that
	// moment leave: the followers learn neither the commit point nor what the leader sent next
	// (for a new leader: often its epoch-start entry).
	CommitCrashPercent int
	// Disk faults. FsyncError: a failed fsync stops the replica (its unsynced tail is lost)
	// until it restarts after the drawn ticks, recovering as after a crash (an unclean
	// learner under fsync=interval; under always a restart is clean, as actors/partition
	// decides: nothing unsynced was ever reported durable). TornTailPercent of crashes tear the last
	// unsynced batch only, the earlier ones having reached the disk.
	FsyncError      Rate
	TornTailPercent int
	// View: a node's membership view marks a live node dead for the drawn ticks.
	View Rate

	// Fsync policy; SyncIntervalTicks (interval) and FsyncLatencyTicks (always: a write is
	// synced this many ticks after it is written, at the latest).
	Fsync                                Fsync
	SyncIntervalTicks, FsyncLatencyTicks int
	// DetectTicks: a node unreachable this long is dead in the others' views (memberlist's
	// detection; each observer adds up to DetectJitterTicks of its own).
	DetectTicks, DetectJitterTicks int
	// MaxAppendBytes of the cores (1: one batch per append message, more interleavings).
	MaxAppendBytes int

	// Workload: each tick, each partition gets a produce with ProducePercent and each consumer
	// polls with PollPercent; acks levels are drawn with the weights AcksWeights (quorum,
	// leader, none).
	ProducePercent, PollPercent int
	AcksWeights                 [3]int
}

// Draw picks a fault mix from the classes enabled, and the disk, timing and workload knobs.
func Draw(rng *rand.Rand, enabled []Class) Faults {
	on := func(c Class) bool { return slices.Contains(enabled, c) && rng.IntN(2) == 0 }
	between := func(lo, hi int) int { return lo + rng.IntN(hi-lo+1) }
	var f Faults
	if on(ClassDrop) {
		f.Net.DropPercent = between(1, 20)
	}
	if on(ClassDelay) {
		f.Net.DelayTicks, f.Net.JitterTicks = between(0, 2), between(1, 4)
	}
	if on(ClassDuplicate) {
		f.Net.DuplicatePercent = between(1, 10)
	}
	if on(ClassReorder) {
		f.Net.ReorderPercent, f.Net.ReorderTicks = between(1, 20), between(1, 6)
	}
	if on(ClassSlow) {
		f.Slow, f.SlowTicks = Rate{between(2, 10), 10, 80}, between(2, 8)
	}
	if on(ClassIsolate) {
		f.Isolate = Rate{between(2, 10), 5, 60}
		if rng.IntN(2) == 0 {
			f.LeaderIsolatePercent = between(5, 30)
		}
	}
	if on(ClassSplit) {
		f.Split = Rate{between(2, 8), 5, 60}
	}
	if on(ClassOneWay) {
		f.OneWay = Rate{between(2, 10), 5, 60}
	}
	if on(ClassBridge) {
		f.Bridge = Rate{between(2, 8), 5, 60}
	}
	if on(ClassCrash) {
		f.Crash = Rate{between(2, 12), 1, 60}
		if rng.IntN(2) == 0 {
			f.LeaderCrashPercent = between(5, 30)
		}
		if rng.IntN(2) == 0 {
			f.CommitCrashPercent = between(1, 5)
		}
	}
	if on(ClassPowerLoss) {
		f.PowerLoss = Rate{between(1, 4), 1, 30}
	}
	if on(ClassPause) {
		f.Pause = Rate{between(2, 10), 2, 40}
	}
	if on(ClassFsyncError) {
		f.FsyncError = Rate{between(1, 10), 1, 30}
	}
	if on(ClassTornTail) {
		f.TornTailPercent = between(20, 80)
	}
	if on(ClassView) {
		f.View = Rate{between(2, 15), 2, 40}
	}
	f.Fsync = FsyncAlways
	if rng.IntN(2) == 0 {
		f.Fsync = FsyncInterval
	}
	f.SyncIntervalTicks = between(1, 20)
	f.FsyncLatencyTicks = between(0, 2)
	f.DetectTicks, f.DetectJitterTicks = between(4, 20), between(0, 6)
	f.MaxAppendBytes = []int{1, 4 << 10, 1 << 20}[rng.IntN(3)]
	f.ProducePercent, f.PollPercent = between(10, 60), between(5, 40)
	f.AcksWeights = [3]int{between(1, 10), between(0, 4), between(0, 4)}
	return f
}

// String is a one-line description of the mix, for the report of a failing seed.
func (f Faults) String() string {
	var parts []string
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	n := f.Net
	if n.DropPercent > 0 {
		add("drop=%d%%", n.DropPercent)
	}
	if n.DelayTicks > 0 || n.JitterTicks > 0 {
		add("delay=%d+%d", n.DelayTicks, n.JitterTicks)
	}
	if n.DuplicatePercent > 0 {
		add("duplicate=%d%%", n.DuplicatePercent)
	}
	if n.ReorderPercent > 0 {
		add("reorder=%d%%/%d", n.ReorderPercent, n.ReorderTicks)
	}
	for _, r := range []struct {
		c Class
		r Rate
	}{{ClassSlow, f.Slow}, {ClassIsolate, f.Isolate}, {ClassSplit, f.Split}, {ClassOneWay, f.OneWay}, {ClassBridge, f.Bridge},
		{ClassCrash, f.Crash}, {ClassPowerLoss, f.PowerLoss}, {ClassPause, f.Pause}, {ClassFsyncError, f.FsyncError}, {ClassView, f.View}} {
		if r.r.On() {
			add("%s=%d‰", r.c, r.r.PerMille)
		}
	}
	if f.LeaderIsolatePercent > 0 {
		add("leader-isolate=%d%%", f.LeaderIsolatePercent)
	}
	if f.LeaderCrashPercent > 0 {
		add("leader-crash=%d%%", f.LeaderCrashPercent)
	}
	if f.CommitCrashPercent > 0 {
		add("commit-crash=%d%%", f.CommitCrashPercent)
	}
	if f.TornTailPercent > 0 {
		add("torn-tail=%d%%", f.TornTailPercent)
	}
	if f.Fsync == FsyncInterval {
		add("fsync=interval/%d", f.SyncIntervalTicks)
	} else {
		add("fsync=always+%d", f.FsyncLatencyTicks)
	}
	add("detect=%d+%d", f.DetectTicks, f.DetectJitterTicks)
	add("max-append=%d", f.MaxAppendBytes)
	add("produce=%d%% poll=%d%% acks=%v", f.ProducePercent, f.PollPercent, f.AcksWeights)
	return strings.Join(parts, " ")
}
