// Package ring is consistent hashing over node ids: for any key, every node that knows the same
// member set computes the same preference order of members, and a change of one member disturbs
// only what that member gains or loses. It is pure: no I/O, clock, randomness or goroutines.
//
// # Rendezvous hashing
//
// A key's preference order is the members sorted by weight xxhash64(key ‖ member id), highest
// first (ties, a 64-bit collision, to the smaller id). This is rendezvous, or highest random
// weight, hashing. A Ring is just the sorted member list; a lookup costs one hash per member.
// PartitionKey is the one key encoding of a topic partition that every node uses. The weights
// are a cross-node (and cross-version) contract: TestPreferenceIsStable pins them.
//
// # Why rendezvous and not virtual nodes
//
// Both candidates placed 1,000 partitions on n1..nN, N in 3..10, RF 1..3 (24 configurations);
// the virtual-node ring puts V points per member on a sorted circle of xxhash values and walks
// clockwise. The worst replicas-per-node max/mean, with how many configurations exceed 1.15, and
// the worst fraction of replicas moved (times N, worst of the first two workloads) when one node
// joins or any one node leaves:
//
//	candidate    topic t×1000         10 topics×100        20 names×1000 each   join    leave
//	rendezvous   1.239 ( 5 of 24)     1.136 ( 0 of 24)      37 of 480 > 1.15     0.99    1.24
//	vnodes-64    1.309 (15 of 24)     1.310 (16 of 24)     215 of 480            1.12    1.31
//	vnodes-128   1.233 ( 6 of 24)     1.360 (19 of 24)     156 of 480            1.09    1.36
//	vnodes-256   1.135 ( 0 of 24)     1.250 ( 4 of 24)      66 of 480            1.03    1.25
//
// (go test ./cluster/ring -run TestCandidates -v -sweep; Go 1.26.8, 2 vCPU.) Rendezvous balances
// best over many workloads: its spread is only the sampling noise of hashing 1,000 partitions,
// where virtual nodes add the uneven arc lengths of their ring, the same for every topic. It
// also moves the minimum: a leaving member's keys keep the others' order, and a joining member
// takes only the keys it now heads (TestChangingOneMemberKeepsTheOthersInOrder). It costs more
// per lookup, which is cheap at cluster sizes (BenchmarkPreference, Preference of 3 members for
// one key: 206 ns on 3 nodes, 513 ns on 10, 1,250 ns on 30, 2 allocations; virtual nodes 84-161
// ns). Neither candidate alone keeps every node within 1.15 of the mean on 10 nodes at RF 1: the
// sampling noise of 1,000 partitions alone reaches it. Package placement adds load caps on top
// of these preference orders for that.
package ring
