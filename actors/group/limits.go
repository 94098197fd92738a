package group

// Limits. Every per-command and per-state quantity has a bound (STYLE principle 10); exceeding
// one is an error to the client (ErrLimit), never a silent truncation, except where noted.
const (
	// MaxNameBytes bounds group and consumer names.
	MaxNameBytes = 256
	// MaxGroups bounds the groups of one partition.
	MaxGroups = 1024
	// MaxConsumersPerGroup bounds the consumers of one group.
	MaxConsumersPerGroup = 10_000
	// MaxPendingPerGroup bounds a group's pending entries list. A read that would exceed it
	// delivers only what fits, and fails when nothing fits (ErrPendingFull); NOACK reads are not
	// bounded by it.
	MaxPendingPerGroup = 1 << 20
	// MaxIDsPerCommand bounds the ids of one XACK or XCLAIM.
	MaxIDsPerCommand = 10_000
	// MaxCount bounds COUNT of XREADGROUP, XPENDING, XAUTOCLAIM and XINFO STREAM FULL. An
	// XREADGROUP without COUNT (Redis: unlimited) reads at most MaxCount entries.
	MaxCount = 10_000
	// AutoClaimDefaultCount is XAUTOCLAIM's COUNT when none is given (Redis's default).
	AutoClaimDefaultCount = 100
	// autoClaimAttemptsFactor: XAUTOCLAIM examines at most COUNT*10 pending entries (Redis).
	autoClaimAttemptsFactor = 10
	// maxOpsPerEntry bounds the ops of one decoded Entry: a read with CLAIM makes at most
	// MaxCount deliveries plus a few bookkeeping ops; an XCLAIM at most MaxIDsPerCommand.
	maxOpsPerEntry = MaxCount + MaxIDsPerCommand + 16
)

// EntriesReadUnknown is a group's entries-read counter when it is not known (Redis's
// SCG_INVALID_ENTRIES_READ; XINFO shows nil).
const EntriesReadUnknown int64 = -1
