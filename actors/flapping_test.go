package actors

// Table test of the damping score: a member that comes back three times in quick succession
// flaps, stays flapping while the score is above the reuse level, and is reused once it decays.

import (
	"testing"
	"time"
)

func TestFlapDamping(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	var f flapScore
	for i, at := range []time.Duration{0, 10 * time.Second, 20 * time.Second} {
		f.cameBack(t0.Add(at))
		if want := i == 2; f.flapping != want {
			t.Fatalf("after %d returns: flapping %v, want %v (score %.2f)", i+1, f.flapping, want, f.score)
		}
	}
	if !f.update(t0.Add(50 * time.Second)) {
		t.Fatalf("30 s later the score %.2f fell below the threshold already; hysteresis should keep it flapping", f.decayed(t0.Add(50*time.Second)))
	}
	if f.update(t0.Add(3 * time.Minute)) {
		t.Fatalf("3 minutes later still flapping (score %.2f)", f.decayed(t0.Add(3*time.Minute)))
	}
	var once flapScore
	once.cameBack(t0)
	if once.flapping {
		t.Fatal("one restart counts as flapping")
	}
}
