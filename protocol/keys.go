package protocol

import "github.com/cespare/xxhash/v2"

// PartitionForKey is the partition of a record with this key in a topic of partitions
// partitions: xxhash64(key) mod partitions. Client and server call this one function, so they
// cannot disagree. partitions must be at least 1.
func PartitionForKey(key []byte, partitions int32) int32 {
	return int32(xxhash.Sum64(key) % uint64(partitions))
}
