package simulation

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/shoalmq/shoal/simulation/check"
)

// Summary aggregates the results of many seeds, in seed order (so it is the same for the
// same seeds whatever the number of workers).
type Summary struct {
	// Tier of the seeds; TickMillis the length of the ticks below in milliseconds (50 in the
	// protocol tier's simulated time, 1 in the cluster tier's wall-clock time).
	Tier       string `json:"tier"`
	TickMillis int64  `json:"tick_ms"`
	Seeds      int    `json:"seeds"`
	// Faults: injections by class over all seeds; SeedsWith: seeds whose mix had the class.
	Faults    map[Class]int `json:"faults"`
	SeedsWith map[Class]int `json:"seeds_with_fault"`
	// Ops: operations by kind and result, and produces by acks level and result.
	Ops map[string]int `json:"ops"`
	// Invariants: every invariant with its violation count (0 included); FailedSeeds: the
	// failing seeds by kind.
	Invariants  map[check.Invariant]int `json:"invariants"`
	FailedSeeds map[check.Kind][]uint64 `json:"failed_seeds"`
	Counts      check.Counts            `json:"counts"`
	// Failover: leaderless ticks after a leader failed, by cause (crash, power-loss,
	// fsync-error); Unfinished: failures after which no new leader took over before the run
	// ended. Converge: ticks from healing to convergence.
	Failover   map[Class]Percentiles `json:"failover_ticks"`
	Unfinished int                   `json:"failover_unfinished"`
	Converge   Percentiles           `json:"converge_ticks"`
	// RFRestore (cluster tier): ticks from the loss of a replica until every partition was
	// back at RF in sync.
	RFRestore Percentiles `json:"rf_restore_ticks"`
	Storms    int         `json:"storm_ticks"`
	Steps     int64       `json:"steps"`
	// Failures: the failing results (at most maxReported, the first in seed order).
	Failures []Result `json:"failures,omitempty"`
	// Single is the result of a summary of one seed.
	Single *Result `json:"-"`
	// Drawn (cluster tier, with ClusterConfig.Timeline) is the result with the timeline to
	// draw: the first failing seed's, or the first seed's when none failed.
	Drawn *Result `json:"-"`

	failover  map[Class][]int64
	converge  []int64
	rfRestore []int64
}

// maxReported bounds the failing results a summary keeps; maxEvidence the violations printed
// for each.
const (
	maxReported = 10
	maxEvidence = 5
	maxNotes    = 40
)

// Percentiles of a sample of ticks; the millisecond forms are at TickMillis per tick.
type Percentiles struct {
	N   int   `json:"n"`
	P50 int64 `json:"p50"`
	P99 int64 `json:"p99"`
	Max int64 `json:"max"`
}

func percentiles(xs []int64) Percentiles {
	if len(xs) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	at := func(q float64) int64 { return s[min(len(s)-1, int(q*float64(len(s)-1)+0.5))] }
	return Percentiles{N: len(s), P50: at(0.50), P99: at(0.99), Max: s[len(s)-1]}
}

// NewSummary returns an empty summary.
func NewSummary() *Summary {
	s := &Summary{Faults: map[Class]int{}, SeedsWith: map[Class]int{}, Ops: map[string]int{},
		Invariants: map[check.Invariant]int{}, FailedSeeds: map[check.Kind][]uint64{},
		Failover: map[Class]Percentiles{}, failover: map[Class][]int64{}}
	for _, i := range check.Invariants() {
		s.Invariants[i] = 0
	}
	return s
}

// Add adds one seed's result.
func (s *Summary) Add(r Result) {
	if s.Seeds == 0 {
		s.Tier, s.TickMillis = r.Tier, r.TickMillis()
	}
	s.Seeds++
	for c, n := range r.Faulty {
		s.Faults[c] += n
		if n > 0 {
			s.SeedsWith[c]++
		}
	}
	for k, n := range r.Ops {
		s.Ops[k] += n
	}
	for i, n := range r.Invariants {
		s.Invariants[i] += n
	}
	c := &s.Counts
	c.LostLeader += r.Counts.LostLeader
	c.LostNone += r.Counts.LostNone
	c.Excused += r.Counts.Excused
	c.UnknownSurvived += r.Counts.UnknownSurvived
	c.UnknownLost += r.Counts.UnknownLost
	c.Checked += r.Counts.Checked
	c.Observed += r.Counts.Observed
	c.GroupDelivered += r.Counts.GroupDelivered
	c.GroupExcused += r.Counts.GroupExcused
	for _, f := range r.Failovers {
		if f.Ticks >= 0 {
			s.failover[f.Cause] = append(s.failover[f.Cause], f.Ticks)
			s.Failover[f.Cause] = percentiles(s.failover[f.Cause])
		} else {
			s.Unfinished++
		}
	}
	if r.ConvergeTicks >= 0 {
		s.converge = append(s.converge, r.ConvergeTicks)
	}
	s.Converge = percentiles(s.converge)
	s.rfRestore = append(s.rfRestore, r.RFRestores...)
	s.RFRestore = percentiles(s.rfRestore)
	s.Storms += r.Storms
	s.Steps += int64(r.Steps)
	if r.Kind != check.KindNone {
		s.FailedSeeds[r.Kind] = append(s.FailedSeeds[r.Kind], r.Seed)
		if len(s.Failures) < maxReported {
			s.Failures = append(s.Failures, r)
		}
	}
}

