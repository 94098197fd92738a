package storage

import (
	"errors"
	"fmt"

	"github.com/shoalmq/shoal/protocol/batch"
)

// Operating errors. Callers test them with errors.Is; the returned errors wrap them with context.
var (
	// ErrCorrupt means bytes on disk or a batch given to Append are not valid. On disk, the error
	// names the file and the position.
	ErrCorrupt = errors.New("storage: corrupt data")
	// ErrOutOfRange means an offset below the log start or above the log end.
	ErrOutOfRange = errors.New("storage: offset out of range")
	// ErrTooLarge means a record, key or batch above the configured limit.
	ErrTooLarge = errors.New("storage: too large")
	// ErrStaleEpoch means an append in an epoch older than the log's last epoch.
	ErrStaleEpoch = errors.New("storage: stale epoch")
	// ErrOffsetMismatch means a replica batch whose base offset is not the log end.
	ErrOffsetMismatch = errors.New("storage: batch does not start at the log end")
	// ErrNotBatchBoundary means a truncation point inside a batch.
	ErrNotBatchBoundary = errors.New("storage: offset is not a batch boundary")
	// ErrTruncated means the batch a WaitDurable caller waited for was removed by Truncate.
	ErrTruncated = errors.New("storage: batch truncated away")
	// ErrClosed means the log was closed.
	ErrClosed = errors.New("storage: log closed")
	// ErrLocked means the partition directory is already open (in this process or another).
	ErrLocked = errors.New("storage: directory in use")
	// ErrFailed means an earlier write or fsync failed; the log refuses writes until it is
	// reopened (which recovers what is on disk). See Log.Err.
	ErrFailed = errors.New("storage: log failed")
)

// ErrIDNotIncreasing is the Redis error for an explicit id that is not above the last id.
var ErrIDNotIncreasing = batch.ErrIDNotIncreasing

// corruptAt builds the error for bad bytes at a position of a file.
func corruptAt(path string, position int64, offset uint64, cause error) error {
	return fmt.Errorf("%w: %s at byte %d (offset %d): %w", ErrCorrupt, path, position, offset, cause)
}
