package group

import "github.com/shoalmq/shoal/protocol/batch"

// Command is one group command, already parsed by the RESP or native layer. Every command
// carries the stream's key, which some of Redis's error texts name. Commands are values; Plan
// does not retain them.
type Command interface{ command() }

// CreateGroup is XGROUP CREATE key group id|$ [ENTRIESREAD n], plus Shoal's MaxDeliveries.
type CreateGroup struct {
	Key, Group string
	ID         batch.ID // ignored when FromLast
	FromLast   bool     // "$": the stream's LastID
	// HasEntriesRead says ENTRIESREAD was given; without it the counter is EntriesReadUnknown.
	HasEntriesRead bool
	EntriesRead    int64 // >= -1
	MaxDeliveries  int64 // dead-letter bound, 0 = off (Shoal extension)
}

// SetGroupID is XGROUP SETID key group id|$ [ENTRIESREAD n].
type SetGroupID struct {
	Key, Group     string
	ID             batch.ID
	FromLast       bool
	HasEntriesRead bool
	EntriesRead    int64
}

// DestroyGroup is XGROUP DESTROY key group.
type DestroyGroup struct{ Key, Group string }

// CreateConsumer is XGROUP CREATECONSUMER key group consumer.
type CreateConsumer struct{ Key, Group, Consumer string }

// DeleteConsumer is XGROUP DELCONSUMER key group consumer.
type DeleteConsumer struct{ Key, Group, Consumer string }

// SetMaxDeliveries sets a group's dead-letter bound (Shoal extension; 0 turns it off).
type SetMaxDeliveries struct {
	Key, Group    string
	MaxDeliveries int64
}

// ReadGroup is XREADGROUP GROUP group consumer [COUNT n] [CLAIM min-idle] [NOACK] for one
// partition's stream.
type ReadGroup struct {
	Key, Group, Consumer string
	// Count is COUNT; 0 (or negative, as Redis) when not given, which reads up to MaxCount.
	Count int64
	// New is the ">" id: entries never delivered to the group. Otherwise the read serves the
	// consumer's own pending entries with ids above After (NoAck and Claim are then ignored).
	New   bool
	After batch.ID
	NoAck bool
	// Claim (Redis 8.4, an extension beyond 7.0): before new entries, claim pending entries of
	// any consumer of the group idle for at least ClaimMinIdleMs, longest idle first.
	Claim          bool
	ClaimMinIdleMs int64
}

// Ack is XACK key group id...
type Ack struct {
	Key, Group string
	IDs        []batch.ID
}

// PendingSummary is XPENDING key group.
type PendingSummary struct{ Key, Group string }

// PendingRange is XPENDING key group [IDLE min-idle] start end count [consumer]. Start and End
// are inclusive; the parser resolves "-", "+" and exclusive "(" ids.
type PendingRange struct {
	Key, Group  string
	MinIdleMs   int64
	Start, End  batch.ID
	Count       int64
	HasConsumer bool
	Consumer    string
}

// DeliveryTimeKind says how XCLAIM sets the delivery time of what it claims.
type DeliveryTimeKind uint8

const (
	// DeliveryTimeNow is the default: the delivery time becomes now.
	DeliveryTimeNow DeliveryTimeKind = iota
	// DeliveryTimeIdle is IDLE ms: the delivery time becomes now - ms.
	DeliveryTimeIdle
	// DeliveryTimeAt is TIME ms: the delivery time becomes ms (unix ms).
	DeliveryTimeAt
)

// Claim is XCLAIM key group consumer min-idle id... [IDLE ms | TIME ms] [RETRYCOUNT n] [FORCE]
// [JUSTID] [LASTID id]. When both IDLE and TIME are given the parser keeps the last, as Redis.
type Claim struct {
	Key, Group, Consumer string
	MinIdleMs            int64
	IDs                  []batch.ID
	DeliveryTime         DeliveryTimeKind
	DeliveryTimeMs       int64
	// HasRetryCount says RETRYCOUNT was given; as in Redis a negative count counts as not given.
	HasRetryCount bool
	RetryCount    int64
	Force, JustID bool
	HasLastID     bool
	LastID        batch.ID
}

