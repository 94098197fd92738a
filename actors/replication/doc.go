// Package replication is the replication and promotion core of one partition replica: a pure
// state machine in the style of etcd's raft. It takes messages from peers (Step), logical time
// (Tick), the node's membership view (SetAlive) and reports from its shell (Appended, Durable),
// and returns a Ready: log writes to do in order (truncations and appends), a promise to persist,
// messages to send after both, and the commit point. It does no I/O of its own, reads no clock,
// starts no goroutine; it reads stored batches through LogReader when it replicates them.
//
// The design is docs/design.md, "Replication and failover". In short:
//
//   - Writes. The leader appends in its epoch and pushes batches to every other member of the
//     replica set with (Index, PrevEpoch): the batches start at offset Index and the entry before
//     them has epoch PrevEpoch. A follower accepts only from the epoch it has promised (or a newer
//     one, which it then promises) and only when its log matches at Index-1; otherwise it answers
//     with its end and epoch history, and the leader computes where the two logs diverge. The
//     commit point is the largest offset held durably by a majority of voters that lies past the
//     leader's epoch-start entry (entries of older epochs commit with it: Raft's rule).
//   - Promotion. When a follower's leader is dead in its membership view, or silent for
//     ElectionTicks, the first live voter of the replica set in config order (ring order) becomes
//     a candidate; the next one waits one more election timeout, and so on. The candidate takes
//     epoch max(promised, last)+1, persists its own promise and asks the voters to promise it. A
//     replica promises at most one candidate per epoch, never an epoch below one it promised,
//     never while it hears from a live leader (a lease of ElectionTicks), and never while it is
//     an unclean learner; a promise carries the replica's end and epoch history. With a majority
//     of promises the candidate fetches the suffix of the most advanced promiser (by last epoch,
//     then end), truncating its own divergent suffix first, then writes an epoch-start entry and
//     leads.
//   - Unclean restarts. A replica restarted after a crash under fsync interval or never may have
//     lost entries it acknowledged: it starts Unclean, a learner that neither promises nor counts
//     toward the commit point, until its durable end reaches a commit point its leader told it.
//   - Replica sets. A config entry (a control batch) in the log sets voters and learners; a replica
//     uses the newest one in its log, committed or not, and forgets it if it is truncated. The
//     leader changes the set one voter at a time, and only after its epoch-start entry committed.
//
// Ownership: byte slices in messages passed to Step belong to the core afterwards and may be
// returned in Ready.Writes; slices in Ready belong to the shell. A Replica is not safe for
// concurrent use: one goroutine (the partition actor) drives it.
package replication
