// Tests of the protocol-tier simulator as a whole: a swarm of seeds must pass every check, a
// seed must replay step for step, every canary must be caught within its stated seeds, and the
// reports must say what they claim.
//
// Method: Run and RunSeeds as `shoal sim` calls them. TestSimSeeds runs SHOAL_SIM_SEEDS seeds
// (default 200; 50 with -short) and prints each failure with its reproduce line. TestSimCanaries
// runs each canary's seeds in order until one fails with one of its invariants (a checker that
// catches nothing proves nothing). TestSimDeterminism runs seeds twice and compares the hash of
// their event traces.
package simulation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/simulation/check"
)

func seedsUpTo(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i)
	}
	return out
}

func TestSimSeeds(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 50
	}
	if s := os.Getenv("SHOAL_SIM_SEEDS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("SHOAL_SIM_SEEDS=%q: %v", s, err)
		}
		n = v
	}
	sum := RunSeeds(Config{}, seedsUpTo(n), runtime.GOMAXPROCS(0), nil)
	if sum.Seeds != n {
		t.Fatalf("ran %d seeds, want %d", sum.Seeds, n)
	}
	for _, r := range sum.Failures {
		var b strings.Builder
		r.WriteFailure(&b, "")
		t.Errorf("%s", b.String())
	}
	if sum.Kind() != check.KindNone {
		t.Fatalf("failed seeds: %v", sum.FailedSeeds)
	}
	// The swarm exercised what it claims to: every fault class and every kind of result.
	for _, c := range Classes() {
		if sum.Faults[c] == 0 {
			t.Errorf("no %s fault in %d seeds", c, n)
		}
	}
	for _, k := range []string{"acks quorum ok", "acks leader ok", "acks none ok", "produce failed", "produce unknown", "poll ok"} {
		if sum.Ops[k] == 0 {
			t.Errorf("no %q operation in %d seeds", k, n)
		}
	}
	if sum.Converge.N != n {
		t.Errorf("%d of %d seeds converged", sum.Converge.N, n)
	}
}

func TestSimDeterminism(t *testing.T) {
	cases := []Config{
		{Seed: 1},
		{Seed: 2, Nodes: 5, Partitions: 3},
		{Seed: 3, Canary: CanaryAckBeforeReplication},
		{Seed: 4, Canary: CanaryCommitOldEpoch},
	}
	for _, cfg := range cases {
		t.Run(fmt.Sprintf("seed=%d/%s", cfg.Seed, cfg.Canary), func(t *testing.T) {
			a, b := Run(cfg), Run(cfg)
			withTimeline := cfg
			withTimeline.Timeline = true
			c := Run(withTimeline)
			if a.TraceHash != b.TraceHash || a.TraceHash != c.TraceHash {
				t.Fatalf("trace hashes differ: %x, %x, %x (with the timeline)", a.TraceHash, b.TraceHash, c.TraceHash)
			}
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if !bytes.Equal(ja, jb) {
				t.Fatalf("results differ:\n%s\n%s", ja, jb)
			}
			if a.Steps < 1000 {
				t.Fatalf("only %d steps: the run did nothing", a.Steps)
			}
		})
	}
	if Run(Config{Seed: 1}).TraceHash == Run(Config{Seed: 2}).TraceHash {
		t.Fatal("seeds 1 and 2 have the same trace")
	}
}

func TestSimCanaries(t *testing.T) {
	workers := runtime.GOMAXPROCS(0)
	for _, c := range Canaries() {
		t.Run(string(c.Name), func(t *testing.T) {
			for from := 0; from < c.Seeds; from += workers {
				seeds := seedsUpTo(min(c.Seeds, from+workers))[from:]
				sum := RunSeeds(Config{Canary: c.Name}, seeds, workers, nil)
				for _, r := range sum.Failures {
					if Caught(c, r) {
						t.Logf("caught at seed %d of %d: %s", r.Seed, c.Seeds, r.Violations[0])
						return
					}
				}
			}
			t.Fatalf("canary %s not caught in %d seeds: the checker misses a planted bug (or the seeds stated in canary.go are stale)", c.Name, c.Seeds)
		})
	}
}

