package group

// Scenarios checked against Redis 7.0.15 (Debian's redis-server), by running the same commands
// with redis-cli against `redis-server --port 16399 --save '' --appendonly no`; the expected
// values below are what Redis answered (idle times, which depend on Redis's wall clock, are
// replaced by what our manual clock gives). Each test names the session it reproduces.

import (
	"fmt"
	"slices"
	"testing"

	"github.com/shoalmq/shoal/protocol/batch"
)

func pendingLines(entries []PendingEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%s %s %d", e.ID, e.Consumer, e.DeliveryCount))
	}
	return out
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

func wantGroup(t *testing.T, got GroupInfo, consumers, pending int64, last batch.ID, entriesRead int64, lag int64, lagKnown bool) {
	t.Helper()
	if got.Consumers != consumers || got.Pending != pending || got.LastDeliveredID != last ||
		got.EntriesRead != entriesRead || got.LagKnown != lagKnown || (lagKnown && got.Lag != lag) {
		t.Fatalf("group %s: got consumers %d pending %d last %s entries-read %d lag %d (known %v), want %d %d %s %d %d (%v)",
			got.Name, got.Consumers, got.Pending, got.LastDeliveredID, got.EntriesRead, got.Lag, got.LagKnown,
			consumers, pending, last, entriesRead, lag, lagKnown)
	}
}

// Session 1: create, reads, history with a deleted entry, XCLAIM FORCE and of a deleted id.
func TestRedisSessionReadsAndClaims(t *testing.T) {
	h := newHarness(t)
	h.stream.addMs(1, 2, 3)

	h.ok(CreateGroup{Key: "s", Group: "g"})
	h.fails(CreateGroup{Key: "s", Group: "g"}, ErrBusyGroup, "BUSYGROUP Consumer Group name already exists")
	wantGroup(t, h.groupInfo("g"), 0, 0, id(0), EntriesReadUnknown, 3, true)

	// A '>' read with nothing new neither creates the consumer nor logs anything.
	h.ok(CreateGroup{Key: "s", Group: "g2", FromLast: true})
	res, entry, _ := h.do(ReadGroup{Key: "s", Group: "g2", Consumer: "cnone", New: true})
	if len(res.(*ReadResult).Entries) != 0 || entry != nil {
		t.Fatalf("'>' read with nothing new: got %v, entry %+v", deliveredIDs(res), entry)
	}
	// A history read creates the consumer even when it returns nothing.
	h.ok(ReadGroup{Key: "s", Group: "g2", Consumer: "chist"})
	cons := h.ok(InfoConsumers{Key: "s", Group: "g2"}).(ConsumersResult).Consumers
	if len(cons) != 1 || cons[0].Name != "chist" || cons[0].Pending != 0 || cons[0].InactiveMs != -1 {
		t.Fatalf("XINFO CONSUMERS g2: got %+v, want only chist, never active", cons)
	}

	wantStrings(t, "read 2", deliveredIDs(h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "c1", Count: 2, New: true})), []string{"1-0", "2-0"})
	wantGroup(t, h.groupInfo("g"), 1, 2, id(2), 2, 1, true)
	wantGroup(t, h.groupInfo("g2"), 1, 0, id(3), EntriesReadUnknown, 0, true)

	wantStrings(t, "history", deliveredIDs(h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "c1"})), []string{"1-0", "2-0"})
	wantStrings(t, "pending after history", pendingLines(h.pendingRange("g")), []string{"1-0 c1 2", "2-0 c1 2"})

	h.stream.del(id(1))
	h.nowMs += 60
	wantStrings(t, "history after XDEL", deliveredIDs(h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "c1"})), []string{"1-0:nil", "2-0"})
	pend := h.pendingRange("g")
	wantStrings(t, "pending after XDEL", pendingLines(pend), []string{"1-0 c1 2", "2-0 c1 3"})
	if pend[0].IdleMs != 60 || pend[1].IdleMs != 0 {
		t.Fatalf("a deleted entry keeps its delivery time: idle got %d and %d, want 60 and 0", pend[0].IdleMs, pend[1].IdleMs)
	}
	wantGroup(t, h.groupInfo("g"), 1, 2, id(2), 2, 1, true)

	// FORCE on an id not pending creates it with count 1, then counts the delivery: 2.
	claim := h.ok(Claim{Key: "s", Group: "g", Consumer: "c2", IDs: ids(3), Force: true}).(*ClaimResult)
	wantStrings(t, "XCLAIM FORCE", claimedIDs(claim.Claimed), []string{"3-0"})
	wantStrings(t, "pending after FORCE", pendingLines(h.pendingRange("g")), []string{"1-0 c1 2", "2-0 c1 3", "3-0 c2 2"})

	// A deleted id is dropped from the pending list; JUSTID keeps the count.
	claim = h.ok(Claim{Key: "s", Group: "g", Consumer: "c2", IDs: ids(1, 2), JustID: true}).(*ClaimResult)
	wantStrings(t, "XCLAIM JUSTID", claimedIDs(claim.Claimed), []string{"2-0"})
	wantStrings(t, "XCLAIM deleted", idStrings(claim.Deleted), []string{"1-0"})
	wantStrings(t, "pending after JUSTID", pendingLines(h.pendingRange("g")), []string{"2-0 c2 3", "3-0 c2 2"})

	if got := h.ok(Ack{Key: "s", Group: "nog", IDs: ids(1)}).(Acked).Acked; got != 0 {
		t.Fatalf("XACK on a missing group: got %d, want 0", got)
	}
	h.fails(AutoClaim{Key: "s", Group: "g", Consumer: "c", Count: 0}, ErrAutoClaimCount, "ERR COUNT must be > 0")
	h.fails(CreateGroup{Key: "s", Group: "g9", HasEntriesRead: true, EntriesRead: -2}, ErrEntriesRead, "ERR value for ENTRIESREAD must be positive or -1")
	if got := h.ok(DeleteConsumer{Key: "s", Group: "g", Consumer: "c2"}).(ConsumerDeleted).Pending; got != 2 {
		t.Fatalf("DELCONSUMER c2: got %d, want 2", got)
	}
	if !h.ok(CreateConsumer{Key: "s", Group: "g", Consumer: "c9"}).(ConsumerCreated).Created ||
		h.ok(CreateConsumer{Key: "s", Group: "g", Consumer: "c9"}).(ConsumerCreated).Created {
		t.Fatal("CREATECONSUMER c9 twice: want 1 then 0")
	}
}

