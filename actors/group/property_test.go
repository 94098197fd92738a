package group

// Property test. Method: seeded random sequences of commands (every command type, with names,
// ids and options drawn from small pools so that they collide) and stream changes (XADD, XDEL,
// trimming) run through the harness, which checks on every step that Plan does not mutate, that
// the entry survives its encoding and that the invariants hold. At the end, replaying every
// logged entry (decoded from its bytes) on a fresh State must give the same snapshot bytes, and
// the snapshot must survive its own encoding byte for byte. A failure prints the seed.

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"

	"github.com/shoalmq/shoal/protocol/batch"
)

func TestPropertyReplayAndSnapshot(t *testing.T) {
	for seed := int64(1); seed <= 40; seed++ {
		runRandom(t, seed, 400)
	}
}

func runRandom(t *testing.T, seed int64, steps int) {
	rng := rand.New(rand.NewSource(seed))
	h := newHarness(t)
	groups := []string{"g1", "g2", "g3"}
	consumers := []string{"a", "b", "c", "d"}
	pick := func(names []string) string { return names[rng.Intn(len(names))] }
	randID := func() batch.ID {
		if rng.Intn(4) == 0 || h.stream.lastID.Ms == 0 {
			return batch.ID{Ms: uint64(rng.Intn(40))}
		}
		return batch.ID{Ms: uint64(rng.Int63n(int64(h.stream.lastID.Ms) + 2))}
	}
	randIDs := func() []batch.ID {
		out := make([]batch.ID, rng.Intn(5))
		for i := range out {
			out[i] = randID()
		}
		return out
	}
	for step := 0; step < steps; step++ {
		h.nowMs += int64(rng.Intn(50))
		var cmd Command
		switch rng.Intn(17) {
		case 0, 1:
			h.stream.add(batch.ID{Ms: h.stream.lastID.Ms + 1 + uint64(rng.Intn(3))})
			continue
		case 2:
			h.stream.del(randID())
			continue
		case 3:
			if rng.Intn(4) == 0 {
				h.stream.trim(1)
			}
			cmd = CreateGroup{Key: "s", Group: pick(groups), ID: randID(), FromLast: rng.Intn(2) == 0, MaxDeliveries: int64(rng.Intn(4))}
		case 4:
			cmd = SetGroupID{Key: "s", Group: pick(groups), ID: randID(), FromLast: rng.Intn(3) == 0, HasEntriesRead: rng.Intn(3) == 0, EntriesRead: int64(rng.Intn(5)) - 1}
		case 5:
			if rng.Intn(5) == 0 {
				cmd = DestroyGroup{Key: "s", Group: pick(groups)}
			} else {
				cmd = SetMaxDeliveries{Key: "s", Group: pick(groups), MaxDeliveries: int64(rng.Intn(4))}
			}
		case 6:
			if rng.Intn(2) == 0 {
				cmd = CreateConsumer{Key: "s", Group: pick(groups), Consumer: pick(consumers)}
			} else {
				cmd = DeleteConsumer{Key: "s", Group: pick(groups), Consumer: pick(consumers)}
			}
		case 7, 8, 9:
			cmd = ReadGroup{Key: "s", Group: pick(groups), Consumer: pick(consumers), Count: int64(rng.Intn(4)),
				New: rng.Intn(3) != 0, After: randID(), NoAck: rng.Intn(4) == 0, Claim: rng.Intn(3) == 0, ClaimMinIdleMs: int64(rng.Intn(100))}
		case 10, 11:
			cmd = Ack{Key: "s", Group: pick(groups), IDs: randIDs()}
		case 12:
			cmd = Claim{Key: "s", Group: pick(groups), Consumer: pick(consumers), MinIdleMs: int64(rng.Intn(100)), IDs: randIDs(),
				DeliveryTime: DeliveryTimeKind(rng.Intn(3)), DeliveryTimeMs: h.nowMs - int64(rng.Intn(200)),
				HasRetryCount: rng.Intn(4) == 0, RetryCount: int64(rng.Intn(5)) - 1, Force: rng.Intn(2) == 0, JustID: rng.Intn(3) == 0,
				HasLastID: rng.Intn(4) == 0, LastID: randID()}
		case 13:
			cmd = AutoClaim{Key: "s", Group: pick(groups), Consumer: pick(consumers), MinIdleMs: int64(rng.Intn(100)), Start: randID(), Count: int64(1 + rng.Intn(4)), JustID: rng.Intn(3) == 0}
		case 14:
			cmd = PendingRange{Key: "s", Group: pick(groups), MinIdleMs: int64(rng.Intn(60)), Start: randID(), End: batch.MaxID, Count: int64(rng.Intn(6)), HasConsumer: rng.Intn(2) == 0, Consumer: pick(consumers)}
		case 15:
			cmd = PendingSummary{Key: "s", Group: pick(groups)}
		case 16:
			cmd = InfoStreamFull{Key: "s", Count: int64(rng.Intn(4))}
		}
		if _, _, err := h.do(cmd); err != nil && !isCommandError(err) {
			t.Fatalf("seed %d step %d: %#v: unexpected kind of error %v", seed, step, cmd, err)
		}
	}

	want := h.state.MarshalSnapshot()
	replayed := NewState()
	for i, raw := range h.entries {
		e, err := UnmarshalEntry(raw)
		if err != nil {
			t.Fatalf("seed %d: entry %d: %v", seed, i, err)
		}
		if err := replayed.Apply(e); err != nil {
			t.Fatalf("seed %d: replaying entry %d: %v", seed, i, err)
		}
	}
	if got := replayed.MarshalSnapshot(); !bytes.Equal(got, want) {
		t.Fatalf("seed %d: replay of %d entries gives a different state", seed, len(h.entries))
	}
	decoded, err := UnmarshalSnapshot(want)
	if err != nil {
		t.Fatalf("seed %d: UnmarshalSnapshot: %v", seed, err)
	}
	if err := decoded.checkInvariants(); err != nil {
		t.Fatalf("seed %d: decoded snapshot: %v", seed, err)
	}
	if got := decoded.MarshalSnapshot(); !bytes.Equal(got, want) {
		t.Fatalf("seed %d: snapshot does not survive its encoding", seed)
	}
	// Equal bytes prove nothing if the encoding loses a field: compare what clients see.
	wantView := observable(t, h.state, h)
	if got := observable(t, decoded, h); got != wantView {
		t.Fatalf("seed %d: decoded snapshot shows\n%s\nwant\n%s", seed, got, wantView)
	}
	if got := observable(t, replayed, h); got != wantView {
		t.Fatalf("seed %d: replayed state shows\n%s\nwant\n%s", seed, got, wantView)
	}
	if len(h.entries) < steps/10 {
		t.Fatalf("seed %d: only %d entries logged in %d steps: the generator exercises too little", seed, len(h.entries), steps)
	}
}

// observable renders everything XINFO STREAM FULL, XINFO CONSUMERS and XPENDING show of s.
func observable(t *testing.T, s *State, h *harness) string {
	t.Helper()
	plan, err := s.Plan(InfoStreamFull{Key: "s"}, h.stream, h.nowMs)
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("%+v", plan.Result)
	for _, name := range s.groupNames() {
		plan, err = s.Plan(InfoConsumers{Key: "s", Group: name}, h.stream, h.nowMs)
		if err != nil {
			t.Fatal(err)
		}
		out += fmt.Sprintf("\n%+v", plan.Result)
		plan, err = s.Plan(PendingSummary{Key: "s", Group: name}, h.stream, h.nowMs)
		if err != nil {
			t.Fatal(err)
		}
		out += fmt.Sprintf("\n%+v", plan.Result)
	}
	return out
}

func isCommandError(err error) bool {
	_, ok := err.(*commandError)
	return ok || err == ErrBusyGroup || err == ErrEntriesRead || err == ErrAutoClaimCount || err == ErrPendingFull
}
