package protocol

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Field names on the wire are the msgpack tags; adding a field is compatible, renaming one is not.

// Handshake opens every connection: the client's version range; the server answers with the
// version both use.
type Handshake struct {
	VersionMin uint16 `msgpack:"version_min"`
	VersionMax uint16 `msgpack:"version_max"`
	ClientID   string `msgpack:"client_id,omitempty"`
}

// HandshakeResponse is the chosen version and who answered.
type HandshakeResponse struct {
	Version uint16 `msgpack:"version"`
	NodeID  string `msgpack:"node_id"`
}

// Acks is how long a produce waits before it answers.
type Acks uint8

const (
	// AcksQuorum answers once a majority of the replica set holds the batch durably (the zero
	// value, and the default).
	AcksQuorum Acks = 0
	// AcksLeader answers once the leader's log holds it (durably per its fsync policy).
	AcksLeader Acks = 1
	// AcksNone answers at once.
	AcksNone Acks = 2
)

// String returns the name the --acks flag uses.
func (a Acks) String() string {
	switch a {
	case AcksQuorum:
		return "quorum"
	case AcksLeader:
		return "leader"
	case AcksNone:
		return "none"
	}
	return fmt.Sprintf("acks(%d)", uint8(a))
}

// ParseAcks parses "quorum", "leader" or "none".
func ParseAcks(s string) (Acks, error) {
	for _, a := range []Acks{AcksQuorum, AcksLeader, AcksNone} {
		if a.String() == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("%w: acks %q: use quorum, leader or none", ErrInvalidArgument, s)
}

// MetadataRequest asks for the named topics (all when empty).
type MetadataRequest struct {
	Topics []string `msgpack:"topics,omitempty"`
}

// MetadataResponse describes the brokers and topics.
type MetadataResponse struct {
	Brokers []Broker        `msgpack:"brokers"`
	Topics  []TopicMetadata `msgpack:"topics"`
}

// Broker is a node that serves clients.
type Broker struct {
	NodeID string `msgpack:"node_id"`
	Addr   string `msgpack:"addr"`
}

// TopicConfig holds a topic's settings.
type TopicConfig struct {
	Partitions     int32 `msgpack:"partitions"`
	Replication    int16 `msgpack:"replication"`
	RetentionMs    int64 `msgpack:"retention_ms,omitempty"`
	RetentionBytes int64 `msgpack:"retention_bytes,omitempty"`
}

// TopicMetadata describes one topic and its partitions.
type TopicMetadata struct {
	Name       string              `msgpack:"name"`
	Config     TopicConfig         `msgpack:"config"`
	Partitions []PartitionMetadata `msgpack:"partitions"`
}

// PartitionMetadata describes one partition: who leads it, in which epoch, and its offsets.
type PartitionMetadata struct {
	Partition int32    `msgpack:"partition"`
	Leader    string   `msgpack:"leader"`
	Replicas  []string `msgpack:"replicas"`
	Epoch     uint64   `msgpack:"epoch"`
	LogStart  uint64   `msgpack:"log_start"`
	LogEnd    uint64   `msgpack:"log_end"`
}

// CreateTopicRequest creates a topic; zero settings take the server's defaults.
type CreateTopicRequest struct {
	Name   string      `msgpack:"name"`
	Config TopicConfig `msgpack:"config"`
}

// DeleteTopicRequest deletes a topic and its data.
type DeleteTopicRequest struct {
	Name string `msgpack:"name"`
}

// ListTopicsResponse names the topics.
type ListTopicsResponse struct {
	Topics []string `msgpack:"topics"`
}

// Empty is the body of requests and responses that carry nothing.
type Empty struct{}

// ProduceRequest appends record batches to partitions of one topic.
type ProduceRequest struct {
	Topic     string             `msgpack:"topic"`
	Acks      Acks               `msgpack:"acks"`
	TimeoutMs int32              `msgpack:"timeout_ms,omitempty"`
	Batches   []ProducePartition `msgpack:"batches"`
}

// ProducePartition is one batch (protocol/batch bytes) for one partition.
type ProducePartition struct {
	Partition int32  `msgpack:"partition"`
	Batch     []byte `msgpack:"batch"`
}

// ProduceResponse answers each batch of a ProduceRequest, in order.
type ProduceResponse struct {
	Results []ProduceResult `msgpack:"results"`
}

// ProduceResult is where one batch landed, or why it did not.
type ProduceResult struct {
	Partition  int32     `msgpack:"partition"`
	Error      ErrorBody `msgpack:"error"`
	BaseOffset uint64    `msgpack:"base_offset"`
	FirstID    batch.ID  `msgpack:"first_id"`
	LastID     batch.ID  `msgpack:"last_id"`
}

// PositionKind says how a Position names a place in a partition.
type PositionKind uint8

const (
	PositionOffset   PositionKind = 0
	PositionEarliest PositionKind = 1
	PositionLatest   PositionKind = 2
	PositionID       PositionKind = 3 // the first record whose id is at or above ID
	PositionTime     PositionKind = 4 // the first record whose timestamp is at or above TimeMs
)

// Position is a place in a partition.
type Position struct {
	Kind   PositionKind `msgpack:"kind"`
	Offset uint64       `msgpack:"offset,omitempty"`
	ID     batch.ID     `msgpack:"id,omitempty"`
	TimeMs int64        `msgpack:"time_ms,omitempty"`
}

// FetchRequest reads from partitions of one topic, waiting up to MaxWaitMs for data when there
// is none (long poll).
type FetchRequest struct {
	Topic      string           `msgpack:"topic"`
	MaxWaitMs  int32            `msgpack:"max_wait_ms,omitempty"`
	Partitions []FetchPartition `msgpack:"partitions"`
}

// FetchPartition is where to read one partition from, and how much.
type FetchPartition struct {
	Partition int32    `msgpack:"partition"`
	From      Position `msgpack:"from"`
	MaxBytes  int32    `msgpack:"max_bytes"`
}

// FetchResponse answers each partition of a FetchRequest.
type FetchResponse struct {
	Results []FetchResult `msgpack:"results"`
}

// FetchResult is whole batches from From (which may start before it: skip records below From),
// the tombstoned offsets among them, and where the next fetch continues.
type FetchResult struct {
	Partition     int32     `msgpack:"partition"`
	Error         ErrorBody `msgpack:"error"`
	From          uint64    `msgpack:"from"`
	Next          uint64    `msgpack:"next"`
	LogStart      uint64    `msgpack:"log_start"`
	HighWatermark uint64    `msgpack:"high_watermark"`
	Deleted       []uint64  `msgpack:"deleted,omitempty"`
	Batches       []byte    `msgpack:"batches"`
}

// ListOffsetsRequest resolves a position in each partition to an offset.
type ListOffsetsRequest struct {
	Topic      string   `msgpack:"topic"`
	Partitions []int32  `msgpack:"partitions"`
	At         Position `msgpack:"at"`
}

// ListOffsetsResponse answers each partition.
type ListOffsetsResponse struct {
	Results []OffsetResult `msgpack:"results"`
}

// OffsetResult is one partition's resolved offset.
type OffsetResult struct {
	Partition int32     `msgpack:"partition"`
	Error     ErrorBody `msgpack:"error"`
	Offset    uint64    `msgpack:"offset"`
}

// TrimRequest is XTRIM on one partition.
type TrimRequest struct {
	Topic     string   `msgpack:"topic"`
	Partition int32    `msgpack:"partition"`
	ByMinID   bool     `msgpack:"by_min_id,omitempty"`
	MaxLen    uint64   `msgpack:"max_len,omitempty"`
	MinID     batch.ID `msgpack:"min_id,omitempty"`
	Approx    bool     `msgpack:"approx,omitempty"`
}

// TrimResponse says how many records went.
type TrimResponse struct {
	Removed uint64 `msgpack:"removed"`
}

// Marshal encodes a message body.
func Marshal(v any) ([]byte, error) {
	return msgpack.Marshal(v)
}

// AppendMarshal encodes a message body after dst (for a frame header reserved in dst).
func AppendMarshal(dst []byte, v any) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(buf)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes a message body into v. Any bytes give a value or an error wrapping
// ErrMalformed, never a panic; allocations are bounded by the body's size (see checkShape).
func Unmarshal(body []byte, v any) error {
	if err := checkShape(body); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := msgpack.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// Shape limits of a message body.
const (
	// MaxElements bounds every array and map in a body (partitions per request, topics...).
	MaxElements = 1 << 16
	// maxDepth bounds nesting.
	maxDepth = 16
)

// checkShape walks a msgpack body before it is decoded, and refuses arrays or maps longer than
// MaxElements or than the bytes left (every element takes at least one), and nesting deeper than
// maxDepth.
//
// NB(shoal): msgpack v5.4.1 means to cap the slices it allocates for a claimed array length, but
// its check is inverted (decode_slice.go: `flags&disableAllocLimitFlag != 1` is always true), so
// a 6-byte body claiming a 774M-element array allocates tens of GB. FuzzUnmarshal found it.
func checkShape(body []byte) error {
	dec := msgpack.NewDecoder(bytes.NewReader(body))
	if err := walkShape(dec, len(body), 0); err != nil {
		return err
	}
	if _, err := dec.PeekCode(); err == nil {
		return errors.New("bytes after the message")
	}
	return nil
}

func walkShape(dec *msgpack.Decoder, size, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested deeper than %d", maxDepth)
	}
	code, err := dec.PeekCode()
	if err != nil {
		return err
	}
	var n, perElement int
	switch {
	case msgpcode.IsFixedArray(code) || code == msgpcode.Array16 || code == msgpcode.Array32:
		n, err = dec.DecodeArrayLen()
		perElement = 1
	case msgpcode.IsFixedMap(code) || code == msgpcode.Map16 || code == msgpcode.Map32:
		n, err = dec.DecodeMapLen()
		perElement = 2
	default:
		return dec.Skip()
	}
	if err != nil {
		return err
	}
	if n > MaxElements || n*perElement > size {
		return fmt.Errorf("collection of %d elements in a %d-byte body (limit %d)", n, size, MaxElements)
	}
	for range n * perElement {
		if err := walkShape(dec, size, depth+1); err != nil {
			return err
		}
	}
	return nil
}
