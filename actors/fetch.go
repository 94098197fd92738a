package actors

import (
	"context"
	"reflect"
	"time"

	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/protocol"
)

// Limits of fetch and list-offsets requests.
const (
	// DefaultFetchPartitionBytes is the byte budget of a partition whose request gives none.
	DefaultFetchPartitionBytes = 1 << 20
	// MaxFetchResponseBytes bounds the batches of one fetch response. A partition may add one
	// batch past the budget (a read always returns a whole batch), which stays below
	// protocol.MaxFrameBytes since a batch is at most storage.DefaultMaxBatchBytes.
	MaxFetchResponseBytes = 32 << 20
	// MaxFetchWait bounds a long poll, whatever MaxWaitMs asks.
	MaxFetchWait = 60 * time.Second
)

// fetchTarget is one partition of a fetch: where it reads from, or why it cannot.
type fetchTarget struct {
	p    *partition.Partition
	from uint64
	err  error
}

// fetch reads each partition from its position. When none has data it waits (up to MaxWaitMs)
// for any of them to get some, then reads again.
func (b *Broker) fetch(ctx context.Context, req *protocol.FetchRequest) (*protocol.FetchResponse, error) {
	if err := b.notStopping(); err != nil {
		return nil, err
	}
	t, err := b.lookupTopic(req.Topic)
	if err != nil {
		return nil, err
	}
	targets := make([]fetchTarget, len(req.Partitions))
	for i, fp := range req.Partitions {
		targets[i].p, targets[i].err = b.partitionOf(t, fp.Partition)
		if targets[i].err == nil {
			targets[i].from, targets[i].err = targets[i].p.Resolve(fp.From)
		}
	}
	wait := min(time.Duration(max(req.MaxWaitMs, 0))*time.Millisecond, MaxFetchWait)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		// Take the watch channels before reading: an advance after this closes them, so no data
		// can arrive unseen between the read and the wait.
		watches := make([]<-chan struct{}, len(targets))
		for i := range targets {
			if targets[i].err == nil {
				_, watches[i] = targets[i].p.Watch()
			}
		}
		resp, ready := readTargets(req, targets)
		if ready || wait == 0 || !waitForData(ctx, deadline.C, watches) {
			return resp, nil
		}
	}
}

// readTargets reads every partition within the response budget and reports whether the response
// is worth sending now: some partition returned batches or an error.
func readTargets(req *protocol.FetchRequest, targets []fetchTarget) (*protocol.FetchResponse, bool) {
	resp := &protocol.FetchResponse{Results: make([]protocol.FetchResult, len(targets))}
	budget, found := MaxFetchResponseBytes, false
	for i, target := range targets {
		r := &resp.Results[i]
		r.Partition, r.From, r.Next = req.Partitions[i].Partition, target.from, target.from
		if target.err != nil {
			r.Error, found = errorBody(target.err), true
			continue
		}
		r.LogStart, r.HighWatermark = target.p.LogStart(), target.p.HighWatermark()
		if budget <= 0 {
			continue
		}
		maxBytes := int(req.Partitions[i].MaxBytes)
		if maxBytes <= 0 {
			maxBytes = DefaultFetchPartitionBytes
		}
		res, err := target.p.Read(target.from, min(maxBytes, budget))
		if err != nil {
			r.Error, found = errorBody(err), true
			continue
		}
		r.Next, r.Deleted, r.Batches = res.Next, res.Deleted, res.Data
		r.LogStart, r.HighWatermark = res.LogStart, res.HighWatermark
		budget -= len(res.Data)
		found = found || len(res.Data) > 0
	}
	return resp, found
}

// waitForData waits until a watch channel closes (true), or the deadline passes or ctx is done
// (false). Nil channels (partitions with an error) are not waited on.
func waitForData(ctx context.Context, deadline <-chan time.Time, watches []<-chan struct{}) bool {
	cases := make([]reflect.SelectCase, 0, len(watches)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(deadline)})
	for _, w := range watches {
		if w != nil {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w)})
		}
	}
	if len(cases) == 2 {
		return false // nothing to wait for
	}
	chosen, _, _ := reflect.Select(cases)
	return chosen >= 2
}

// listOffsets resolves a position in each partition.
func (b *Broker) listOffsets(_ context.Context, req *protocol.ListOffsetsRequest) (*protocol.ListOffsetsResponse, error) {
	if err := b.notStopping(); err != nil {
		return nil, err
	}
	t, err := b.lookupTopic(req.Topic)
	if err != nil {
		return nil, err
	}
	resp := &protocol.ListOffsetsResponse{Results: make([]protocol.OffsetResult, len(req.Partitions))}
	for i, id := range req.Partitions {
		r := &resp.Results[i]
		r.Partition = id
		p, err := b.partitionOf(t, id)
		if err == nil {
			r.Offset, err = resolveOffset(p, req.At)
		}
		if err != nil {
			r.Error = errorBody(err)
		}
	}
	return resp, nil
}

// resolveOffset is Resolve, with an explicit offset checked against what consumers can read.
func resolveOffset(p *partition.Partition, at protocol.Position) (uint64, error) {
	offset, err := p.Resolve(at)
	if err != nil {
		return 0, err
	}
	if at.Kind == protocol.PositionOffset {
		if start, hw := p.LogStart(), p.HighWatermark(); offset < start || offset > hw {
			return 0, protocol.Errorf(protocol.ErrOutOfRange, "offset %d: partition %s/%d holds %d..%d", offset, p.Topic(), p.ID(), start, hw)
		}
	}
	return offset, nil
}
