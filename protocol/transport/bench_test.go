package transport

import (
	"context"
	"testing"

	"github.com/shoalmq/shoal/protocol"
)

// BenchmarkCallPipelined measures the hot path: 64 Calls in flight on one Conn, each a produce of
// one 100 KB batch answered with a small ProduceResponse. In "decode" the handler decodes the
// request as the broker would (protocol.Unmarshal); in "transport" it answers from the body's
// length alone, which isolates the transport's cost. MB/s counts request bytes.
func BenchmarkCallPipelined(b *testing.B) {
	const batchBytes = 100 << 10
	b.Run("decode", func(b *testing.B) {
		benchmarkCallPipelined(b, batchBytes, func(_ context.Context, req Request) (any, error) {
			var p protocol.ProduceRequest
			if err := protocol.Unmarshal(req.Body, &p); err != nil {
				return nil, err
			}
			results := make([]protocol.ProduceResult, len(p.Batches))
			for i, batch := range p.Batches {
				results[i] = protocol.ProduceResult{Partition: batch.Partition, BaseOffset: uint64(len(batch.Batch))}
			}
			return protocol.ProduceResponse{Results: results}, nil
		})
	})
	b.Run("transport", func(b *testing.B) {
		benchmarkCallPipelined(b, batchBytes, func(_ context.Context, req Request) (any, error) {
			if len(req.Body) < batchBytes {
				return nil, protocol.Errorf(protocol.ErrMalformed, "body of %d bytes", len(req.Body))
			}
			return protocol.ProduceResponse{Results: []protocol.ProduceResult{{Partition: 3, BaseOffset: batchBytes}}}, nil
		})
	})
}

func benchmarkCallPipelined(b *testing.B, batchBytes int, handler HandlerFunc) {
	const concurrentCalls = 64
	s := startServer(b, ServerConfig{Handler: handler})
	c := dial(b, s.Addr())
	req := protocol.ProduceRequest{Topic: "bench", Acks: protocol.AcksLeader,
		Batches: []protocol.ProducePartition{{Partition: 3, Batch: make([]byte, batchBytes)}}}

	b.SetBytes(int64(batchBytes))
	b.ReportAllocs()
	b.SetParallelism((concurrentCalls + 1) / 2) // RunParallel starts parallelism × GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var resp protocol.ProduceResponse
		for pb.Next() {
			if err := c.Call(context.Background(), protocol.TypeProduce, req, &resp); err != nil {
				b.Error(err)
				return
			}
			if resp.Results[0].BaseOffset != uint64(batchBytes) {
				b.Errorf("response %+v, want base offset %d", resp.Results[0], batchBytes)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
