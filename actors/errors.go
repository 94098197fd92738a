package actors

import (
	"context"
	"errors"

	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage"
)

// edgeErrors maps the sentinels of the layers below to the protocol's, in order: the first
// match wins. Errors that already wrap a protocol sentinel pass through unchanged.
var edgeErrors = []struct {
	from, to error
}{
	{storage.ErrOutOfRange, protocol.ErrOutOfRange},
	{storage.ErrTooLarge, protocol.ErrTooLarge},
	{storage.ErrCorrupt, protocol.ErrCorruptBatch},
	{batch.ErrCorrupt, protocol.ErrCorruptBatch},
	{batch.ErrShort, protocol.ErrCorruptBatch},
	{storage.ErrStaleEpoch, protocol.ErrStaleEpoch},
	{storage.ErrClosed, protocol.ErrShuttingDown},
	{batch.ErrIDSpaceExhausted, protocol.ErrInvalidArgument},
	{batch.ErrInvalidID, protocol.ErrInvalidArgument},
	{partition.ErrFailed, protocol.ErrUnknown},
	{storage.ErrFailed, protocol.ErrUnknown},
	{storage.ErrLocked, protocol.ErrUnknown},
	{context.DeadlineExceeded, protocol.ErrTimeout},
	{context.Canceled, protocol.ErrTimeout},
}

// wireError returns err as the client should see it: wrapping the protocol sentinel of its kind,
// with the same message. Redis's id errors become exactly the protocol's sentinels (clients
// match their text).
func wireError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrIDNotIncreasing):
		return protocol.ErrIDNotIncreasing
	case errors.Is(err, batch.ErrIDZero):
		return protocol.ErrIDZero
	case protocol.CodeOf(err) != protocol.CodeUnknown:
		return err
	}
	for _, m := range edgeErrors {
		if errors.Is(err, m.from) {
			return &edgeError{sentinel: m.to, err: err}
		}
	}
	return &edgeError{sentinel: protocol.ErrUnknown, err: err}
}

// errorBody is the per-partition form of wireError.
func errorBody(err error) protocol.ErrorBody {
	return protocol.ErrorBodyOf(wireError(err))
}

// edgeError keeps the message of a lower layer's error and adds the protocol sentinel for
// errors.Is (and so for protocol.CodeOf).
type edgeError struct {
	sentinel error
	err      error
}

func (e *edgeError) Error() string   { return e.err.Error() }
func (e *edgeError) Unwrap() []error { return []error{e.sentinel, e.err} }