// AutoClaim is XAUTOCLAIM key group consumer min-idle start [COUNT n] [JUSTID]. Start is
// inclusive (the parser resolves "(").
type AutoClaim struct {
	Key, Group, Consumer string
	MinIdleMs            int64
	Start                batch.ID
	// Count is COUNT: 1..MaxCount; the parser puts AutoClaimDefaultCount when none is given.
	Count  int64
	JustID bool
}

// InfoGroups is XINFO GROUPS key.
type InfoGroups struct{ Key string }

// InfoConsumers is XINFO CONSUMERS key group.
type InfoConsumers struct{ Key, Group string }

// InfoStreamFull is the group part of XINFO STREAM key FULL [COUNT n]. Count 0 lists up to
// MaxCount pending entries per group and per consumer (Redis: all); the parser puts Redis's
// default 10 when COUNT is not given.
type InfoStreamFull struct {
	Key   string
	Count int64
}

func (CreateGroup) command()      {}
func (SetGroupID) command()       {}
func (DestroyGroup) command()     {}
func (CreateConsumer) command()   {}
func (DeleteConsumer) command()   {}
func (SetMaxDeliveries) command() {}
func (ReadGroup) command()        {}
func (Ack) command()              {}
func (PendingSummary) command()   {}
func (PendingRange) command()     {}
func (Claim) command()            {}
func (AutoClaim) command()        {}
func (InfoGroups) command()       {}
func (InfoConsumers) command()    {}
func (InfoStreamFull) command()   {}

// Plan is what State.Plan decided: the entry to log (nil when the command changes nothing) and
// the client's result, final before the entry is applied.
type Plan struct {
	Entry  *Entry
	Result Result
}

// Result is the typed answer to a Command; its concrete type depends on the command (see Plan).
type Result interface{ result() }

// OK answers CreateGroup, SetGroupID and SetMaxDeliveries.
type OK struct{}

// Destroyed answers DestroyGroup (Redis replies 1 or 0).
type Destroyed struct{ Destroyed bool }

// ConsumerCreated answers CreateConsumer (Redis replies 1 or 0).
type ConsumerCreated struct{ Created bool }

// ConsumerDeleted answers DeleteConsumer: the pending entries it dropped.
type ConsumerDeleted struct{ Pending int64 }

// Acked answers Ack: the ids that were pending.
type Acked struct{ Acked int64 }

// ReadResult answers ReadGroup. An empty Entries on a ">" read means nothing to serve (Redis
// blocks or replies nil); a history read always answers, possibly with no entries.
type ReadResult struct {
	// Entries in reply order: with Claim, claimed entries first (longest idle first), then new
	// entries in id order; or the consumer's history in id order.
	Entries []Delivered
	// Deleted lists pending ids found deleted from the stream by a CLAIM read and dropped from
	// the pending list.
	Deleted     []batch.ID
	DeadLetters []DeadLetter
}

// Delivered is one entry of a read.
type Delivered struct {
	ID batch.ID
	// Exists is false for a history entry deleted from the stream: Redis replies the id with
	// nil fields.
	Exists bool
	// Claimed marks an entry taken from the pending list by a CLAIM read; IdleMs (ms since its
	// previous delivery) and DeliveryCount (its deliveries before this one) are the two extra
	// reply fields of Redis 8.4, which also sends them (as 0) for new entries of a CLAIM read.
	Claimed       bool
	IdleMs        int64
	DeliveryCount int64
}

// DeadLetter is a pending entry removed from the pending list instead of being delivered again,
// because its delivery count reached the group's MaxDeliveries. The shell copies entry ID of the
// stream to the topic's dead-letter stream.
type DeadLetter struct {
	Group string
	// Consumer is the consumer whose read or claim found it; Owner the consumer it was pending
	// for.
	Consumer, Owner string
	ID              batch.ID
	DeliveryCount   int64
}

