package actors

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/shoalmq/shoal/actors/partition"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/protocol/resp"
)

// A Redis client that pipelines XADDs (redis-benchmark -P 16, a batching client library) sends
// many one-record writes at once. A session batches the consecutive "XADD key * ..." of one
// connection's pipeline to one stream into one log batch: one actor message, one append, one
// wait for the quorum, instead of one each. Their order and their replies are those of separate
// commands: each gets its own id, and a command that is not such an XADD first sends the batch.

// Bounds of one batched run of XADDs.
const (
	xaddRunRecords = 1024
	xaddRunBytes   = 512 << 10
)

// RedisSession is one Redis connection's state: the XADDs held back to be sent together. It is
// used by the connection's goroutine only.
type RedisSession struct {
	b   *Broker
	run *xaddRun
	// builder is reused by every run (a run's batch is copied when it is submitted).
	builder *batch.Builder
}

// NewRedisSession returns a session for one connection.
func (b *Broker) NewRedisSession() *RedisSession { return &RedisSession{b: b} }

// xaddRun is a batch of auto-id XADDs to one partition this node leads, built until the
// pipeline ends, then submitted once.
type xaddRun struct {
	key     string
	p       *partition.Partition
	builder *batch.Builder
	// pending is the submitted batch; err a failure to build or submit it.
	pending *partition.PendingProduce
	err     error
	// The first waiter waits for the batch; the others find its result here.
	once     sync.Once
	produced partition.Produced
	waitErr  error
}

// Command runs one command like Broker.RedisCommand, holding back an XADD that can join the
// connection's current run; Flush (or the next command that cannot join) sends the run.
func (s *RedisSession) Command(ctx context.Context, cmd resp.Command, args [][]byte, proto int) func(context.Context) resp.Value {
	x, ok := cmd.(*resp.XAdd)
	if !ok || !x.ID.Auto || x.Trim.Strategy != resp.TrimNone {
		s.Flush()
		return s.b.RedisCommand(ctx, cmd, args, proto)
	}
	if s.run != nil && (s.run.key != x.Key || s.run.builder.Len() >= xaddRunRecords || s.run.builder.Size()+fieldsSize(x.Fields) > xaddRunBytes) {
		s.Flush()
	}
	if s.run == nil {
		if _, ok := s.b.node.Topic(x.Key); !ok {
			return s.b.RedisCommand(ctx, cmd, args, proto) // the first XADD creates the stream
		}
		p, err := s.b.localPartition(x.Key, redisPartition)
		if err != nil || (s.b.cluster != nil && !p.Leadership().IsLeader) {
			return s.b.RedisCommand(ctx, cmd, args, proto) // forwarded one by one
		}
		if s.builder == nil {
			s.builder = batch.NewBuilder(16 << 10)
		}
		s.builder.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
		s.run = &xaddRun{key: x.Key, p: p, builder: s.builder}
	}
	run, index := s.run, s.run.builder.Len()
	headers := make([]batch.HeaderPair, 0, len(x.Fields)/2)
	for i := 0; i+1 < len(x.Fields); i += 2 {
		headers = append(headers, batch.HeaderPair{Field: x.Fields[i], Value: x.Fields[i+1]})
	}
	if err := run.builder.Add(batch.ID{}, time.Now().UnixMilli(), nil, nil, headers); err != nil {
		if errors.Is(err, batch.ErrLimit) {
			err = errors.Join(protocol.ErrTooLarge, err)
		}
		return func(context.Context) resp.Value { return redisError(err) }
	}
	// The command and its words stay valid until the returned function returns (Backend's
	// contract): the fallback below may use them.
	return func(ctx context.Context) resp.Value {
		run.once.Do(func() {
			if run.err == nil && run.pending != nil {
				run.produced, run.waitErr = run.pending.Wait(ctx)
			} else {
				run.waitErr = run.err
			}
		})
		if err := run.waitErr; err != nil {
			if retriableRoute(err) {
				// The leadership moved: this XADD goes on its own, to the new leader.
				return s.b.RedisCommand(ctx, x, args, proto)(ctx)
			}
			return redisError(err)
		}
		first := run.produced.FirstID
		return resp.BulkID(batch.ID{Ms: first.Ms, Seq: first.Seq + uint64(index)})
	}
}

// Flush submits the held-back run, if any.
func (s *RedisSession) Flush() {
	run := s.run
	if run == nil {
		return
	}
	s.run = nil
	data, err := run.builder.Finish()
	if err != nil {
		run.err = err
		return
	}
	run.pending, run.err = run.p.Submit(slices.Clone(data), protocol.AcksQuorum)
}
