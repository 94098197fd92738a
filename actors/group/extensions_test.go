package group

// Shoal's extensions beyond Redis 7.0: XREADGROUP CLAIM (as documented for Redis 8.4: idle
// pending entries first, longest idle first, sharing COUNT with new entries, with idle time and
// previous delivery count in the reply) and the dead-letter bound MaxDeliveries. Checked by
// scenario: the expected values follow from the rules in the package doc.

import (
	"fmt"
	"testing"
)

func TestReadClaim(t *testing.T) {
	h := newHarness(t)
	h.stream.addMs(1, 2, 3, 4, 5, 6)
	h.ok(CreateGroup{Key: "s", Group: "g"})
	h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "a", Count: 1, New: true}) // 1-0 at t
	h.nowMs += 10
	h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "b", Count: 1, New: true}) // 2-0 at t+10
	h.nowMs += 10
	h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "a", Count: 1}) // history: 1-0 again at t+20, count 2
	h.nowMs += 100

	// Idle: 2-0 110 ms, 1-0 100 ms. COUNT 3: both claimed, longest idle first, then one new.
	res := h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "c", Count: 3, New: true, NoAck: true, Claim: true, ClaimMinIdleMs: 100}).(*ReadResult)
	got := fmt.Sprint(res.Entries)
	want := "[{2-0 true true 110 1} {1-0 true true 100 2} {3-0 true false 0 0}]"
	if got != want {
		t.Fatalf("CLAIM read: got %s, want %s", got, want)
	}
	// Claimed entries stay pending (NOACK applies to new entries only) with count+1.
	wantStrings(t, "pending after CLAIM read", pendingLines(h.pendingRange("g")), []string{"1-0 c 3", "2-0 c 2"})
	wantGroup(t, h.groupInfo("g"), 3, 2, id(3), 3, 3, true)

	// Nothing idle enough: a plain '>' read.
	res = h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "c", Count: 1, New: true, Claim: true, ClaimMinIdleMs: 100}).(*ReadResult)
	wantStrings(t, "CLAIM read, nothing idle", deliveredIDs(res), []string{"4-0"})
}

func TestDeadLetter(t *testing.T) {
	h := newHarness(t)
	h.stream.addMs(1, 2)
	h.ok(CreateGroup{Key: "s", Group: "g", MaxDeliveries: 2})
	h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "a", New: true})                                                         // count 1
	wantStrings(t, "history 1", deliveredIDs(h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "a"})), []string{"1-0", "2-0"}) // count 2
	res := h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "a"}).(*ReadResult)
	if len(res.Entries) != 0 || fmt.Sprint(res.DeadLetters) != "[{g a a 1-0 2} {g a a 2-0 2}]" {
		t.Fatalf("history at the bound: got entries %v dead letters %v, want none and both dead-lettered", res.Entries, res.DeadLetters)
	}
	wantStrings(t, "pending after dead-lettering", pendingLines(h.pendingRange("g")), nil)

	// XCLAIM JUSTID is administrative: never dead-lettered. XAUTOCLAIM at the bound is.
	h.stream.addMs(3)
	h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "a", New: true})
	h.ok(Claim{Key: "s", Group: "g", Consumer: "b", IDs: ids(3)}) // count 2
	claim := h.ok(Claim{Key: "s", Group: "g", Consumer: "c", IDs: ids(3), JustID: true}).(*ClaimResult)
	wantStrings(t, "XCLAIM JUSTID at the bound", claimedIDs(claim.Claimed), []string{"3-0"})
	ac := h.ok(AutoClaim{Key: "s", Group: "g", Consumer: "d", Count: 10}).(*AutoClaimResult)
	if len(ac.Claimed) != 0 || fmt.Sprint(ac.DeadLetters) != "[{g d c 3-0 2}]" {
		t.Fatalf("XAUTOCLAIM at the bound: got claimed %v dead letters %v", ac.Claimed, ac.DeadLetters)
	}

	// Turning the bound off lets an entry be delivered again.
	h.ok(SetMaxDeliveries{Key: "s", Group: "g"})
	if g := h.groupInfo("g"); g.MaxDeliveries != 0 {
		t.Fatalf("MaxDeliveries after SetMaxDeliveries 0: got %d", g.MaxDeliveries)
	}
}
