// Measurement, not a check: how long each gossip profile takes to declare a crashed member
// dead on 127.0.0.1. Three nodes form a cluster; one is shut down without leaving (a crash);
// the time from its Shutdown to each survivor's event saying dead is recorded, over several
// runs. The same is done for a graceful Leave (to the event saying left). Opt-in (the lan profile takes several seconds per run):
//
//	SHOAL_MEASURE_DETECTION=1 go test -run TestMeasureDetection -v -count=1 ./cluster
//
// SHOAL_MEASURE_RUNS sets the runs per profile (default 5). The numbers go into doc.go.
package cluster

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestMeasureDetection(t *testing.T) {
	if os.Getenv("SHOAL_MEASURE_DETECTION") == "" {
		t.Skip("set SHOAL_MEASURE_DETECTION=1 to measure failure detection per gossip profile")
	}
	runs := 5
	if n, err := strconv.Atoi(os.Getenv("SHOAL_MEASURE_RUNS")); err == nil && n > 0 {
		runs = n
	}
	for _, profile := range []string{ProfileLocal, ProfileLAN} {
		t.Run(profile, func(t *testing.T) {
			verifyNoLeaks(t)
			for _, crash := range []bool{true, false} {
				var first, last []time.Duration
				for range runs {
					f, l := measureOnce(t, profile, crash)
					first, last = append(first, f), append(last, l)
				}
				slices.Sort(first)
				slices.Sort(last)
				what := "leave to left event"
				if crash {
					what = "crash to dead event"
				}
				t.Logf("profile %s, %d runs, %s: first survivor min %v median %v max %v; "+
					"both survivors min %v median %v max %v", profile, runs, what,
					first[0], first[len(first)/2], first[len(first)-1], last[0], last[len(last)/2], last[len(last)-1])
			}
		})
	}
}

// measureOnce starts three nodes under profile, crashes one (or makes it leave), and returns
// when the first and the second survivor reported it dead (or left).
func measureOnce(t *testing.T, profile string, crash bool) (first, last time.Duration) {
	cfg := func(id string, join ...string) Config {
		c := testNode(id, "c1", join...)
		c.Profile = profile
		return c
	}
	a := start(t, cfg("a"), nil)
	b := start(t, cfg("b", a.GossipAddr()), nil)
	c := start(t, cfg("c", a.GossipAddr()), nil)
	waitFor(t, 10*time.Second, "every node sees every node alive", func() (bool, string) { return seesAll(a, b, c) })
	drain(a)
	drain(b)
	want := StateLeft
	stop := func() error { return c.Leave(10 * time.Second) }
	if crash {
		want, stop = StateDead, c.Shutdown
	}
	crashed := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	type seen struct{ after time.Duration }
	results := make(chan seen, 2)
	for _, s := range []*Membership{a, b} {
		go func() {
			for ev := range s.Events() {
				if ev.Member.ID == "c" && ev.Member.State == want {
					results <- seen{time.Since(crashed)}
					return
				}
			}
		}()
	}
	timeout := time.After(60 * time.Second)
	for i := range 2 {
		select {
		case r := <-results:
			if i == 0 {
				first = r.after
			}
			last = r.after
		case <-timeout:
			t.Fatalf("profile %s: c not seen %v by both survivors within 60s", profile, want)
		}
	}
	_ = a.Shutdown()
	_ = b.Shutdown()
	t.Logf("profile %s, c %v: first survivor %v, both %v", profile, want, first.Round(time.Millisecond), last.Round(time.Millisecond))
	return first, last
}

// drain discards the queued events of m.
func drain(m *Membership) {
	for {
		select {
		case <-m.Events():
		default:
			return
		}
	}
}
