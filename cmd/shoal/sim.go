package main

// `shoal sim`: the seeded chaos simulator (simulation/). The protocol tier runs replicas of the
// replication core (actors/replication) on a simulated network and disk; the cluster tier
// (--tier cluster) runs whole nodes (brokers, gossip, storage) in this process on an in-memory
// network and crashable disks. Both draw a fault mix per seed, run a safety phase with faults
// and a liveness phase with every fault healed, and check the history of produces and polls
// (docs/design.md, "Simulation as built").
//
// Exit codes: 0 every seed passed (or --list-canaries), 1 an I/O error (writing --html), 2 a
// usage error, 3 a safety violation, 4 a liveness violation, 5 the simulator itself crashed.
// With several failing seeds the worst kind wins: crash, then safety, then liveness.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoalmq/shoal/simulation"
	"github.com/shoalmq/shoal/simulation/check"
)

// Exit codes of `shoal sim` by failure kind.
const (
	exitSimSafety   = 3
	exitSimLiveness = 4
	exitSimCrash    = 5
)

const usageSim = "sim [--seed N|random] [--seeds K] [--tier protocol|cluster] [--nodes N] [--partitions P] " +
	"[--duration D] [--liveness D] [--faults LIST] [--canary NAME] [--list-canaries] [--workers N] " +
	"[--trace] [--json] [--html FILE]"

// simFlags is a parsed `shoal sim` command line.
type simFlags struct {
	seed          uint64
	seedGiven     bool
	seeds         int
	seedsGiven    bool
	tier          string
	cfg           simulation.Config
	cluster       simulation.ClusterConfig
	faults        string
	listCanaries  bool
	workers       int
	trace, asJSON bool
	htmlPath      string
	// reproduce is the part of the command line that replays a seed (everything but the seeds).
	reproduce string
}

// runSim is `shoal sim`.
func runSim(args []string, stdout, stderr io.Writer) int {
	f, code, ok := parseSimFlags(args, stderr)
	if !ok {
		return code
	}
	if f.listCanaries {
		return listCanaries(stdout, f.asJSON)
	}
	seeds := make([]uint64, f.seeds)
	for i := range seeds {
		seeds[i] = f.seed + uint64(i)
	}
	if f.trace && f.seeds != 1 {
		fmt.Fprintln(stderr, "shoal sim: --trace replays one seed: give --seed N without --seeds")
		return exitUsage
	}
	if f.trace && f.tier == simulation.TierProtocol {
		cfg := f.cfg
		cfg.Seed, cfg.Trace = f.seed, stdout
		simulation.Run(cfg)
	}
	start := time.Now()
	progress := newProgress(stderr, len(seeds), start)
	var sum *simulation.Summary
	if f.tier == simulation.TierCluster {
		cfg := f.cluster
		if f.trace {
			cfg.Log = stdout
		}
		sum = simulation.RunClusterSeeds(cfg, seeds, f.workers, progress.update)
	} else {
		sum = simulation.RunSeeds(f.cfg, seeds, f.workers, progress.update)
	}
	progress.finish()
	elapsed := time.Since(start)
	if f.htmlPath != "" {
		if code := writeSimHTML(f, sum, seeds, stderr); code != exitOK {
			return code
		}
	}
	if f.asJSON {
		out := struct {
			Tier      string              `json:"tier"`
			FirstSeed uint64              `json:"first_seed"`
			Canary    simulation.Canary   `json:"canary,omitempty"`
			Reproduce string              `json:"reproduce_flags"`
			Seconds   float64             `json:"seconds"`
			Result    string              `json:"result"`
			Summary   *simulation.Summary `json:"summary"`
		}{f.tier, f.seed, f.cfg.Canary, strings.TrimSpace(f.reproduce), elapsed.Seconds(), resultWord(sum.Kind()), sum}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "shoal sim: %v\n", err)
			return exitFail
		}
	} else {
		fmt.Fprintf(stdout, "shoal sim: tier %s, seeds %d..%d, %.1fs (%.1f seeds/min)\n", f.tier, f.seed, f.seed+uint64(f.seeds)-1,
			elapsed.Seconds(), float64(f.seeds)/elapsed.Minutes())
		if r := sum.Single; r != nil {
			fmt.Fprintf(stdout, "seed %d: %d nodes, %d partitions, faults: %s\n", r.Seed, r.Nodes, r.Partitions, r.FaultMix)
		}
		if f.cfg.Canary != "" {
			writeCanaryVerdict(stdout, f.cfg.Canary, sum)
		}
		sum.WriteText(stdout)
		for _, r := range sum.Failures {
			r.WriteFailure(stdout, f.reproduce)
		}
	}
	return simExitCode(sum.Kind())
}

func resultWord(k check.Kind) string {
	if k == check.KindNone {
		return "pass"
	}
	return string(k)
}

func simExitCode(k check.Kind) int {
	switch k {
	case check.KindSafety:
		return exitSimSafety
	case check.KindLiveness:
		return exitSimLiveness
	case check.KindCrash:
		return exitSimCrash
	}
	return exitOK
}

