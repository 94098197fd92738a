package simulation

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"
)

// Fault classes of the cluster tier only (the protocol tier's replica sets and views are fixed).
// Append only: names are part of the command line.
const (
	// ClassJoin: a new node joins while traffic runs (placement moves replicas onto it).
	ClassJoin Class = "join"
	// ClassDrain: an operator drains a node (`shoal cluster drain`); it stays drained.
	ClassDrain Class = "drain"
	// ClassLeave: SIGTERM: the node hands its leaderships over, stops and leaves the gossip,
	// then starts again on its disk a while later (a rolling restart).
	ClassLeave Class = "leave"
	// ClassRemove: a node is killed for good and an operator forgets it (`shoal cluster remove
	// --force`); a new node joins first when the rest would be fewer than RF.
	ClassRemove Class = "remove"
	// ClassBitFlip: a node crashes and one bit of one of its sealed segments flips; it must
	// refuse the damage cleanly (see clusterBitFlip), then it is removed as above.
	ClassBitFlip Class = "bit-flip"
	// ClassClockSkew: some nodes' clocks (record timestamps and ids) are seconds off.
	ClassClockSkew Class = "clock-skew"
)

// ClusterClasses lists the fault classes of the cluster tier in report order.
func ClusterClasses() []Class {
	return []Class{ClassDrop, ClassDelay, ClassDuplicate, ClassSlow, ClassIsolate, ClassSplit, ClassOneWay, ClassCrash,
		ClassPowerLoss, ClassPause, ClassFsyncError, ClassTornTail, ClassBitFlip, ClassJoin, ClassDrain, ClassLeave,
		ClassRemove, ClassClockSkew}
}

