package partition

import (
	"context"
	"sync"
	"testing"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage"
)

// BenchmarkProduce measures acknowledged produces through the partition actor: batches of 100
// records of 100 bytes from 64 concurrent producers, acks=leader, for each fsync policy. It
// reports records/s; with fsync always the figure is bounded by group commit on this disk.
func BenchmarkProduce(b *testing.B) {
	for _, policy := range []storage.Policy{storage.FsyncAlways, storage.FsyncNever} {
		b.Run(policy.String(), func(b *testing.B) {
			system := newSystem(b)
			cfg := testConfig(b, b.TempDir(), policy)
			cfg.Logger = nil
			p := start(b, guarded(b, system), cfg)
			template := benchBatch(b, 100, 100)
			const producers = 64
			ctx := context.Background()
			b.SetBytes(int64(len(template)))
			b.ResetTimer()
			var wg sync.WaitGroup
			var next sync.Mutex
			left := b.N
			for range producers {
				wg.Go(func() {
					for {
						next.Lock()
						if left == 0 {
							next.Unlock()
							return
						}
						left--
						next.Unlock()
						if _, err := p.Produce(ctx, append([]byte(nil), template...), protocol.AcksLeader); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func benchBatch(b *testing.B, records, valueBytes int) []byte {
	builder := batch.NewBuilder(records * (valueBytes + 16))
	builder.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
	value := make([]byte, valueBytes)
	for i := range records {
		if err := builder.Add(batch.ID{}, int64(i), nil, value, nil); err != nil {
			b.Fatal(err)
		}
	}
	data, err := builder.Finish()
	if err != nil {
		b.Fatal(err)
	}
	return append([]byte(nil), data...)
}