// The NOGROUP texts differ per command; these are Redis 7.0's, byte for byte.
func TestRedisNoGroupTexts(t *testing.T) {
	h := newHarness(t)
	h.stream.addMs(1)
	tests := []struct {
		cmd  Command
		text string
	}{
		{ReadGroup{Key: "s", Group: "nog", Consumer: "c", New: true}, "NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option"},
		{PendingSummary{Key: "s", Group: "nog"}, "NOGROUP No such key 's' or consumer group 'nog'"},
		{PendingRange{Key: "s", Group: "nog", End: batch.MaxID, Count: 1}, "NOGROUP No such key 's' or consumer group 'nog'"},
		{Claim{Key: "s", Group: "nog", Consumer: "c", IDs: ids(1)}, "NOGROUP No such key 's' or consumer group 'nog'"},
		{AutoClaim{Key: "s", Group: "nog", Consumer: "c", Count: 100}, "NOGROUP No such key 's' or consumer group 'nog'"},
		{SetGroupID{Key: "s", Group: "nog"}, "NOGROUP No such consumer group 'nog' for key name 's'"},
		{InfoConsumers{Key: "s", Group: "nog"}, "NOGROUP No such consumer group 'nog' for key name 's'"},
		{CreateConsumer{Key: "s", Group: "nog", Consumer: "c"}, "NOGROUP No such consumer group 'nog' for key name 's'"},
		{DeleteConsumer{Key: "s", Group: "nog", Consumer: "c"}, "NOGROUP No such consumer group 'nog' for key name 's'"},
	}
	for _, tt := range tests {
		h.fails(tt.cmd, ErrNoGroup, tt.text)
	}
	if h.ok(DestroyGroup{Key: "s", Group: "nog"}).(Destroyed).Destroyed {
		t.Fatal("DESTROY of a missing group: want 0")
	}
}

