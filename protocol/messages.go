package protocol

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/vmihailenco/msgpack/v5"
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
// Leader is "" when the partition has none right now (a failover is under way); Epoch is 0
// when the answering node does not host the partition and only guessed the leader.
type PartitionMetadata struct {
	Partition int32    `msgpack:"partition"`
	Leader    string   `msgpack:"leader"`
	Replicas  []string `msgpack:"replicas"`
	Epoch     uint64   `msgpack:"epoch"`
	LogStart  uint64   `msgpack:"log_start"`
	LogEnd    uint64   `msgpack:"log_end"`
	// InSync lists the replicas that hold the log up to the commit point (the leader knows).
	InSync []string `msgpack:"in_sync,omitempty"`
	// HighWatermark is the commit point: consumers read below it.
	HighWatermark uint64 `msgpack:"high_watermark,omitempty"`
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
	// Replicas are the nodes that held the batch durably when it was acknowledged.
	Replicas []string `msgpack:"replicas,omitempty"`
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

// DeleteRequest deletes the records with the given ids from one partition (Redis XDEL): the
// leader logs tombstones and answers once they commit.
type DeleteRequest struct {
	Topic     string     `msgpack:"topic"`
	Partition int32      `msgpack:"partition"`
	IDs       []batch.ID `msgpack:"ids"`
}

// CountResponse answers with a count (XDEL: the records that existed and were deleted).
type CountResponse struct {
	Count uint64 `msgpack:"count"`
}

// StreamInfoRequest asks for one partition's stream figures.
type StreamInfoRequest struct {
	Topic     string `msgpack:"topic"`
	Partition int32  `msgpack:"partition"`
}

// StreamInfoResponse is a partition seen as a Redis stream, from its leader.
type StreamInfoResponse struct {
	// Length is the number of live records (XLEN).
	Length uint64 `msgpack:"length"`
	// LastID is the last id the stream generated (0-0 when none).
	LastID batch.ID `msgpack:"last_id"`
	// FirstID is the id of the first live record (0-0 when empty).
	FirstID       batch.ID `msgpack:"first_id"`
	LogStart      uint64   `msgpack:"log_start"`
	HighWatermark uint64   `msgpack:"high_watermark"`
	EntriesAdded  uint64   `msgpack:"entries_added"`
	MaxDeletedID  batch.ID `msgpack:"max_deleted_id"`
	Groups        int      `msgpack:"groups"`
}

// CommandRequest is a Redis stream command for the leader of one partition of the topic its key
// names (the Redis front uses partition 0). Args are the command's words as a Redis client sends
// them; Proto is the RESP version of the reply (2 or 3).
type CommandRequest struct {
	Partition int32    `msgpack:"partition"`
	Args      [][]byte `msgpack:"args"`
	Proto     uint8    `msgpack:"proto"`
}

// CommandResponse carries the command's reply, RESP-encoded (an error reply included: a Redis
// error is an answer, not a failed request).
type CommandResponse struct {
	Reply []byte `msgpack:"reply"`
}

// TrimResponse says how many records went.
type TrimResponse struct {
	Removed uint64 `msgpack:"removed"`
}

// ReplicateRequest carries replication messages from one node to another, for any partitions
// (the sender batches what queued up while its previous request was in flight). The answer is
// Empty: replication messages are one-way, and the receiver hands them to the partitions in
// the order they arrived.
type ReplicateRequest struct {
	From     string           `msgpack:"from"`
	Messages []ReplicaMessage `msgpack:"messages"`
	// Leaders announces the partitions the sender leads, so that nodes holding no replica of
	// them can name the leader in metadata (gossip of leadership, as Redis Cluster's of slots).
	Leaders []LeaderNotice `msgpack:"leaders,omitempty"`
}

// LeaderNotice says that Leader leads a partition in Epoch, with these voters.
type LeaderNotice struct {
	Topic     string   `msgpack:"topic"`
	Partition int32    `msgpack:"partition"`
	Leader    string   `msgpack:"leader"`
	Epoch     uint64   `msgpack:"epoch"`
	Replicas  []string `msgpack:"replicas"`
	// Move is "moving" while the leader moves the partition's replicas toward placement,
	// "queued" while that waits for other moves to finish, "" otherwise.
	Move string `msgpack:"move,omitempty"`
	// InSync are the replicas holding the log up to the commit point, as the leader last saw.
	InSync []string `msgpack:"in_sync,omitempty"`
}

// ReplicaMessage is one message of the replication protocol (actors/replication.Message) for
// one partition.
type ReplicaMessage struct {
	Topic     string       `msgpack:"topic"`
	Partition int32        `msgpack:"partition"`
	Type      uint8        `msgpack:"t"`
	From      string       `msgpack:"f"`
	To        string       `msgpack:"to"`
	Epoch     uint64       `msgpack:"e"`
	Index     uint64       `msgpack:"i,omitempty"`
	PrevEpoch uint64       `msgpack:"pe,omitempty"`
	Data      []byte       `msgpack:"d,omitempty"`
	Commit    uint64       `msgpack:"c,omitempty"`
	Reject    bool         `msgpack:"r,omitempty"`
	Match     uint64       `msgpack:"m,omitempty"`
	Durable   uint64       `msgpack:"du,omitempty"`
	End       uint64       `msgpack:"en,omitempty"`
	LastEpoch uint64       `msgpack:"le,omitempty"`
	History   []EpochStart `msgpack:"h,omitempty"`
	Granted   bool         `msgpack:"g,omitempty"`
	Learner   bool         `msgpack:"l,omitempty"`
	Transfer  bool         `msgpack:"x,omitempty"`
	// Behind: a refused promise whose candidate's log does not reach the sender's newest
	// config entry (added after Transfer; older nodes leave it false).
	Behind bool `msgpack:"b,omitempty"`
}

// EpochStart is one entry of a log's epoch history.
type EpochStart struct {
	Epoch uint64 `msgpack:"e"`
	Start uint64 `msgpack:"s"`
}

// ClusterStatusResponse is what `shoal cluster status` shows; its JSON form is a contract.
type ClusterStatusResponse struct {
	ClusterID  string          `msgpack:"cluster_id" json:"cluster_id,omitempty"`
	Members    []MemberStatus  `msgpack:"members" json:"members"`
	Partitions PartitionCounts `msgpack:"partitions" json:"partitions"`
	Moves      MoveCounts      `msgpack:"moves" json:"moves"`
	// Problems names each leaderless or under-replicated partition, one line each.
	Problems []string `msgpack:"problems,omitempty" json:"problems,omitempty"`
}

// Cluster admin operations (ClusterAdminRequest.Op).
const (
	AdminDrain   = "drain"   // move every replica and leadership off Node
	AdminUndrain = "undrain" // cancel a drain: Node takes replicas again
	AdminRemove  = "remove"  // forget Node for good and re-replicate what it held
	AdminPause   = "pause"   // stop starting replica moves (healing goes on)
	AdminResume  = "resume"  // start them again
)

// ClusterAdminRequest is an operator's decision, written to the replicated catalog so every
// node acts on it; the answer is Empty, or an error saying what to do instead.
type ClusterAdminRequest struct {
	Op    string `msgpack:"op"`
	Node  string `msgpack:"node,omitempty"`
	Force bool   `msgpack:"force,omitempty"`
	// Hint: a remove --force that the node receiving it passes to every live member, which
	// only notes the node as gone (node.Node.NoteGone) and answers.
	Hint bool `msgpack:"hint,omitempty"`
}

// MemberStatus is one member of the cluster as the answering node sees it.
type MemberStatus struct {
	ID         string `msgpack:"id" json:"id"`
	State      string `msgpack:"state" json:"state"` // alive, suspect, dead, left
	BrokerAddr string `msgpack:"broker_addr" json:"broker_addr"`
	GossipAddr string `msgpack:"gossip_addr,omitempty" json:"gossip_addr,omitempty"`
	HTTPAddr   string `msgpack:"http_addr,omitempty" json:"http_addr,omitempty"`
	Replicas   int    `msgpack:"replicas" json:"replicas"`
	Leaders    int    `msgpack:"leaders" json:"leaders"`
	// Operator is the operator's decision about the member: "" (none), "draining" or "removed".
	Operator string `msgpack:"operator,omitempty" json:"operator,omitempty"`
}

// PartitionCounts counts partitions by health.
type PartitionCounts struct {
	Total           int `msgpack:"total" json:"total"`
	Leaderless      int `msgpack:"leaderless" json:"leaderless"`
	UnderReplicated int `msgpack:"under_replicated" json:"under_replicated"`
}

// MoveCounts counts replica moves (rebalancing).
type MoveCounts struct {
	InProgress int `msgpack:"in_progress" json:"in_progress"`
	Queued     int `msgpack:"queued" json:"queued"`
	// Paused: an operator paused rebalancing (replacing dead replicas goes on).
	Paused bool `msgpack:"paused,omitempty" json:"paused,omitempty"`
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
// MaxElements or than the bytes left (every element takes at least one), nesting deeper than
// maxDepth, lengths past the end, and bytes after the message. It reads the bytes in place:
// nothing is copied or allocated.
//
// NB(shoal): msgpack v5.4.1 means to cap the slices it allocates for a claimed array length, but
// its check is inverted (decode_slice.go: `flags&disableAllocLimitFlag != 1` is always true), so
// a 6-byte body claiming a 774M-element array allocates tens of GB. FuzzUnmarshal found it.
func checkShape(body []byte) error {
	rest, err := skipValue(body, 0)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errors.New("bytes after the message")
	}
	return nil
}

var errTruncated = errors.New("message ends inside a value")

// skipValue returns the bytes after the msgpack value at the start of b.
func skipValue(b []byte, depth int) ([]byte, error) {
	if len(b) == 0 {
		return nil, errTruncated
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxDepth)
	}
	code, b := b[0], b[1:]
	switch {
	case code <= 0x7f || code >= 0xe0 || code == 0xc0 || code == 0xc2 || code == 0xc3:
		return b, nil // fixint, nil, bool
	case code&0xf0 == 0x80:
		return skipElements(b, int(code&0x0f)*2, depth)
	case code&0xf0 == 0x90:
		return skipElements(b, int(code&0x0f), depth)
	case code&0xe0 == 0xa0:
		return skipBytes(b, int(code&0x1f))
	}
	return skipSized(code, b, depth)
}