// Kind returns the worst failure of the summary: a simulator crash, then safety, then
// liveness.
func (s *Summary) Kind() check.Kind {
	for _, k := range []check.Kind{check.KindCrash, check.KindSafety, check.KindLiveness} {
		if len(s.FailedSeeds[k]) > 0 {
			return k
		}
	}
	return check.KindNone
}

// RunSeeds runs cfg for each seed on workers goroutines and returns the summary in seed order;
// progress, if not nil, is called (from one goroutine at a time) after each seed. It drops
// cfg.Trace (runs in parallel would interleave it) and the results' timelines.
func RunSeeds(cfg Config, seeds []uint64, workers int, progress func(done int, r Result)) *Summary {
	return runSeeds(seeds, workers, progress, func(seed uint64) Result {
		c := cfg
		c.Seed, c.Trace = seed, nil
		r := Run(c)
		r.Timeline, r.History = nil, nil
		return r
	})
}

// runSeeds runs one seed at a time on each of workers goroutines, reports each result to
// progress (serialised) and sums them up; a single seed's result is kept whole.
func runSeeds(seeds []uint64, workers int, progress func(done int, r Result), run func(seed uint64) Result) *Summary {
	results := make([]Result, len(seeds))
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := run(seeds[i])
				results[i] = r
				if progress != nil {
					mu.Lock()
					done++
					progress(done, r)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range seeds {
		next <- i
	}
	close(next)
	wg.Wait()
	s := NewSummary()
	for _, r := range results {
		s.Add(r)
	}
	if len(results) == 1 {
		s.Single = &results[0]
	}
	return s
}

// WriteText writes the summary for a person.
func (s *Summary) WriteText(w io.Writer) {
	if s.Tier == TierCluster {
		fmt.Fprintf(w, "seeds: %d (tier cluster: durations in wall-clock ms)\n", s.Seeds)
	} else {
		fmt.Fprintf(w, "seeds: %d (%d steps)\n", s.Seeds, s.Steps)
	}
	fmt.Fprintf(w, "faults injected by class (injections, seeds with the class):\n")
	classes := Classes()
	if s.Tier == TierCluster {
		classes = ClusterClasses()
		for _, extra := range []Class{"drain refused", "bit-flip refused at start", "bit-flip refused on read", "bit-flip not reached", "remove refused: forgotten"} {
			if s.Faults[extra] > 0 {
				classes = append(classes, extra)
			}
		}
	}
	for _, c := range classes {
		fmt.Fprintf(w, "  %-26s %9d  %6d seeds\n", c, s.Faults[c], s.SeedsWith[c])
	}
	fmt.Fprintf(w, "operations by result:\n")
	keys := make([]string, 0, len(s.Ops))
	for k := range s.Ops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %-22s %9d\n", k, s.Ops[k])
	}
	fmt.Fprintf(w, "invariants (violations; every one must be 0):\n")
	for _, i := range check.Invariants() {
		if s.Tier != TierCluster && (i == check.GroupRedelivered || i == check.GroupLost) {
			continue // the protocol tier has no consumer groups
		}
		fmt.Fprintf(w, "  %-22s %9d\n", i, s.Invariants[i])
	}
	c := s.Counts
	fmt.Fprintf(w, "counted, not failures: acks=leader lost %d, acks=none lost %d, excused (majority crashed under fsync=interval) %d, "+
		"indeterminate produces survived %d / lost %d; committed entries checked %d, entries read by consumers %d",
		c.LostLeader, c.LostNone, c.Excused, c.UnknownSurvived, c.UnknownLost, c.Checked, c.Observed)
	if s.Tier == TierCluster {
		fmt.Fprintf(w, "; group entries delivered %d, group violations excused (majority crashed under fsync=interval) %d", c.GroupDelivered, c.GroupExcused)
	}
	fmt.Fprintln(w)
	unit := max(s.TickMillis, 1)
	if s.Tier == TierCluster {
		fmt.Fprintf(w, "failover (from a leader's crash, removal or leave until the first acks=quorum produce sent after it is acknowledged; other faults go on meanwhile):\n")
		for _, c := range []Class{ClassCrash, ClassPowerLoss, ClassFsyncError, ClassBitFlip, ClassRemove, ClassLeave} {
			fmt.Fprintf(w, "  after %-12s %s\n", c, s.Failover[c].format(unit))
		}
		fmt.Fprintf(w, "  %d leader losses had no acknowledged produce before the phase ended\n", s.Unfinished)
		fmt.Fprintf(w, "convergence after healing: %s\n", s.Converge.format(unit))
		fmt.Fprintf(w, "time to restore RF (from a replica's loss until every partition has RF voters in sync): %s\n", s.RFRestore.format(unit))
	} else {
		fmt.Fprintf(w, "failover (leaderless time from a leader's failure until a newer leader can commit; other faults go on meanwhile):\n")
		for _, c := range []Class{ClassCrash, ClassPowerLoss, ClassFsyncError} {
			fmt.Fprintf(w, "  after %-12s %s\n", c, s.Failover[c].String())
		}
		fmt.Fprintf(w, "  %d leader failures had no successor before the run ended\n", s.Unfinished)
		fmt.Fprintf(w, "convergence after healing: %s\n", s.Converge.String())
		fmt.Fprintf(w, "time to restore RF: not modelled in the protocol tier (replica sets are fixed)\n")
	}
	if s.Storms > 0 {
		fmt.Fprintf(w, "ticks with a message storm (more than %d messages due): %d\n", maxDeliveriesPerTick, s.Storms)
	}
	var failed []string
	for _, k := range []check.Kind{check.KindSafety, check.KindLiveness, check.KindCrash} {
		if n := len(s.FailedSeeds[k]); n > 0 {
			failed = append(failed, fmt.Sprintf("%s %d", k, n))
		}
	}
	if len(failed) == 0 {
		fmt.Fprintf(w, "result: every seed passed\n")
	} else {
		fmt.Fprintf(w, "result: FAILED seeds: %s\n", strings.Join(failed, ", "))
	}
}

