package cluster

import (
	"fmt"

	"github.com/hashicorp/memberlist"
	"github.com/vmihailenco/msgpack/v5"
)

// metaBytesMax is memberlist's limit on a node's metadata (memberlist.MetaMaxSize).
const metaBytesMax = memberlist.MetaMaxSize

// nodeMeta is what a node gossips about itself besides its name (the node id) and its gossip
// address: memberlist carries it as opaque bytes, msgpack-encoded as a map keyed by the short
// names below, so that a later version can add keys and an older one ignores them.
// Append-only: never reuse or rename a key.
type nodeMeta struct {
	ClusterID   string `msgpack:"c"`
	BrokerAddr  string `msgpack:"b"`
	HTTPAddr    string `msgpack:"h"`
	ProtocolMin uint16 `msgpack:"pmin"`
	ProtocolMax uint16 `msgpack:"pmax"`
	// Leaving is set by Leave just before memberlist's leave broadcast, so that the others can
	// tell a member that left from one that died: memberlist's NotifyLeave says neither (see
	// doc.go).
	Leaving bool `msgpack:"l,omitempty"`
}

// encodeMeta returns m's bytes, or an error if they exceed memberlist's limit.
func encodeMeta(m nodeMeta) ([]byte, error) {
	b, err := msgpack.Marshal(&m)
	if err != nil {
		return nil, fmt.Errorf("cluster: encode node metadata: %w", err)
	}
	if len(b) > metaBytesMax {
		return nil, fmt.Errorf("node metadata is %d bytes, memberlist allows %d: shorten the broker address (%d bytes), "+
			"the HTTP address (%d bytes) or the cluster id (%d bytes)",
			len(b), metaBytesMax, len(m.BrokerAddr), len(m.HTTPAddr), len(m.ClusterID))
	}
	return b, nil
}

// decodeMeta reads a peer's metadata. It never panics: bad bytes are an error.
func decodeMeta(b []byte) (nodeMeta, error) {
	var m nodeMeta
	if len(b) == 0 {
		return m, fmt.Errorf("no metadata")
	}
	if len(b) > metaBytesMax {
		return m, fmt.Errorf("metadata of %d bytes exceeds memberlist's %d", len(b), metaBytesMax)
	}
	if err := msgpack.Unmarshal(b, &m); err != nil {
		return nodeMeta{}, err
	}
	if m.ProtocolMax == 0 || m.ProtocolMin > m.ProtocolMax {
		return nodeMeta{}, fmt.Errorf("protocol version range %d..%d is empty", m.ProtocolMin, m.ProtocolMax)
	}
	return m, nil
}