// ParseClusterClasses is ParseClasses for the cluster tier's classes.
func ParseClusterClasses(list string) ([]Class, error) {
	switch strings.TrimSpace(list) {
	case "", "all":
		return ClusterClasses(), nil
	case "none":
		return []Class{}, nil
	}
	var out []Class
	for _, s := range strings.Split(list, ",") {
		c := Class(strings.TrimSpace(s))
		if !slices.Contains(ClusterClasses(), c) {
			return nil, fmt.Errorf("unknown fault class %q for the cluster tier (classes: %s, or all, none)", c, joinClasses(ClusterClasses()))
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// ClusterFaults are the knobs of one cluster-tier run, drawn from its seed (swarm testing: each
// enabled class is on or off by a coin), and the fault schedule they give.
type ClusterFaults struct {
	// Per message: drop % and delay plus jitter, on gossip packets and broker calls alike;
	// duplicate % on gossip packets and replication requests (memnet).
	DropPercent      int
	Delay, Jitter    time.Duration
	DuplicatePercent int
	// Fsync policy of every node, and the period under interval.
	FsyncInterval bool
	SyncEvery     time.Duration
	// TornTailPercent of crashes keep a random prefix of each file's unsynced tail.
	TornTailPercent int
	// Skews are the clock offsets of the nodes (by index; clock-skew).
	Skews []time.Duration
	// DeadGrace of the brokers: how long a member stays dead before its replicas are replaced.
	DeadGrace time.Duration
	// Workload: the pause between a producer's requests and between a consumer's polls, and
	// the acks weights (quorum, leader, none).
	ProduceEvery, PollEvery time.Duration
	AcksWeights             [3]int
	// Schedule: the faults in time order.
	Schedule []ScheduledFault
}

// ScheduledFault is one fault of the schedule: its class, when it starts (from the start of
// the safety phase), how long it lasts, and a victim drawn as a number (the victim is the
// Victim-th eligible node modulo their count, at the time it starts).
type ScheduledFault struct {
	At, For time.Duration
	Class   Class
	Victim  int
}

// drawClusterFaults draws the knobs and the schedule of a safety phase of length d for nodes
// nodes. The classes added since the first soak (duplicate, slow, pause) draw from later, a
// second source, so that earlier seeds keep their schedules.
func drawClusterFaults(rng, later *rand.Rand, enabled []Class, nodes int, d time.Duration) ClusterFaults {
	on := func(c Class) bool { return slices.Contains(enabled, c) && rng.IntN(2) == 0 }
	between := func(lo, hi int) int { return lo + rng.IntN(hi-lo+1) }
	ms := func(lo, hi int) time.Duration { return time.Duration(between(lo, hi)) * time.Millisecond }
	var f ClusterFaults
	if on(ClassDrop) {
		f.DropPercent = between(1, 10)
	}
	if on(ClassDelay) {
		f.Delay, f.Jitter = ms(0, 5), ms(1, 10)
	}
	f.FsyncInterval = rng.IntN(2) == 0
	f.SyncEvery = ms(5, 100)
	f.Skews = make([]time.Duration, nodes+maxJoins)
	if on(ClassClockSkew) {
		for i := range f.Skews {
			if rng.IntN(2) == 0 {
				f.Skews[i] = ms(-5000, 5000)
			}
		}
	}
	if on(ClassTornTail) {
		f.TornTailPercent = between(30, 90)
	}
	f.DeadGrace = ms(800, 2000)
	f.ProduceEvery, f.PollEvery = ms(2, 20), ms(5, 40)
	f.AcksWeights = [3]int{between(2, 10), between(0, 4), between(0, 4)}
	// The schedule: each class that is on happens a drawn number of times at drawn moments.
	add := func(c Class, count int, lo, hi int) {
		for range count {
			at := time.Duration(rng.Int64N(int64(d)*4/5 + 1))
			f.Schedule = append(f.Schedule, ScheduledFault{At: at, For: ms(lo, hi), Class: c, Victim: rng.IntN(1 << 20)})
		}
	}
	for _, c := range []struct {
		class      Class
		most       int
		minMs, max int
	}{
		{ClassIsolate, 3, 200, 1500}, {ClassSplit, 2, 200, 1500}, {ClassOneWay, 3, 200, 1500},
		{ClassCrash, 3, 100, 1500}, {ClassPowerLoss, 1, 100, 800}, {ClassFsyncError, 2, 100, 800},
		{ClassJoin, 2, 0, 0}, {ClassDrain, 1, 0, 0}, {ClassLeave, 2, 200, 1500},
		{ClassRemove, 1, 0, 0}, {ClassBitFlip, 1, 100, 500},
	} {
		if on(c.class) {
			add(c.class, 1+rng.IntN(c.most), c.minMs, c.max)
		}
	}
	if slices.Contains(enabled, ClassDuplicate) && later.IntN(2) == 0 {
		f.DuplicatePercent = 1 + later.IntN(10)
	}
	for _, c := range []struct {
		class      Class
		most       int
		minMs, max int
	}{{ClassSlow, 3, 200, 1500}, {ClassPause, 2, 100, 1500}} {
		if slices.Contains(enabled, c.class) && later.IntN(2) == 0 {
			for range 1 + later.IntN(c.most) {
				at := time.Duration(later.Int64N(int64(d)*4/5 + 1))
				f.Schedule = append(f.Schedule, ScheduledFault{At: at, Class: c.class, Victim: later.IntN(1 << 20),
					For: time.Duration(c.minMs+later.IntN(c.max-c.minMs+1)) * time.Millisecond})
			}
		}
	}
	sort.SliceStable(f.Schedule, func(i, j int) bool { return f.Schedule[i].At < f.Schedule[j].At })
	return f
}

// String is a one-line description of the mix.
func (f ClusterFaults) String() string {
	var parts []string
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	if f.DropPercent > 0 {
		add("drop=%d%%", f.DropPercent)
	}
	if f.Delay > 0 || f.Jitter > 0 {
		add("delay=%v+%v", f.Delay, f.Jitter)
	}
	if f.DuplicatePercent > 0 {
		add("duplicate=%d%%", f.DuplicatePercent)
	}
	counts := map[Class]int{}
	for _, s := range f.Schedule {
		counts[s.Class]++
	}
	for _, c := range ClusterClasses() {
		if counts[c] > 0 {
			add("%s×%d", c, counts[c])
		}
	}
	skewed := 0
	for _, s := range f.Skews {
		if s != 0 {
			skewed++
		}
	}
	if skewed > 0 {
		add("clock-skew×%d", skewed)
	}
	if f.TornTailPercent > 0 {
		add("torn-tail=%d%%", f.TornTailPercent)
	}
	if f.FsyncInterval {
		add("fsync=interval/%v", f.SyncEvery)
	} else {
		add("fsync=always")
	}
	add("dead-grace=%v produce-every=%v poll-every=%v acks=%v", f.DeadGrace, f.ProduceEvery, f.PollEvery, f.AcksWeights)
	return strings.Join(parts, " ")
}