func (p Percentiles) String() string { return p.format(TickMillis) }

// format renders the percentiles of ticks of unit ms (in ms alone when a tick is 1 ms).
func (p Percentiles) format(unit int64) string {
	switch {
	case p.N == 0:
		return "no samples"
	case unit == 1:
		return fmt.Sprintf("n=%d p50 %d ms, p99 %d ms, max %d ms", p.N, p.P50, p.P99, p.Max)
	}
	return fmt.Sprintf("n=%d p50 %d ticks (%d ms), p99 %d ticks (%d ms), max %d ticks (%d ms)", p.N,
		p.P50, p.P50*unit, p.P99, p.P99*unit, p.Max, p.Max*unit)
}

// WriteFailure writes one failing seed: the invariant, the evidence and the command that
// replays it (reproduce is the command line without --seed).
func (r Result) WriteFailure(w io.Writer, reproduce string) {
	fmt.Fprintf(w, "seed %d FAILED (%s): %d nodes, %d partitions, faults: %s\n", r.Seed, r.Kind, r.Nodes, r.Partitions, r.FaultMix)
	if r.Canary != "" {
		fmt.Fprintf(w, "  canary: %s\n", r.Canary)
	}
	for i, v := range r.Violations {
		if i == maxEvidence {
			fmt.Fprintf(w, "  ... %d more violations\n", len(r.Violations)-i)
			break
		}
		fmt.Fprintf(w, "  %s\n", indent(v.String()))
	}
	if r.Crash != "" {
		fmt.Fprintf(w, "  simulator crash: %s\n  %s\n", r.Crash, indent(r.Stack))
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(w, "  events of the run:\n")
		for _, n := range r.Notes[max(0, len(r.Notes)-maxNotes):] {
			fmt.Fprintf(w, "    %s\n", n)
		}
	}
	tier := ""
	if r.Tier == TierCluster {
		tier = " --tier cluster"
	}
	fmt.Fprintf(w, "  reproduce: shoal sim%s --seed %d%s\n", tier, r.Seed, reproduce)
}

func indent(s string) string { return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") }
