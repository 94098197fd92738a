package client

import (
	"context"

	"github.com/shoalmq/shoal/protocol/batch"
)

// Result is where an acknowledged record landed.
type Result struct {
	Topic     string
	Partition int32
	// Offset and ID are the record's place in its partition. With protocol.AcksNone the broker
	// answers before it appends, and both are zero.
	Offset uint64
	ID     batch.ID
	// Replicas are the nodes that held the record durably when the broker acknowledged it
	// (acks=quorum: a majority of the replica set at least; empty with acks=none).
	Replicas []string
}

// Future is the outcome of one Send: it completes when the record's batch is acknowledged or
// has failed for good. It is safe for concurrent use.
type Future struct {
	b     *pendingBatch // nil for a record refused before it was batched
	index uint32        // the record's index in its batch
	err   error         // why the record was refused, when b is nil
}

// closedChan is the Done channel of futures that failed at once.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func failedFuture(err error) *Future { return &Future{err: err} }

// Done returns a channel that is closed when the result is known.
func (f *Future) Done() <-chan struct{} {
	if f.b == nil {
		return closedChan
	}
	return f.b.done
}

// Wait blocks until the result is known or ctx ends. Ending ctx only stops the wait: the record
// is still delivered (or not) as if Wait had not been called.
func (f *Future) Wait(ctx context.Context) (Result, error) {
	select {
	case <-f.Done():
		return f.Result()
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Result returns the result once Done is closed; before, it returns ErrNotDone.
func (f *Future) Result() (Result, error) {
	if f.b == nil {
		return Result{}, f.err
	}
	select {
	case <-f.b.done:
	default:
		return Result{}, ErrNotDone
	}
	b := f.b
	if b.err != nil {
		return Result{}, b.err
	}
	res := Result{Topic: b.topic, Partition: b.partition, Replicas: b.acked.Replicas}
	if b.acked.FirstID.IsZero() {
		return res, nil // acks=none: the broker had not assigned anything yet
	}
	res.Offset = b.acked.BaseOffset + uint64(f.index)
	// An auto-id batch's ids are FirstID.Ms-(FirstID.Seq+index) (batch.Stamp).
	res.ID = batch.ID{Ms: b.acked.FirstID.Ms, Seq: b.acked.FirstID.Seq + uint64(f.index)}
	return res, nil
}