// PendingSummaryResult answers PendingSummary. Min and Max are meaningless when Count is 0
// (Redis replies nils).
type PendingSummaryResult struct {
	Count     int64
	Min, Max  batch.ID
	Consumers []ConsumerPending // consumers with pending entries, in name order
}

// ConsumerPending is one consumer's pending count.
type ConsumerPending struct {
	Name  string
	Count int64
}

// PendingRangeResult answers PendingRange.
type PendingRangeResult struct{ Entries []PendingEntry }

// PendingEntry is one line of extended XPENDING.
type PendingEntry struct {
	ID            batch.ID
	Consumer      string
	IdleMs        int64
	DeliveryCount int64
}

// ClaimResult answers Claim. Claimed ids exist in the stream; the reply sends their entries, or
// only the ids with JUSTID.
type ClaimResult struct {
	Claimed []ClaimedEntry
	// Deleted lists pending ids found deleted from the stream and dropped from the pending list
	// (Redis 7 does this without telling the client).
	Deleted     []batch.ID
	DeadLetters []DeadLetter
}

// ClaimedEntry is one claimed id and its delivery count after the claim.
type ClaimedEntry struct {
	ID            batch.ID
	DeliveryCount int64
}

// AutoClaimResult answers AutoClaim: Redis replies [Next, Claimed, Deleted].
type AutoClaimResult struct {
	Next        batch.ID // cursor for the next call; 0-0 when the scan reached the end
	Claimed     []ClaimedEntry
	Deleted     []batch.ID
	DeadLetters []DeadLetter
}

// GroupsResult answers InfoGroups, groups in name order.
type GroupsResult struct{ Groups []GroupInfo }

// GroupInfo is one group of XINFO GROUPS.
type GroupInfo struct {
	Name            string
	Consumers       int64
	Pending         int64
	LastDeliveredID batch.ID
	EntriesRead     int64 // EntriesReadUnknown: nil
	Lag             int64
	LagKnown        bool // false: nil
	MaxDeliveries   int64
}

// ConsumersResult answers InfoConsumers, consumers in name order.
type ConsumersResult struct{ Consumers []ConsumerInfo }

// ConsumerInfo is one consumer of XINFO CONSUMERS. Redis 7.0 replies name, pending and idle;
// 7.2 adds inactive. SeenMs and ActiveMs are the raw times of XINFO STREAM FULL.
type ConsumerInfo struct {
	Name       string
	Pending    int64
	IdleMs     int64 // now - seen, at least 0
	InactiveMs int64 // now - active; -1 when never active
	SeenMs     int64
	ActiveMs   int64 // -1 when never active
}

// StreamFullResult answers InfoStreamFull, groups in name order.
type StreamFullResult struct{ Groups []GroupFull }

// GroupFull is one group of XINFO STREAM FULL.
type GroupFull struct {
	GroupInfo
	PELCount int64
	// Pending lists up to COUNT pending entries in id order; DeliveryMs is the raw time.
	Pending   []FullPending
	Consumers []ConsumerFull
}

// FullPending is one pending entry of XINFO STREAM FULL.
type FullPending struct {
	ID            batch.ID
	Consumer      string
	DeliveryMs    int64
	DeliveryCount int64
}

// ConsumerFull is one consumer of XINFO STREAM FULL (Redis 7.2 adds active-time).
type ConsumerFull struct {
	Name     string
	SeenMs   int64
	ActiveMs int64
	PELCount int64
	Pending  []FullPending // up to COUNT, Consumer empty
}

func (OK) result()                   {}
func (Destroyed) result()            {}
func (ConsumerCreated) result()      {}
func (ConsumerDeleted) result()      {}
func (Acked) result()                {}
func (*ReadResult) result()          {}
func (PendingSummaryResult) result() {}
func (PendingRangeResult) result()   {}
func (*ClaimResult) result()         {}
func (*AutoClaimResult) result()     {}
func (GroupsResult) result()         {}
func (ConsumersResult) result()      {}
func (StreamFullResult) result()     {}
