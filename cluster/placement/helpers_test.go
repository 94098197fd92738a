package placement

// Method: builders shared by this package's tests (this file has no tests): member lists
// n1..nN and the catalog workloads the property tests and benchmarks run on.

import (
	"fmt"

	"github.com/shoalmq/shoal/cluster/ring"
)

// nodes builds the member list n1..nN.
func nodes(n int) []ring.NodeID {
	members := make([]ring.NodeID, n)
	for i := range members {
		members[i] = ring.NodeID(fmt.Sprintf("n%d", i+1))
	}
	return members
}

// without returns members minus the one at index i, in a new slice.
func without(members []ring.NodeID, i int) []ring.NodeID {
	rest := make([]ring.NodeID, 0, len(members)-1)
	rest = append(rest, members[:i]...)
	return append(rest, members[i+1:]...)
}

// workload is a named catalog of 1,000 partitions in total, built for one replication factor.
type workload struct {
	name   string
	topics func(rf int) []Topic
}

// workloads are one topic of 1,000 partitions, four topics of mixed sizes, and ten small topics
// (the case that defeats balancing each topic on its own).
var workloads = []workload{
	{"t×1000", func(rf int) []Topic { return []Topic{{"t", 1000, rf}} }},
	{"4 mixed topics", func(rf int) []Topic {
		return []Topic{{"orders", 400, rf}, {"clicks", 300, rf}, {"logs", 200, rf}, {"audit", 100, rf}}
	}},
	{"10 topics×100", func(rf int) []Topic {
		topics := make([]Topic, 10)
		for i := range topics {
			topics[i] = Topic{fmt.Sprintf("topic-%d", i), 100, rf}
		}
		return topics
	}},
}
