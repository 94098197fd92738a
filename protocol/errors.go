package protocol

import (
	"errors"
	"fmt"

	"github.com/shoalmq/shoal/protocol/batch"
)

// ErrorCode is a wire error. Append only: a number, once given a meaning, keeps it. The client
// maps each code back to the same sentinel, so errors.Is works across the network.
type ErrorCode uint16

const (
	CodeOK                 ErrorCode = 0
	CodeUnknown            ErrorCode = 1
	CodeMalformed          ErrorCode = 2
	CodeUnsupportedVersion ErrorCode = 3
	CodeUnknownTopic       ErrorCode = 4
	CodeTopicExists        ErrorCode = 5
	CodeNotLeader          ErrorCode = 6
	CodeBusy               ErrorCode = 7
	CodeTooLarge           ErrorCode = 8
	CodeOutOfRange         ErrorCode = 9
	CodeStaleEpoch         ErrorCode = 10
	CodeIDNotIncreasing    ErrorCode = 11
	CodeCorruptBatch       ErrorCode = 12
	CodeTimeout            ErrorCode = 13
	CodeInvalidArgument    ErrorCode = 14
	CodeShuttingDown       ErrorCode = 15
	CodeUnknownPartition   ErrorCode = 16
	CodeIDZero             ErrorCode = 17
	// CodeUnavailable: the partition has no leader right now, or fewer live replicas than it
	// needs (for example during a failover); retry after a metadata refresh.
	CodeUnavailable ErrorCode = 18

	codeLast = CodeUnavailable
)

// Sentinels, one per code. Layers below map their own errors to these at the edge (the server),
// and the client returns them wrapped with the server's message.
var (
	ErrUnknown            = errors.New("unknown server error")
	ErrMalformed          = errors.New("malformed request")
	ErrUnsupportedVersion = errors.New("unsupported protocol version")
	ErrUnknownTopic       = errors.New("unknown topic")
	ErrTopicExists        = errors.New("topic already exists")
	ErrNotLeader          = errors.New("not the partition leader")
	ErrBusy               = errors.New("partition busy: back off and retry")
	ErrTooLarge           = errors.New("too large")
	ErrOutOfRange         = errors.New("offset out of range")
	ErrStaleEpoch         = errors.New("stale epoch")
	// ErrIDNotIncreasing and ErrIDZero carry Redis's texts, which clients match on.
	ErrIDNotIncreasing  = batch.ErrIDNotIncreasing // one definition, shared with the log
	ErrIDZero           = batch.ErrIDZero
	ErrCorruptBatch     = errors.New("corrupt record batch")
	ErrTimeout          = errors.New("timed out")
	ErrInvalidArgument  = errors.New("invalid argument")
	ErrShuttingDown     = errors.New("server shutting down")
	ErrUnknownPartition = errors.New("unknown partition")
	ErrUnavailable      = errors.New("partition unavailable")
)

var codeErrors = map[ErrorCode]error{
	CodeUnknown: ErrUnknown, CodeMalformed: ErrMalformed, CodeUnsupportedVersion: ErrUnsupportedVersion,
	CodeUnknownTopic: ErrUnknownTopic, CodeTopicExists: ErrTopicExists, CodeNotLeader: ErrNotLeader,
	CodeBusy: ErrBusy, CodeTooLarge: ErrTooLarge, CodeOutOfRange: ErrOutOfRange,
	CodeStaleEpoch: ErrStaleEpoch, CodeIDNotIncreasing: ErrIDNotIncreasing, CodeCorruptBatch: ErrCorruptBatch,
	CodeTimeout: ErrTimeout, CodeInvalidArgument: ErrInvalidArgument, CodeShuttingDown: ErrShuttingDown,
	CodeUnknownPartition: ErrUnknownPartition, CodeIDZero: ErrIDZero, CodeUnavailable: ErrUnavailable,
}

// Retriable reports whether a client should retry a request that failed with code (after a
// metadata refresh for CodeNotLeader, after a backoff for CodeBusy).
func (c ErrorCode) Retriable() bool {
	return c == CodeNotLeader || c == CodeBusy || c == CodeTimeout || c == CodeShuttingDown || c == CodeStaleEpoch ||
		c == CodeUnavailable
}

// ErrorBody is the body of a frame with FlagError, and the per-partition error of responses
// that carry one per partition.
type ErrorBody struct {
	Code    ErrorCode `msgpack:"code"`
	Message string    `msgpack:"message,omitempty"`
}

// CodeOf returns the code for err: the code of the first sentinel it wraps, CodeUnknown for any
// other error, CodeOK for nil.
func CodeOf(err error) ErrorCode {
	if err == nil {
		return CodeOK
	}
	for code := CodeUnknown; code <= codeLast; code++ {
		if sentinel, ok := codeErrors[code]; ok && errors.Is(err, sentinel) {
			return code
		}
	}
	return CodeUnknown
}

// Err returns the error the body describes: nil for CodeOK, else the code's sentinel wrapped
// with the server's message (an unknown code from a newer server maps to ErrUnknown).
func (e ErrorBody) Err() error {
	if e.Code == CodeOK {
		return nil
	}
	sentinel, ok := codeErrors[e.Code]
	if !ok {
		sentinel = ErrUnknown
	}
	if e.Message == "" || e.Message == sentinel.Error() {
		return sentinel
	}
	return &wireError{sentinel: sentinel, message: e.Message}
}

// ErrorBodyOf describes err for the wire.
func ErrorBodyOf(err error) ErrorBody {
	if err == nil {
		return ErrorBody{}
	}
	return ErrorBody{Code: CodeOf(err), Message: err.Error()}
}

// wireError is a sentinel with the message the server gave; errors.Is finds the sentinel.
type wireError struct {
	sentinel error
	message  string
}

func (e *wireError) Error() string { return e.message }
func (e *wireError) Unwrap() error { return e.sentinel }

// Errorf wraps a sentinel with context, for servers building errors to send.
func Errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