// Session 2: SETID backwards reassigns pending ids, XAUTOCLAIM's cursor, DELCONSUMER, LASTID.
func TestRedisSessionSetIDAutoClaim(t *testing.T) {
	h := newHarness(t)
	h.stream.addMs(1, 2, 3, 4, 5, 6)
	h.ok(CreateGroup{Key: "s", Group: "g"})
	h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "a", Count: 4, New: true})

	h.ok(SetGroupID{Key: "s", Group: "g"})
	h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "b", Count: 2, New: true})
	wantStrings(t, "pending after SETID 0", pendingLines(h.pendingRange("g")), []string{"1-0 b 1", "2-0 b 1", "3-0 a 1", "4-0 a 1"})
	wantGroup(t, h.groupInfo("g"), 2, 4, id(2), 2, 4, true)

	sum := h.ok(PendingSummary{Key: "s", Group: "g"}).(PendingSummaryResult)
	if sum.Count != 4 || sum.Min != id(1) || sum.Max != id(4) || fmt.Sprint(sum.Consumers) != "[{a 2} {b 2}]" {
		t.Fatalf("XPENDING summary: got %+v, want 4 1-0 4-0 [a 2, b 2]", sum)
	}

	h.stream.del(id(3))
	ac := h.ok(AutoClaim{Key: "s", Group: "g", Consumer: "c", Count: 2}).(*AutoClaimResult)
	if ac.Next != id(3) || len(ac.Deleted) != 0 {
		t.Fatalf("XAUTOCLAIM COUNT 2: next %s deleted %v, want 3-0 and none", ac.Next, ac.Deleted)
	}
	wantStrings(t, "XAUTOCLAIM claimed", claimedIDs(ac.Claimed), []string{"1-0", "2-0"})
	ac = h.ok(AutoClaim{Key: "s", Group: "g", Consumer: "c", Count: 2, JustID: true}).(*AutoClaimResult)
	wantStrings(t, "XAUTOCLAIM JUSTID", claimedIDs(ac.Claimed), []string{"1-0", "2-0"})
	wantStrings(t, "pending after XAUTOCLAIM", pendingLines(h.pendingRange("g")), []string{"1-0 c 2", "2-0 c 2", "3-0 a 1", "4-0 a 1"})

	if got := h.ok(DeleteConsumer{Key: "s", Group: "g", Consumer: "c"}).(ConsumerDeleted).Pending; got != 2 {
		t.Fatalf("DELCONSUMER c: got %d, want 2", got)
	}
	sum = h.ok(PendingSummary{Key: "s", Group: "g"}).(PendingSummaryResult)
	if sum.Count != 2 || sum.Min != id(3) || sum.Max != id(4) || fmt.Sprint(sum.Consumers) != "[{a 2}]" {
		t.Fatalf("XPENDING summary after DELCONSUMER: got %+v, want 2 3-0 4-0 [a 2]", sum)
	}

	claim := h.ok(Claim{Key: "s", Group: "g", Consumer: "d", IDs: ids(5), Force: true, JustID: true, HasLastID: true, LastID: id(6)}).(*ClaimResult)
	wantStrings(t, "XCLAIM FORCE JUSTID LASTID", claimedIDs(claim.Claimed), []string{"5-0"})
	wantGroup(t, h.groupInfo("g"), 3, 3, id(6), 2, 4, true)
}

// Session 3: lag is unknown while an XDEL hole lies ahead of last-delivered; reading past it
// re-estimates entries-read; XAUTOCLAIM counts a deleted id against COUNT and its cursor ends at
// 0-0 when the scan reaches the end.
func TestRedisSessionLagAndAutoClaimDeleted(t *testing.T) {
	h := newHarness(t)
	h.stream.addMs(1, 2, 3, 4, 5)
	h.ok(CreateGroup{Key: "s", Group: "g"})
	h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "a", Count: 2, New: true})
	h.stream.del(id(4))
	wantGroup(t, h.groupInfo("g"), 1, 2, id(2), 2, 0, false)
	wantStrings(t, "read past the hole", deliveredIDs(h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "a", Count: 2, New: true})), []string{"3-0", "5-0"})
	wantGroup(t, h.groupInfo("g"), 1, 4, id(5), 5, 0, true)

	h.stream.del(id(2))
	h.nowMs += 50
	ac := h.ok(AutoClaim{Key: "s", Group: "g", Consumer: "b", Count: 2}).(*AutoClaimResult)
	if ac.Next != id(3) || fmt.Sprint(idStrings(ac.Deleted)) != "[2-0]" {
		t.Fatalf("XAUTOCLAIM COUNT 2: next %s deleted %v, want 3-0 [2-0]", ac.Next, ac.Deleted)
	}
	wantStrings(t, "XAUTOCLAIM claimed", claimedIDs(ac.Claimed), []string{"1-0"})
	ac = h.ok(AutoClaim{Key: "s", Group: "g", Consumer: "b", MinIdleMs: 100_000, Count: 1}).(*AutoClaimResult)
	if ac.Next != (batch.ID{}) || len(ac.Claimed) != 0 {
		t.Fatalf("XAUTOCLAIM with nothing idle: got next %s claimed %v, want 0-0 and none", ac.Next, ac.Claimed)
	}
	cons := h.ok(InfoConsumers{Key: "s", Group: "g"}).(ConsumersResult).Consumers
	if len(cons) != 2 || cons[0].Name != "a" || cons[0].Pending != 2 || cons[0].IdleMs != 50 || cons[1].Name != "b" || cons[1].Pending != 1 || cons[1].IdleMs != 0 {
		t.Fatalf("XINFO CONSUMERS: got %+v, want a (2 pending, idle 50), b (1 pending, idle 0)", cons)
	}
}

