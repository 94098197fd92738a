package actors

import (
	"math"
	"time"
)

// Damping of flapping nodes: every time a member comes back after being dead or gone, its score
// grows by one; the score halves every flapHalfLife. A member whose score reaches flapThreshold
// flaps: placement starts no move onto it and puts it last for leadership, until the score has
// decayed below flapReuse (hysteresis). So gossip noise never turns into a storm of moves.
const (
	flapHalfLife  = time.Minute
	flapThreshold = 2.5
	flapReuse     = 1.0
)

// flapScore is one member's damping state.
type flapScore struct {
	score    float64
	at       time.Time // when score was last updated
	flapping bool
}

// decayed returns the score at now.
func (f flapScore) decayed(now time.Time) float64 {
	if f.at.IsZero() {
		return 0
	}
	return f.score * math.Exp2(-now.Sub(f.at).Seconds()/flapHalfLife.Seconds())
}

// cameBack records a return to alive at now.
func (f *flapScore) cameBack(now time.Time) {
	f.score, f.at = f.decayed(now)+1, now
	f.update(now)
}

// update re-evaluates flapping at now, with hysteresis.
func (f *flapScore) update(now time.Time) bool {
	s := f.decayed(now)
	switch {
	case s >= flapThreshold:
		f.flapping = true
	case s < flapReuse:
		f.flapping = false
	}
	return f.flapping
}
