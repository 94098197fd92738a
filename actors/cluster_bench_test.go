package actors

// BenchmarkClusterProduce: three in-process brokers (real memberlist, TCP and files, fsync
// always), one partition RF 3, produce batches of 1,000 records of 100 bytes with acks=quorum
// from 8 goroutines to the leader. Reports records/s; run with -cpuprofile to see where the
// replication costs go (client and the three nodes share the process).

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/protocol/transport"
)

func BenchmarkClusterProduce(b *testing.B) {
	members := startClusterB(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := rpc(ctx, members[0].addr, protocol.TypeCreateTopic, &protocol.CreateTopicRequest{Name: "bench",
		Config: protocol.TopicConfig{Partitions: 1, Replication: 3}}, nil); err != nil {
		b.Fatal(err)
	}
	var leader *testMember
	for leader == nil {
		leader, _, _ = leaderOf(ctx, members, "bench", 0)
	}
	const perBatch = 1000
	value := make([]byte, 100)
	bld := batch.NewBuilder(perBatch * 130)
	bld.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
	for range perBatch {
		if err := bld.Add(batch.ID{}, time.Now().UnixMilli(), nil, value, nil); err != nil {
			b.Fatal(err)
		}
	}
	template, err := bld.Finish()
	if err != nil {
		b.Fatal(err)
	}
	conn, err := transport.Dial(ctx, leader.addr, transport.DialOptions{ClientID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	batches := b.N/perBatch + 1
	b.ResetTimer()
	var wg sync.WaitGroup
	work := make(chan struct{}, batches)
	for range batches {
		work <- struct{}{}
	}
	close(work)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				var resp protocol.ProduceResponse
				req := &protocol.ProduceRequest{Topic: "bench", Batches: []protocol.ProducePartition{{Partition: 0, Batch: template}}}
				if err := conn.Call(ctx, protocol.TypeProduce, req, &resp); err != nil || resp.Results[0].Error.Err() != nil {
					b.Error(err, resp.Results)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(batches*perBatch)/b.Elapsed().Seconds(), "records/s")
}