// XPENDING IDLE and the consumer filter; XCLAIM's min-idle, IDLE/TIME and RETRYCOUNT rules.
func TestPendingAndClaimOptions(t *testing.T) {
	h := newHarness(t)
	h.stream.addMs(1, 2, 3)
	h.ok(CreateGroup{Key: "s", Group: "g"})
	h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "a", Count: 1, New: true})
	h.nowMs += 100
	h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "b", Count: 2, New: true})

	idle := h.ok(PendingRange{Key: "s", Group: "g", MinIdleMs: 50, End: batch.MaxID, Count: 10}).(PendingRangeResult).Entries
	wantStrings(t, "XPENDING IDLE 50", pendingLines(idle), []string{"1-0 a 1"})
	byB := h.ok(PendingRange{Key: "s", Group: "g", End: batch.MaxID, Count: 1, HasConsumer: true, Consumer: "b"}).(PendingRangeResult).Entries
	wantStrings(t, "XPENDING b COUNT 1", pendingLines(byB), []string{"2-0 b 1"})
	none := h.ok(PendingRange{Key: "s", Group: "g", End: batch.MaxID, Count: 10, HasConsumer: true, Consumer: "zz"}).(PendingRangeResult).Entries
	wantStrings(t, "XPENDING unknown consumer", pendingLines(none), nil)

	// min-idle 50 claims only 1-0; IDLE 30 sets its delivery time 30 ms back.
	claim := h.ok(Claim{Key: "s", Group: "g", Consumer: "c", MinIdleMs: 50, IDs: ids(1, 2, 3), DeliveryTime: DeliveryTimeIdle, DeliveryTimeMs: 30}).(*ClaimResult)
	wantStrings(t, "XCLAIM min-idle 50", claimedIDs(claim.Claimed), []string{"1-0"})
	if p := h.pendingRange("g")[0]; p.IdleMs != 30 || p.DeliveryCount != 2 || p.Consumer != "c" {
		t.Fatalf("after XCLAIM IDLE 30: got %+v, want c, idle 30, count 2", p)
	}
	// TIME in the future becomes now; RETRYCOUNT sets the count.
	h.ok(Claim{Key: "s", Group: "g", Consumer: "c", IDs: ids(2), DeliveryTime: DeliveryTimeAt, DeliveryTimeMs: h.nowMs + 1000, HasRetryCount: true, RetryCount: 7})
	if p := h.pendingRange("g")[1]; p.IdleMs != 0 || p.DeliveryCount != 7 {
		t.Fatalf("after XCLAIM TIME future RETRYCOUNT 7: got %+v, want idle 0, count 7", p)
	}
	// A repeated id is claimed twice with min-idle 0 (Redis processes ids in order).
	claim = h.ok(Claim{Key: "s", Group: "g", Consumer: "d", IDs: ids(3, 3)}).(*ClaimResult)
	if fmt.Sprint(claim.Claimed) != "[{3-0 2} {3-0 3}]" {
		t.Fatalf("XCLAIM 3-0 3-0: got %v, want counts 2 then 3", claim.Claimed)
	}
}

// Plan's errors for the limits of limits.go.
func TestLimits(t *testing.T) {
	h := newHarness(t)
	h.stream.addMs(1)
	long := string(make([]byte, MaxNameBytes+1))
	h.fails(CreateGroup{Key: "s", Group: long}, ErrLimit, "ERR group name of 257 bytes exceeds the limit of 256 bytes")
	h.ok(CreateGroup{Key: "s", Group: "g"})
	h.fails(ReadGroup{Key: "s", Group: "g", Consumer: long}, ErrLimit, "ERR consumer name of 257 bytes exceeds the limit of 256 bytes")
	h.fails(ReadGroup{Key: "s", Group: "g", Consumer: "c", Count: MaxCount + 1, New: true}, ErrLimit, "ERR COUNT 10001 exceeds the limit of 10000 entries per read")
	h.fails(Ack{Key: "s", Group: "g", IDs: make([]batch.ID, MaxIDsPerCommand+1)}, ErrLimit, "ERR XACK takes at most 10000 ids")
	h.fails(Claim{Key: "s", Group: "g", Consumer: "c", IDs: make([]batch.ID, MaxIDsPerCommand+1)}, ErrLimit, "ERR XCLAIM takes at most 10000 ids")
	h.fails(AutoClaim{Key: "s", Group: "g", Consumer: "c", Count: MaxCount + 1}, ErrLimit, "ERR COUNT 10001 exceeds the limit of 10000")
	h.fails(SetMaxDeliveries{Key: "s", Group: "g", MaxDeliveries: -1}, ErrInvalidArgument, "ERR max deliveries must be >= 0")
	for i := range MaxConsumersPerGroup {
		h.state.groups["g"].consumer(fmt.Sprint(i), 0) // fill directly: 10,000 plans would be slow under -race
	}
	h.fails(CreateConsumer{Key: "s", Group: "g", Consumer: "one-too-many"}, ErrLimit, "ERR a consumer group holds at most 10000 consumers")
}
