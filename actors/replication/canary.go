package replication

import "fmt"

// Canary names a known bug the simulator (simulation/, `shoal sim --canary`) plants in the core
// to show that its checkers catch it. The zero value plants nothing, and with it the core
// behaves exactly as without this hook: every hook is one comparison at the exact point the
// bug would be, and the code stays total (no canary makes the core panic on its own).
type Canary string

// Canaries of the core. Append only: a name, once given a meaning, keeps it (seeds that catch
// a canary are written down against its name).
const (
	CanaryNone Canary = ""
	// CanaryPromoteWithoutMajority: a candidate decides with one promise fewer than a majority.
	CanaryPromoteWithoutMajority Canary = "promote-without-majority"
	// CanarySkipTruncation: a follower keeps a divergent suffix (it skips the leader's batches
	// that lie inside its log instead of truncating) and answers as if it matched.
	CanarySkipTruncation Canary = "skip-truncation"
	// CanaryCommitOldEpoch: a leader commits entries of older epochs by counting replicas,
	// without its epoch-start entry (Raft's figure 8).
	CanaryCommitOldEpoch Canary = "commit-old-epoch"
	// CanaryAcceptStaleEpoch: a follower accepts appends from a leader of a lower epoch and
	// answers in that epoch.
	CanaryAcceptStaleEpoch Canary = "accept-stale-epoch"
)

// Canaries lists the core's canaries in a fixed order.
func Canaries() []Canary {
	return []Canary{CanaryPromoteWithoutMajority, CanarySkipTruncation, CanaryCommitOldEpoch, CanaryAcceptStaleEpoch}
}

func (c Canary) validate() error {
	if c == CanaryNone {
		return nil
	}
	for _, k := range Canaries() {
		if c == k {
			return nil
		}
	}
	return fmt.Errorf("%w: unknown canary %q", ErrBadOptions, string(c))
}

// acceptStale is CanaryAcceptStaleEpoch's hook in receiveAppend: a follower handles an append
// of a lower epoch as if it came from its leader, and answers in the sender's epoch (so the
// stale leader counts it). It stays total: an append that matches at Index-1 and starts at or
// above the commit point never truncates below it, and never appends a batch of an epoch below
// the entry before it (the stale leader's log and this one agree up to there).
func (r *Replica) acceptStale(m Message) bool {
	if r.opts.Canary != CanaryAcceptStaleEpoch || r.role != RoleFollower || m.Index < r.commit {
		return false
	}
	n := len(r.rd.Messages)
	r.handleAppend(m)
	for i := n; i < len(r.rd.Messages); i++ {
		r.rd.Messages[i].Epoch = m.Epoch
	}
	return true
}