// parseSimFlags parses and validates the command line; ok false means return code.
func parseSimFlags(args []string, stderr io.Writer) (simFlags, int, bool) {
	fs := newFlagSet("sim", usageSim, stderr)
	seed := fs.String("seed", "0", "first seed, or random (the seed chosen is printed)")
	seeds := fs.Int("seeds", 1, "number of seeds, from --seed up (with --canary: that canary's stated seeds)")
	tier := fs.String("tier", "protocol", "protocol (replicas of the replication core) or cluster (whole nodes in one process)")
	nodes := fs.Int("nodes", 0, "protocol tier: replicas per partition, 3 or 5; cluster tier: nodes at the start, 3..5 (0: drawn from each seed)")
	partitions := fs.Int("partitions", 0, fmt.Sprintf("partitions: 1..%d, cluster tier 1..%d (0: drawn from each seed)", simulation.MaxPartitions, simulation.MaxClusterPartitions))
	duration := fs.String("duration", strconv.Itoa(simulation.DefaultSafetyTicks),
		fmt.Sprintf("length of the safety phase (with faults): ticks, or a duration such as 30s (a tick is %d ms); cluster tier default %v",
			simulation.TickMillis, simulation.DefaultClusterSafety))
	liveness := fs.String("liveness", strconv.Itoa(simulation.DefaultLivenessTicks),
		fmt.Sprintf("bound of the liveness phase (after healing), ticks or a duration; cluster tier default %v", simulation.DefaultClusterLiveness))
	faults := fs.String("faults", "all", "fault classes a seed may draw from, comma-separated, or all, none; protocol tier: "+
		joinSimClasses(simulation.Classes())+"; cluster tier: "+joinSimClasses(simulation.ClusterClasses()))
	canary := fs.String("canary", "", "plant a known bug (see --list-canaries); the run must fail")
	list := fs.Bool("list-canaries", false, "list the canaries with the seeds each needs, and exit")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "seeds run in parallel (cluster tier default: 1, each seed is a whole cluster)")
	trace := fs.Bool("trace", false, "print every delivered message and event of one seed to stdout (cluster tier: the events and the nodes' logs), then the summary")
	asJSON := fs.Bool("json", false, "print the summary as one JSON object")
	htmlPath := fs.String("html", "", "write a timeline page of the seed (of the first failing seed, with several) to FILE")
	if code, ok := parseFlags(fs, args); !ok {
		return simFlags{}, code, false
	}
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	f := simFlags{seeds: *seeds, seedsGiven: given["seeds"], seedGiven: given["seed"], tier: *tier, faults: *faults,
		listCanaries: *list, workers: *workers, trace: *trace, asJSON: *asJSON, htmlPath: *htmlPath}
	var errs []error
	switch *tier {
	case simulation.TierProtocol:
	case simulation.TierCluster:
		if !given["workers"] {
			f.workers = 1
		}
		for _, name := range []string{"canary", "list-canaries"} {
			if given[name] {
				errs = append(errs, fmt.Errorf("--%s: the cluster tier has no canaries yet: use --tier protocol", name))
			}
		}
	default:
		errs = append(errs, fmt.Errorf("--tier %q: want protocol or cluster", *tier))
	}
	if *seed == "random" {
		f.seed = rand.Uint64() >> 1
		fmt.Fprintf(stderr, "shoal sim: --seed random chose %d\n", f.seed)
	} else if v, err := strconv.ParseUint(*seed, 10, 64); err != nil {
		errs = append(errs, fmt.Errorf("--seed %q: want a number or random", *seed))
	} else {
		f.seed = v
	}
	parse := simulation.ParseClasses
	if *tier == simulation.TierCluster {
		parse = simulation.ParseClusterClasses
	}
	classes, err := parse(*faults)
	if err != nil {
		errs = append(errs, fmt.Errorf("--faults: %w", err))
	}
	safety, err := parseTicks(*duration)
	if err != nil {
		errs = append(errs, fmt.Errorf("--duration: %w", err))
	}
	live, err := parseTicks(*liveness)
	if err != nil {
		errs = append(errs, fmt.Errorf("--liveness: %w", err))
	}
	if *tier == simulation.TierCluster {
		f.cluster = simulation.ClusterConfig{Nodes: *nodes, Partitions: *partitions, Classes: classes, Timeline: f.htmlPath != ""}
		if given["duration"] {
			f.cluster.Safety = ticksDuration(safety)
		}
		if given["liveness"] {
			f.cluster.Liveness = ticksDuration(live)
		}
		if err := f.cluster.Validate(); err != nil {
			errs = append(errs, err)
		}
	} else {
		f.cfg = simulation.Config{Nodes: *nodes, Partitions: *partitions, SafetyTicks: safety, LivenessTicks: live,
			Classes: classes, Canary: simulation.Canary(*canary)}
		if info, ok := simulation.LookupCanary(*canary); ok && !f.seedsGiven {
			f.seeds = info.Seeds
		}
		if err := f.cfg.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if f.seeds < 1 {
		errs = append(errs, fmt.Errorf("--seeds %d: want at least 1", f.seeds))
	}
	if f.workers < 1 {
		errs = append(errs, fmt.Errorf("--workers %d: want at least 1", f.workers))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(stderr, "shoal sim: %v\n", err)
		fs.Usage()
		return simFlags{}, exitUsage, false
	}
	for _, name := range []string{"nodes", "partitions", "duration", "liveness", "faults", "canary"} {
		if given[name] {
			f.reproduce += fmt.Sprintf(" --%s %s", name, fs.Lookup(name).Value.String())
		}
	}
	return f, exitOK, true
}