// skipSized handles the codes followed by a length or a fixed-size payload.
func skipSized(code byte, b []byte, depth int) ([]byte, error) {
	switch code {
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return skipBytes(b, 4)
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		return skipBytes(b, 8)
	case 0xcc, 0xd0: // uint8, int8
		return skipBytes(b, 1)
	case 0xcd, 0xd1: // uint16, int16
		return skipBytes(b, 2)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16 (type byte + data)
		return skipBytes(b, 1+1<<(code-0xd4))
	case 0xc4, 0xd9, 0xc7: // bin8, str8, ext8
		return skipLengthPrefixed(b, 1, code == 0xc7)
	case 0xc5, 0xda, 0xc8: // bin16, str16, ext16
		return skipLengthPrefixed(b, 2, code == 0xc8)
	case 0xc6, 0xdb, 0xc9: // bin32, str32, ext32
		return skipLengthPrefixed(b, 4, code == 0xc9)
	case 0xdc, 0xdd, 0xde, 0xdf: // array16, array32, map16, map32
		width := 2 << ((code - 0xdc) % 2)
		n, rest, err := readLength(b, width)
		if err != nil {
			return nil, err
		}
		if code >= 0xde {
			n *= 2
		}
		return skipElements(rest, n, depth)
	}
	return nil, fmt.Errorf("invalid msgpack code %#x", code)
}

func skipElements(b []byte, n, depth int) ([]byte, error) {
	if n > 2*MaxElements || n > len(b) {
		return nil, fmt.Errorf("collection of %d values with %d bytes left (limit %d elements)", n, len(b), MaxElements)
	}
	var err error
	for range n {
		if b, err = skipValue(b, depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func skipLengthPrefixed(b []byte, width int, ext bool) ([]byte, error) {
	n, rest, err := readLength(b, width)
	if err != nil {
		return nil, err
	}
	if ext {
		n++ // the extension's type byte
	}
	return skipBytes(rest, n)
}

func readLength(b []byte, width int) (int, []byte, error) {
	if len(b) < width {
		return 0, nil, errTruncated
	}
	var n uint64
	for _, c := range b[:width] {
		n = n<<8 | uint64(c)
	}
	if n > uint64(MaxFrameBytes) {
		return 0, nil, fmt.Errorf("length %d above the frame limit", n)
	}
	return int(n), b[width:], nil
}

func skipBytes(b []byte, n int) ([]byte, error) {
	if n > len(b) {
		return nil, errTruncated
	}
	return b[n:], nil
}
