// Package simulation is Shoal's seeded chaos simulator, the engine of `shoal sim`
// (docs/design.md, "Simulation as built (protocol tier)"; the model is TigerBeetle's VOPR).
//
// The protocol tier runs N replicas (3 or 5) of P partitions of the pure replication core
// (actors/replication) in one goroutine, on a simulated network (simnet: loss, duplication,
// delay, jitter, reordering, slow links, one-way loss, isolation, splits, bridges) and a
// simulated disk per replica (simdisk: fsync always or interval; a crash loses the unsynced
// tail, a torn write its last batch; a failed fsync stops the replica), with process faults
// (crash and restart, power loss of a majority, pause and resume), membership views given to
// each node and allowed to disagree (detection delays per observer, false suspicions), and a
// workload of producers (unique values, acks quorum, leader or none) and consumers. The shell
// around each core does what actors/partition does: the Ready's writes, the promise, the
// messages, the commit point; durability per the fsync policy; answers to producers.
//
// Everything is a function of Config.Seed: the seed draws the fault mix (Faults, one struct
// of knobs; each enabled class is switched on or off by a coin: swarm testing), and every
// decision after it, so a seed replays step for step (Result.TraceHash is the proof). A run
// has a safety phase with faults (Config.SafetyTicks), then a liveness phase with every fault
// healed, in which every partition must converge within Config.LivenessTicks: first idle (one
// leader whose whole log is committed, every replica clean, following it with its commit point
// and byte-identical below it), then again after a probe write per partition, which must be
// acknowledged, with every log now equal to the leader's. The checker
// (package check) follows the run and checks the history at the end.
//
// Canaries (Canaries) plant known bugs, in the core (replication.Options.Canary) or in the
// shell, and must be caught within their stated seeds.
//
// A Run uses no clock, no global randomness and no goroutine; RunSeeds runs seeds in parallel,
// one Run per goroutine.
package simulation
