package partition

// groupState is the consumer-group state of the partition (filled in with actors/group).
type groupState struct{}

type groupMsg struct{}

func (a *partitionActor) group(*groupMsg) {}

func (a *partitionActor) groupsCommitted(uint64) {}

func (a *partitionActor) groupsTruncated(uint64) error { return nil }

func (a *partitionActor) applyGroupEntry(uint64, []byte) error { return nil }
