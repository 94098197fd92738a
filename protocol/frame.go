package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version range of the protocol this build speaks. The handshake picks the highest version both
// sides support.
const (
	VersionMin uint16 = 1
	VersionMax uint16 = 1
)

// Limits of the frame layer.
const (
	// FrameHeaderBytes is the fixed header of every frame.
	FrameHeaderBytes = 16
	// MaxFrameBytes bounds a frame's body: a produce request of several batches, or a fetch
	// response, must fit.
	MaxFrameBytes = 64 << 20
)

// MessageType names what a frame carries. Append only: a number, once given a meaning, keeps it.
type MessageType uint16

const (
	TypeHandshake   MessageType = 1
	TypeMetadata    MessageType = 2
	TypeCreateTopic MessageType = 3
	TypeDeleteTopic MessageType = 4
	TypeListTopics  MessageType = 5
	TypeProduce     MessageType = 6
	TypeFetch       MessageType = 7
	TypeListOffsets MessageType = 8
	TypeTrim        MessageType = 9
	// TypeReplicate carries replication messages between the nodes of a cluster.
	TypeReplicate MessageType = 10
	// TypeClusterStatus asks a node for members and partition health.
	TypeClusterStatus MessageType = 11
	// TypeClusterAdmin carries an operator's decision: drain, undrain or remove a node, pause
	// or resume rebalancing.
	TypeClusterAdmin MessageType = 12
	// TypeDelete deletes records by id (Redis XDEL) on a partition's leader.
	TypeDelete MessageType = 13
	// TypeStreamInfo asks a partition's leader for its stream figures (XLEN, XINFO STREAM).
	TypeStreamInfo MessageType = 14
	// TypeCommand is a Redis stream command (XADD, XRANGE, XGROUP, XREADGROUP, XACK, ...) run by
	// one partition's leader: the Redis front forwards commands with it, and the client's group
	// consumer speaks it.
	TypeCommand MessageType = 15

	typeLast = TypeCommand
)

var typeNames = [...]string{
	TypeHandshake: "handshake", TypeMetadata: "metadata", TypeCreateTopic: "create-topic",
	TypeDeleteTopic: "delete-topic", TypeListTopics: "list-topics", TypeProduce: "produce",
	TypeFetch: "fetch", TypeListOffsets: "list-offsets", TypeTrim: "trim",
	TypeReplicate: "replicate", TypeClusterStatus: "cluster-status", TypeClusterAdmin: "cluster-admin",
	TypeDelete: "delete", TypeStreamInfo: "stream-info", TypeCommand: "command",
}

// String returns the type's name, for logs and metrics.
func (t MessageType) String() string {
	if t >= 1 && t <= typeLast {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint16(t))
}

// Flags of a frame.
type Flags uint16

const (
	// FlagResponse marks a response (the request has none).
	FlagResponse Flags = 1 << 0
	// FlagError marks a response whose body is an ErrorBody.
	FlagError Flags = 1 << 1

	flagsKnown = FlagResponse | FlagError
)

// FrameHeader is the decoded fixed header of a frame.
type FrameHeader struct {
	BodyLength uint32
	Type       MessageType
	Flags      Flags
	RequestID  uint64
}

var (
	// ErrShortFrame means more bytes are needed to complete the frame.
	ErrShortFrame = errors.New("protocol: incomplete frame")
	// ErrBadFrame means the bytes are not a valid frame: the connection must be closed.
	ErrBadFrame = errors.New("protocol: malformed frame")
)

// AppendFrame appends a frame with header h (its BodyLength is taken from body) to dst.
func AppendFrame(dst []byte, h FrameHeader, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	dst = binary.BigEndian.AppendUint16(dst, uint16(h.Type))
	dst = binary.BigEndian.AppendUint16(dst, uint16(h.Flags))
	dst = binary.BigEndian.AppendUint64(dst, h.RequestID)
	return append(dst, body...)
}

// PutFrameHeader writes h into the first FrameHeaderBytes of b (for a body encoded in place
// after a reserved header).
func PutFrameHeader(b []byte, h FrameHeader) {
	binary.BigEndian.PutUint32(b[0:], h.BodyLength)
	binary.BigEndian.PutUint16(b[4:], uint16(h.Type))
	binary.BigEndian.PutUint16(b[6:], uint16(h.Flags))
	binary.BigEndian.PutUint64(b[8:], h.RequestID)
}

// ReadFrameHeader decodes and checks a frame header: ErrShortFrame when b holds less than a
// header, ErrBadFrame for an oversized body, an unknown type or unknown flags.
func ReadFrameHeader(b []byte) (FrameHeader, error) {
	if len(b) < FrameHeaderBytes {
		return FrameHeader{}, ErrShortFrame
	}
	h := FrameHeader{
		BodyLength: binary.BigEndian.Uint32(b[0:]),
		Type:       MessageType(binary.BigEndian.Uint16(b[4:])),
		Flags:      Flags(binary.BigEndian.Uint16(b[6:])),
		RequestID:  binary.BigEndian.Uint64(b[8:]),
	}
	switch {
	case h.BodyLength > MaxFrameBytes:
		return h, fmt.Errorf("%w: body of %d bytes above the limit of %d", ErrBadFrame, h.BodyLength, MaxFrameBytes)
	case h.Type < 1 || h.Type > typeLast:
		return h, fmt.Errorf("%w: unknown message type %d", ErrBadFrame, uint16(h.Type))
	case h.Flags&^flagsKnown != 0:
		return h, fmt.Errorf("%w: unknown flags %#x", ErrBadFrame, uint16(h.Flags))
	case h.Flags&FlagError != 0 && h.Flags&FlagResponse == 0:
		return h, fmt.Errorf("%w: error flag on a request", ErrBadFrame)
	}
	return h, nil
}

// SplitFrame returns the first frame of b: its header, its body (aliasing b) and the bytes after
// it; ErrShortFrame when b ends inside the frame.
func SplitFrame(b []byte) (h FrameHeader, body, rest []byte, err error) {
	h, err = ReadFrameHeader(b)
	if err != nil {
		return h, nil, b, err
	}
	end := FrameHeaderBytes + int(h.BodyLength)
	if len(b) < end {
		return h, nil, b, ErrShortFrame
	}
	return h, b[FrameHeaderBytes:end:end], b[end:], nil
}
