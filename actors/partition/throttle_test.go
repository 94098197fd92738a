package partition

// Tests of the move throttle, on an injected clock: the token bucket's bound (granted bytes never
// exceed burst + rate × elapsed) against a seeded random stream of asks, its liveness (a steady
// asker gets the rate), and the throttle's accounting of learners (bytes left, resends).

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shoalmq/shoal/protocol/batch"
)

func TestTokenBucketNeverGrantsMoreThanBurstPlusRate(t *testing.T) {
	for _, rate := range []int64{1 << 20, 10 << 20, 64 << 20, 1 << 30} {
		rng := rand.New(rand.NewPCG(uint64(rate), 1))
		start := time.Unix(1000, 0)
		b := newTokenBucket(rate, start)
		now, granted, asked := start, 0.0, 0.0
		for range 100_000 {
			now = now.Add(time.Duration(rng.IntN(int(5 * time.Millisecond))))
			n := 1 + rng.IntN(int(b.burst)) // never larger than the burst
			asked += float64(n)
			if b.take(n, now) {
				granted += float64(n)
			}
			if bound := b.burst + float64(rate)*now.Sub(start).Seconds(); granted > bound+1 {
				t.Fatalf("rate %d: granted %.0f bytes after %v, bound burst %.0f + rate × elapsed = %.0f", rate, granted, now.Sub(start), b.burst, bound)
			}
		}
		// Liveness: asking far more than the rate, the asker gets most of it.
		if want := 0.9 * float64(rate) * now.Sub(start).Seconds(); asked > 2*want && granted < want {
			t.Fatalf("rate %d: granted %.0f bytes in %v, want at least %.0f", rate, granted, now.Sub(start), want)
		}
	}
}

func TestTokenBucketCases(t *testing.T) {
	start := time.Unix(1000, 0)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	type ask struct {
		ms, bytes int
		want      bool
	}
	cases := []struct {
		name string
		rate int64
		asks []ask
	}{
		{"unlimited grants everything", 0, []ask{{0, 1 << 30, true}, {0, 1 << 30, true}}},
		// 4 MiB/s: the burst is the 1 MiB minimum (4 MiB × 250 ms).
		{"a full bucket grants the burst, then waits for the refill", 4 << 20, []ask{
			{0, 1 << 20, true}, {0, 1, false}, {125, 1 << 20, false}, {125, 512 << 10, true}, {250, 512 << 10, true}, {250, 1, false},
		}},
		{"the refill stops at the burst", 4 << 20, []ask{
			{10_000, 1 << 20, true}, {10_000, 1, false},
		}},
		{"an append larger than the burst passes from a full bucket, then is repaid", 4 << 20, []ask{
			{0, 3 << 20, true}, {250, 1, false}, {750, 1, true},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newTokenBucket(tc.rate, start)
			for i, a := range tc.asks {
				if got := b.take(a.bytes, at(a.ms)); got != a.want {
					t.Fatalf("ask %d (%d bytes at %d ms): granted %v, want %v (tokens %.0f, burst %.0f)", i, a.bytes, a.ms, got, a.want, b.tokens, b.burst)
				}
			}
		})
	}
}

// appendOf builds the data of an append: batches of one record of size bytes each, from offset.
func appendOf(t *testing.T, offset uint64, records, size int) []byte {
	t.Helper()
	var out []byte
	for i := range records {
		bld := batch.NewBuilder(size + 200)
		bld.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
		if err := bld.Add(batch.ID{}, 1, nil, make([]byte, size), nil); err != nil {
			t.Fatal(err)
		}
		b, err := bld.Finish()
		if err != nil {
			t.Fatal(err)
		}
		batch.Stamp(b, offset+uint64(i), 1, batch.ID{Ms: 1, Seq: offset + uint64(i)})
		out = append(out, b...)
	}
	return out
}

func TestMoveThrottleTracksLearners(t *testing.T) {
	now := time.Unix(1000, 0)
	th := NewMoveThrottle(4<<20, func() time.Time { return now })
	// The leader's log ends at 100; it sends 10 records of ~1 KiB from 0, then from 10.
	first := appendOf(t, 0, 10, 1000)
	if !th.Admit("t/0", "n4", 0, 100, first) {
		t.Fatal("the first append was held back by a full bucket")
	}
	perOffset := float64(len(first)) / 10
	st := th.Stats()
	if want := int64(90 * perOffset); st.BytesLeft != want || st.Learners != 1 || st.GrantedBytes != uint64(len(first)) {
		t.Fatalf("after the first append: %+v, want %d bytes left, 1 learner, %d granted", st, want, len(first))
	}
	// The same append again (the core resent it): counted as resent, nothing more left.
	th.Admit("t/0", "n4", 0, 100, first)
	if st := th.Stats(); st.ResentBytes != uint64(len(first)) || st.BytesLeft != int64(90*perOffset) {
		t.Fatalf("after a resend: %+v, want %d resent", st, len(first))
	}
	// Past the budget: held back, and counted as such.
	big := appendOf(t, 10, 1, 1<<20-500)
	if th.Admit("t/0", "n4", 10, 100, big) {
		t.Fatal("an append past the budget was granted")
	}
	if st := th.Stats(); st.HeldAppends != 1 || st.HeldBytes != uint64(len(big)) {
		t.Fatalf("after a held-back append: %+v", st)
	}
	// Later appends of the pipeline are held back too, even with budget (they would leave a
	// gap); the resend from the gap goes first.
	now = now.Add(time.Second)
	if th.Admit("t/0", "n4", 11, 100, appendOf(t, 11, 1, 1000)) {
		t.Fatal("an append past a held-back one was granted")
	}
	if !th.Admit("t/0", "n4", 10, 100, big) {
		t.Fatal("the resend from the gap was held back with a full bucket")
	}
	now = now.Add(time.Second)
	if !th.Admit("t/0", "n4", 11, 100, appendOf(t, 11, 1, 1000)) {
		t.Fatal("the append after the resend was held back")
	}
	// A held-back resend of offsets sent before leaves no gap: what follows the sent end goes.
	now = now.Add(time.Second)
	if !th.Admit("t/1", "n4", 0, 100, first) {
		t.Fatal("a first append was held back with a full bucket")
	}
	if !th.Admit("t/1", "n4", 10, 100, appendOf(t, 10, 1, 1_000_000)) || !th.Admit("t/1", "n4", 11, 100, appendOf(t, 11, 1, 30_000)) {
		t.Fatal("appends within the burst were held back")
	}
	if th.Admit("t/1", "n4", 0, 100, first) {
		t.Fatal("a resend was granted with an empty bucket")
	}
	now = now.Add(time.Second)
	if !th.Admit("t/1", "n4", 12, 100, appendOf(t, 12, 1, 1000)) {
		t.Fatal("the append at the sent end was held back behind a held-back resend (the move would stall)")
	}
	// A learner sent nothing for a while is forgotten.
	now = now.Add(learnerForgetAfter + time.Second)
	if st := th.Stats(); st.Learners != 0 || st.BytesLeft != 0 {
		t.Fatalf("after %v: %+v, want the learner forgotten", learnerForgetAfter, st)
	}
}
