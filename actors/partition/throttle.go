package partition

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalmq/shoal/protocol/batch"
)

// Move throttle defaults.
const (
	// moveBurstTime: the bucket holds this much of the rate, so the appends the replication core
	// resends after a heartbeat (at most two heartbeats, 200 ms, after the one that was held
	// back) find the budget that built up meanwhile instead of a near-empty bucket.
	moveBurstTime = 250 * time.Millisecond
	// minMoveBurstBytes: the bucket holds at least one whole append (replication's
	// DefaultMaxAppendBytes), or a low rate could never send one.
	minMoveBurstBytes = 1 << 20
	// learnerForgetAfter: a learner sent nothing for this long leaves the progress table (it
	// was promoted, removed, or its leader moved).
	learnerForgetAfter = 10 * time.Second
)

// MoveThrottle is the node-wide budget of log bytes its leaders send to learners: replicas
// catching up during a move or an RF restore. Every partition of the node shares it (the
// catalog's permanent learners do not use it), so the sum over all moves stays under the rate
// and client traffic keeps the rest of the network and disk.
//
// It never blocks. Admit answers at once: an append to a learner past the budget is not sent.
// The replication core takes it for lost, as it takes any lost append: at its next heartbeat
// with no progress it probes the learner, which answers with its log end, and the core resends
// from there. So a held-back append costs a heartbeat or two of the learner's time, never a
// partition actor's, and voters' appends never pass through here.
//
// Admit also records each learner's progress (the highest offset sent and the leader's log end
// at the time), from which BytesLeft estimates what the moves under way still have to send.
//
// Safe for concurrent use: partition actors call Admit from their own goroutines.
type MoveThrottle struct {
	now func() time.Time

	mu       sync.Mutex
	bucket   tokenBucket                 // guarded by mu
	learners map[learnerKey]learnerState // guarded by mu

	grantedBytes, heldBytes, heldAppends, resentBytes atomic.Uint64
}

// NewMoveThrottle returns a throttle of bytesPerSecond (0: unlimited, Admit only counts); now
// is the clock (nil: time.Now).
func NewMoveThrottle(bytesPerSecond int64, now func() time.Time) *MoveThrottle {
	if now == nil {
		now = time.Now
	}
	return &MoveThrottle{now: now, bucket: newTokenBucket(bytesPerSecond, now()), learners: map[learnerKey]learnerState{}}
}

type learnerKey struct{ partition, learner string }

// learnerState is what the leader of partition last sent learner. Invariant: sentEnd <= leaderEnd
// at the time of the send (a leader sends what its log holds).
type learnerState struct {
	sentEnd, leaderEnd uint64  // offsets
	bytesPerOffset     float64 // of the data last sent, to turn the offsets left into bytes
	seen               time.Time
	// held: an append from heldAt was held back, and nothing from there sent since.
	held   bool
	heldAt uint64
}

// Admit decides whether the leader of partition (a "topic/partition" name) may send learner
// the append of data, which starts at offset index, while the leader's log ends at leaderEnd.
// It never blocks. A refused append must not be sent (the core resends it later).
func (t *MoveThrottle) Admit(partition, learner string, index, leaderEnd uint64, data []byte) bool {
	dataEnd := batchesEnd(index, data)
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	key := learnerKey{partition, learner}
	st := t.learners[key]
	st.seen = now
	st.leaderEnd = max(st.leaderEnd, leaderEnd)
	// After a held-back append, the later ones in the core's pipeline would leave a gap the
	// learner rejects: they are held back too, free, until the core resends from the gap. Only
	// past what was sent: a held-back resend of offsets sent before leaves no gap (holding the
	// appends after it stalled a move for good, the learner having the rest already).
	gap := st.held && index > st.heldAt && index > st.sentEnd
	if gap || !t.bucket.take(len(data), now) {
		if !st.held || index < st.heldAt {
			st.held, st.heldAt = true, index
		}
		t.learners[key] = st
		t.heldBytes.Add(uint64(len(data)))
		t.heldAppends.Add(1)
		return false
	}
	st.held = false
	t.grantedBytes.Add(uint64(len(data)))
	if index < st.sentEnd && dataEnd > index {
		again := min(dataEnd, st.sentEnd) - index
		t.resentBytes.Add(uint64(float64(len(data)) * float64(again) / float64(dataEnd-index)))
	}
	if dataEnd > index {
		st.bytesPerOffset = float64(len(data)) / float64(dataEnd-index)
	}
	st.sentEnd = max(st.sentEnd, dataEnd)
	t.learners[key] = st
	return true
}

// batchesEnd returns the offset after the last batch in data, which starts at index (index when
// data holds no whole batch).
func batchesEnd(index uint64, data []byte) uint64 {
	end := index
	for len(data) >= batch.HeaderSize {
		h, err := batch.ReadHeader(data)
		if err != nil || int(h.Length) > len(data) || h.Length < batch.HeaderSize {
			break
		}
		end, data = h.NextOffset(), data[h.Length:]
	}
	return end
}

// MoveThrottleStats is a snapshot of a MoveThrottle.
type MoveThrottleStats struct {
	// RateBytes is the configured rate in bytes per second (0: unlimited).
	RateBytes int64
	// GrantedBytes: bytes of appends sent to learners; HeldBytes and HeldAppends: appends held
	// back past the budget (the core resends them); ResentBytes: granted bytes a learner had
	// been sent before (lost or held-back appends, a move restarted by a new leader).
	GrantedBytes, HeldBytes, HeldAppends, ResentBytes uint64
	// BytesLeft estimates what the learners being caught up still lack: per learner, the
	// offsets between what was last sent and the leader's log end, at the bytes per offset of
	// the data last sent.
	BytesLeft int64
	// Learners is the number of learners sent data in the last few seconds.
	Learners int
}

// Stats returns the throttle's counters and the estimate of the bytes left; it forgets
// learners sent nothing for a while.
func (t *MoveThrottle) Stats() MoveThrottleStats {
	s := MoveThrottleStats{RateBytes: int64(t.bucket.rate), GrantedBytes: t.grantedBytes.Load(),
		HeldBytes: t.heldBytes.Load(), HeldAppends: t.heldAppends.Load(), ResentBytes: t.resentBytes.Load()}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for key, st := range t.learners {
		if now.Sub(st.seen) > learnerForgetAfter {
			delete(t.learners, key)
			continue
		}
		s.Learners++
		if st.leaderEnd > st.sentEnd {
			s.BytesLeft += int64(float64(st.leaderEnd-st.sentEnd) * st.bytesPerOffset)
		}
	}
	return s
}

// tokenBucket is a byte budget that refills at rate up to burst; a pure value (the caller
// passes the time). Invariant: tokens <= burst; tokens < 0 only after one message larger than
// burst, which is let through from a full bucket (or it could never pass) and repaid before
// the next.
type tokenBucket struct {
	rate, burst float64 // bytes per second, bytes; rate 0: unlimited
	tokens      float64
	last        time.Time
}

func newTokenBucket(bytesPerSecond int64, now time.Time) tokenBucket {
	rate := float64(max(bytesPerSecond, 0))
	burst := max(rate*moveBurstTime.Seconds(), minMoveBurstBytes)
	return tokenBucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// take spends n bytes of the budget and reports true, or spends nothing and reports false.
// Granted bytes over any interval from the start stay within burst + rate × elapsed (plus the
// excess of one message larger than burst).
func (b *tokenBucket) take(n int, now time.Time) bool {
	if b.rate == 0 {
		return true
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < min(float64(n), b.burst) {
		return false
	}
	b.tokens -= float64(n)
	return true
}
