// Package storage is the partition log: an ordered, append-only sequence of record batches in
// segment files on disk, with crash recovery, a durability policy, retention and the suffix
// truncation that replicas need.
//
// # Files
//
// A partition directory holds
//
//	00000000000000000000.log    segment: whole batches (protocol/batch bytes) back to back
//	00000000000000000000.index  sparse index of a sealed segment (see index.go)
//	partition.meta              epoch history, promised epoch, log start, tombstones
//
// Segments are named by the offset of their first batch. The last segment is the active one:
// appends go to it; it has no index file until it is sealed (rolled by size or age).
//
// # Durability
//
// Append writes the batch to the active segment and returns; the batch is durable when a
// fsync covers it. Under FsyncAlways a syncer goroutine fsyncs as soon as there is something to
// sync, so appends that arrive during one fsync share the next one (group commit). Under
// FsyncInterval it fsyncs on a timer; under FsyncNever only on roll and Close. DurableEnd tells
// the caller up to which offset appends may be acknowledged under the policy; SyncedEnd tells
// what has really been fsynced. OnDurable and WaitDurable report progress.
//
// # Recovery
//
// Open scans the active segment batch by batch (length, CRC, dense offsets, rising epochs and
// ids), cuts a torn or corrupt tail at the last whole valid batch and reports the cut in
// Recovery; it rebuilds a missing or broken index of a sealed segment. A corrupt batch found
// later by a read is an ErrCorrupt naming the file and position. Nothing here panics on bad
// bytes.
//
// # Concurrency
//
// A Log is safe for concurrent use: one mutex orders appends, truncation and retention; reads
// share it; fsyncs run outside it. Callers that append from one goroutine (a partition actor)
// see their appends in order.
package storage
