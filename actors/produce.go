package actors

import (
	"context"
	"time"

	"github.com/shoalmq/shoal/actors/node"
	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/storage"
)

// produce appends each batch to its partition, creating the topic first when auto-creation is
// on. All batches are handed to their partitions before any answer is awaited, in request order,
// so batches for one partition are appended in order and batches for different partitions share
// their fsync waits.
func (b *Broker) produce(ctx context.Context, req *protocol.ProduceRequest) (*protocol.ProduceResponse, error) {
	wait, err := b.submitProduce(ctx, req)
	if err != nil {
		return nil, err
	}
	return wait(ctx), nil
}

// submitProduce hands the request's batches to their partitions without waiting (the ordered
// part, see Admit) and returns the function that waits for their answers.
func (b *Broker) submitProduce(ctx context.Context, req *protocol.ProduceRequest) (func(context.Context) *protocol.ProduceResponse, error) {
	if err := b.notStopping(); err != nil {
		return nil, err
	}
	if req.Acks > protocol.AcksNone {
		return nil, protocol.Errorf(protocol.ErrInvalidArgument, "acks %d: use 0 (quorum), 1 (leader) or 2 (none)", uint8(req.Acks))
	}
	if err := node.ValidateTopicName(req.Topic); err != nil {
		return nil, err
	}
	t, err := b.ensureTopic(ctx, req.Topic)
	if err != nil {
		return nil, err
	}
	resp := &protocol.ProduceResponse{Results: make([]protocol.ProduceResult, len(req.Batches))}
	pending := make([]*partition.PendingProduce, len(req.Batches))
	for i, pb := range req.Batches {
		resp.Results[i].Partition = pb.Partition
		p, err := b.partitionOf(t, pb.Partition)
		if err == nil {
			pending[i], err = p.Submit(pb.Batch, req.Acks)
		}
		if err != nil {
			resp.Results[i].Error = errorBody(err)
		}
	}
	return func(ctx context.Context) *protocol.ProduceResponse {
		if req.TimeoutMs > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMs)*time.Millisecond)
			defer cancel()
		}
		for i, w := range pending {
			if w == nil {
				continue
			}
			produced, err := w.Wait(ctx)
			if err != nil {
				resp.Results[i].Error = errorBody(err)
				continue
			}
			resp.Results[i].BaseOffset = produced.BaseOffset
			resp.Results[i].FirstID = produced.FirstID
			resp.Results[i].LastID = produced.LastID
			resp.Results[i].Replicas = produced.Replicas
		}
		return resp
	}, nil
}

// trim is XTRIM on one partition.
func (b *Broker) trim(ctx context.Context, req *protocol.TrimRequest) (*protocol.TrimResponse, error) {
	if err := b.notStopping(); err != nil {
		return nil, err
	}
	t, err := b.lookupTopic(req.Topic)
	if err != nil {
		return nil, err
	}
	p, err := b.partitionOf(t, req.Partition)
	if err != nil {
		return nil, err
	}
	removed, err := p.Trim(ctx, storage.Trim{ByMinID: req.ByMinID, MaxLen: req.MaxLen, MinID: req.MinID, Approx: req.Approx})
	if err != nil {
		return nil, err
	}
	return &protocol.TrimResponse{Removed: removed}, nil
}