// ticksDuration converts parsed ticks back to wall time (the cluster tier's phases).
func ticksDuration(ticks int) time.Duration {
	return time.Duration(ticks) * simulation.TickMillis * time.Millisecond
}

// parseTicks reads a number of ticks, or a duration converted at the tick length.
func parseTicks(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("%d ticks: want >= 0", n)
		}
		return n, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: want ticks (an integer) or a duration such as 30s", s)
	}
	return int(d / (simulation.TickMillis * time.Millisecond)), nil
}

func joinSimClasses(classes []simulation.Class) string {
	var s []string
	for _, c := range classes {
		s = append(s, string(c))
	}
	return strings.Join(s, ",")
}

func listCanaries(w io.Writer, asJSON bool) int {
	list := simulation.Canaries()
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(list); err != nil {
			return exitFail
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CANARY\tSEEDS\tWHERE\tBUG")
	for _, c := range list {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", c.Name, c.Seeds, c.Where, c.Bug)
	}
	tw.Flush()
	fmt.Fprintln(w, "SEEDS: seeds 0..SEEDS-1 of `shoal sim --canary NAME` catch it (at least one fails with a safety invariant);")
	fmt.Fprintln(w, "`go test ./simulation -run TestSimCanaries` checks every one.")
	return exitOK
}

// writeCanaryVerdict says whether the planted bug was caught: a failure with one of its
// invariants (a liveness failure alone does not count).
func writeCanaryVerdict(w io.Writer, c simulation.Canary, sum *simulation.Summary) {
	info, _ := simulation.LookupCanary(string(c))
	for _, r := range sum.Failures {
		if simulation.Caught(info, r) {
			fmt.Fprintf(w, "canary %s: caught (first at seed %d: %s); %d of %d seeds failed with a safety violation\n",
				c, r.Seed, caughtBy(info, r), len(sum.FailedSeeds[check.KindSafety]), sum.Seeds)
			return
		}
	}
	fmt.Fprintf(w, "canary %s: NOT caught in %d seeds (the checker missed a planted bug)\n", c, sum.Seeds)
}

func caughtBy(info simulation.CanaryInfo, r simulation.Result) string {
	for _, v := range r.Violations {
		if slices.Contains(info.Catches, v.Invariant) {
			return string(v.Invariant)
		}
	}
	return string(r.Kind)
}

// writeSimHTML writes the page of the seed to draw (the only one, or the first failing one).
// The protocol tier reruns it with its timeline; the cluster tier cannot (it runs on the wall
// clock, a rerun is another run), so its seeds ran with their timelines.
func writeSimHTML(f simFlags, sum *simulation.Summary, seeds []uint64, stderr io.Writer) int {
	var r simulation.Result
	if f.tier == simulation.TierCluster {
		r = *sum.Drawn
	} else {
		cfg := f.cfg
		cfg.Seed, cfg.Timeline = seeds[0], true
		if len(sum.Failures) > 0 {
			cfg.Seed = sum.Failures[0].Seed
		}
		r = simulation.Run(cfg)
	}
	file, err := os.Create(f.htmlPath)
	if err == nil {
		err = simulation.WriteHTML(file, r)
		if cerr := file.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "shoal sim: --html: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stderr, "shoal sim: timeline of seed %d in %s\n", r.Seed, f.htmlPath)
	return exitOK
}

// progress draws a bar over the seeds on stderr (several seeds only), redrawn at most once per
// percent.
type progress struct {
	w           io.Writer
	total, step int
	failed      int
	start       time.Time
	drawn       bool
}

func newProgress(w io.Writer, total int, start time.Time) *progress {
	return &progress{w: w, total: total, step: max(1, total/100), start: start}
}

func (p *progress) update(done int, r simulation.Result) {
	if r.Kind != check.KindNone {
		p.failed++
	}
	if p.total < 2 || done%p.step != 0 && done != p.total {
		return
	}
	const width = 40
	n := done * width / p.total
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d seeds, %d failed, %.1fs", strings.Repeat("#", n), strings.Repeat(".", width-n),
		done, p.total, p.failed, time.Since(p.start).Seconds())
	p.drawn = true
}

func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