func TestSimConfigValidate(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{Nodes: 4}, "nodes"},
		{Config{Partitions: MaxPartitions + 1}, "partitions"},
		{Config{SafetyTicks: -1}, "ticks"},
		{Config{Canary: "nope"}, "canary"},
		{Config{Classes: []Class{"flood"}}, "faults"},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want an error about %s", c.cfg, err, c.want)
		}
		if r := Run(c.cfg); r.Kind != check.KindCrash || !strings.Contains(r.Crash, "invalid config") {
			t.Errorf("Run(%+v) = %s %q, want a crash for an invalid config", c.cfg, r.Kind, r.Crash)
		}
	}
	if err := (Config{Nodes: 5, Partitions: 2, Canary: CanarySkipTruncation}).Validate(); err != nil {
		t.Errorf("a good config: %v", err)
	}
}

// The core refuses a canary it does not know, and the simulator's list names the core's.
func TestSimCoreCanaries(t *testing.T) {
	_, err := replication.New(replication.Options{ID: "n1", Log: &struct{ replication.LogReader }{}, Canary: "nope"})
	if !errors.Is(err, replication.ErrBadOptions) {
		t.Fatalf("New with an unknown canary: %v, want ErrBadOptions", err)
	}
	for _, c := range replication.Canaries() {
		if _, ok := LookupCanary(string(c)); !ok {
			t.Errorf("the core's canary %s is not in the simulator's list", c)
		}
	}
}

func TestSimParseClasses(t *testing.T) {
	all, err := ParseClasses("all")
	if err != nil || len(all) != len(Classes()) {
		t.Fatalf("all: %v %v", all, err)
	}
	none, err := ParseClasses("none")
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("none: %v %v", none, err)
	}
	got, err := ParseClasses("crash, drop,crash")
	if err != nil || len(got) != 2 || got[0] != ClassCrash || got[1] != ClassDrop {
		t.Fatalf("crash, drop,crash: %v %v", got, err)
	}
	if _, err := ParseClasses("crash,flood"); err == nil {
		t.Fatal("flood: no error")
	}
}

// With no fault class the mix is quiet: nothing is dropped, crashed or lost.
func TestSimNoFaults(t *testing.T) {
	r := Run(Config{Seed: 7, Classes: []Class{}})
	if r.Kind != check.KindNone {
		t.Fatalf("failed: %v", r.Violations)
	}
	for c, n := range r.Faulty {
		if n > 0 {
			t.Errorf("%d %s faults with no class enabled", n, c)
		}
	}
	if r.Ops["produce unknown"] != 0 || r.Counts.LostNone != 0 || r.Counts.LostLeader != 0 {
		t.Errorf("a quiet run lost or left undecided records: %v %+v", r.Ops, r.Counts)
	}
	if r.Ops["acks quorum ok"] == 0 {
		t.Errorf("no acknowledged write: %v", r.Ops)
	}
}

func TestSimSummaryText(t *testing.T) {
	sum := RunSeeds(Config{Canary: CanaryAckBeforeReplication}, seedsUpTo(4), 2, nil)
	var b strings.Builder
	sum.WriteText(&b)
	for _, want := range []string{"seeds: 4", "acked-lost", "failover", "FAILED"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	if len(sum.Failures) == 0 {
		t.Fatal("no failure with the canary")
	}
	var f strings.Builder
	sum.Failures[0].WriteFailure(&f, " --canary ack-before-replication")
	if want := fmt.Sprintf("reproduce: shoal sim --seed %d --canary ack-before-replication", sum.Failures[0].Seed); !strings.Contains(f.String(), want) {
		t.Errorf("failure lacks %q:\n%s", want, f.String())
	}
}

func TestSimHTML(t *testing.T) {
	r := Run(Config{Seed: 3, Canary: CanaryAckBeforeReplication, Timeline: true})
	if len(r.Timeline) == 0 || r.History == nil {
		t.Fatal("no timeline")
	}
	var b strings.Builder
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"<!doctype html>", "<svg", "partition 0", "leads epoch", "FAILED", "</html>"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "http://") && !strings.Contains(page, "http://www.w3.org/2000/svg") {
		t.Error("the page is not self-contained")
	}
}
