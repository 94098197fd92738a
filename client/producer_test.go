// Producer tests: each scenario runs a Producer against the in-memory fake cluster (fake_test.go)
// inside a testing/synctest bubble, so Linger, backoff and long waits run on virtual time and
// "nothing happened yet" is checked with synctest.Wait instead of sleeps. They check where
// records go (partition by key, explicit, sticky round-robin), how they are batched (linger,
// batch bytes), the idempotence fields of each batch (producer id, sequences), and what retries
// do to the log: every acknowledged record is in it exactly once, in Send order.
package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
)

// producerEnv is a fake cluster with a topic, a client and a producer.
type producerEnv struct {
	f *fakeCluster
	c *Client
	p *Producer
}

func newProducerEnv(t *testing.T, partitions int, cfg ProducerConfig) *producerEnv {
	t.Helper()
	f := newFakeCluster(t)
	f.createTopic("t", partitions)
	c := newTestClient(t, f, Config{})
	return &producerEnv{f: f, c: c, p: newTestProducer(t, c, cfg)}
}

func newTestProducer(t *testing.T, c *Client, cfg ProducerConfig) *Producer {
	t.Helper()
	p, err := c.NewProducer(cfg)
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("Producer.Close: %v", err)
		}
	})
	return p
}

func (f *fakeCluster) onProduce(hook func(ctx context.Context, node string, req *protocol.ProduceRequest) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.beforeProduce = hook
}

func ptr[T any](v T) *T { return &v }

func rec(key, value string) Record {
	r := Record{Topic: "t", Value: []byte(value)}
	if key != "" {
		r.Key = []byte(key)
	}
	return r
}

// waitAll waits for every future and fails the test on an error.
func waitAll(t *testing.T, futures []*Future) []Result {
	t.Helper()
	results := make([]Result, len(futures))
	for i, f := range futures {
		res, err := f.Wait(context.Background())
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		results[i] = res
	}
	return results
}

func TestKeyedRecordsGoToPartitionForKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 5, ProducerConfig{})
		keys := []string{"alice", "bob", "carol", "dave", "erin", "frank", "", "a-much-longer-key-0123456789"}
		var futures []*Future
		for _, k := range keys {
			r := rec(k, "v-"+k)
			r.Key = []byte(k) // "" is an empty key, not no key
			futures = append(futures, env.p.Send(context.Background(), r))
		}
		results := waitAll(t, futures)
		for i, k := range keys {
			if want := protocol.PartitionForKey([]byte(k), 5); results[i].Partition != want {
				t.Errorf("key %q: partition %d, want PartitionForKey = %d", k, results[i].Partition, want)
			}
			if results[i].Topic != "t" {
				t.Errorf("key %q: topic %q, want t", k, results[i].Topic)
			}
		}
	})
}

func TestExplicitPartitionWinsOverKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 3, ProducerConfig{})
		r := rec("alice", "v")
		r.Partition = ptr(int32(2))
		res, err := env.p.SendSync(context.Background(), r)
		if err != nil || res.Partition != 2 {
			t.Fatalf("SendSync to partition 2: got %+v, %v", res, err)
		}
		r.Partition = ptr(int32(3))
		if _, err := env.p.SendSync(context.Background(), r); !errors.Is(err, protocol.ErrUnknownPartition) {
			t.Fatalf("partition 3 of 3: got %v, want ErrUnknownPartition", err)
		}
	})
}

// Keyless records stick to one partition until their batch is sealed, then move to the next:
// every batch holds records of one partition, and the partitions take turns.
func TestKeylessRecordsRotateByBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 3, ProducerConfig{Linger: time.Millisecond})
		var partitions []int32
		for round := range 6 {
			var futures []*Future
			for i := range 4 {
				futures = append(futures, env.p.Send(context.Background(), rec("", fmt.Sprintf("r%d-%d", round, i))))
			}
			results := waitAll(t, futures)
			for _, res := range results[1:] {
				if res.Partition != results[0].Partition {
					t.Fatalf("round %d: records of one linger window went to partitions %d and %d", round, results[0].Partition, res.Partition)
				}
			}
			partitions = append(partitions, results[0].Partition)
		}
		for i := 1; i < len(partitions); i++ {
			if partitions[i] != (partitions[i-1]+1)%3 {
				t.Fatalf("batch partitions %v: want each the next of the one before", partitions)
			}
		}
		if n := len(env.f.producedBatches()); n != 6 {
			t.Errorf("%d produce requests, want 6 (one per linger window)", n)
		}
	})
}

func TestLingerHoldsTheBatchUntilItPasses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 1, ProducerConfig{Linger: 10 * time.Millisecond})
		var futures []*Future
		for i := range 3 {
			futures = append(futures, env.p.Send(context.Background(), rec("", fmt.Sprint(i))))
		}
		synctest.Wait()
		if n := env.f.callCount(protocol.TypeProduce); n != 0 {
			t.Fatalf("%d produce requests before the linger passed, want 0", n)
		}
		time.Sleep(10*time.Millisecond - time.Nanosecond)
		synctest.Wait()
		if n := env.f.callCount(protocol.TypeProduce); n != 0 {
			t.Fatalf("%d produce requests 1ns before the linger passed, want 0", n)
		}
		time.Sleep(time.Nanosecond)
		results := waitAll(t, futures)
		batches := env.f.producedBatches()
		if len(batches) != 1 || batches[0].header.RecordCount != 3 {
			t.Fatalf("got %d batches (first %+v), want one batch of 3 records", len(batches), batches[0].header)
		}
		for i, res := range results {
			if res.Offset != uint64(i) {
				t.Errorf("record %d at offset %d, want %d", i, res.Offset, i)
			}
			if i > 0 && !results[i-1].ID.Less(res.ID) {
				t.Errorf("ids %v then %v: want increasing", results[i-1].ID, res.ID)
			}
		}
	})
}

func TestSendSyncDoesNotWaitForLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 1, ProducerConfig{Linger: time.Hour})
		start := time.Now()
		if _, err := env.p.SendSync(context.Background(), rec("k", "v")); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited != 0 {
			t.Errorf("SendSync took %v of virtual time, want 0 (no linger)", waited)
		}
	})
}

// A batch is sent as soon as it reaches BatchBytes, without waiting for Linger, and no batch
// exceeds BatchBytes unless it holds a single record.
func TestBatchBytesSealsWithoutLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const batchBytes = 1000
		env := newProducerEnv(t, 1, ProducerConfig{Linger: time.Hour, BatchBytes: batchBytes})
		var futures []*Future
		for i := range 40 {
			futures = append(futures, env.p.Send(context.Background(), rec("", fmt.Sprintf("%050d", i))))
		}
		synctest.Wait()
		sent := env.f.producedBatches()
		if len(sent) == 0 {
			t.Fatal("nothing sent before the linger: want full batches sent at once")
		}
		for _, b := range sent {
			if len(b.bytes) > batchBytes {
				t.Errorf("batch of %d bytes (%d records), above BatchBytes %d", len(b.bytes), b.header.RecordCount, batchBytes)
			}
		}
		if err := env.p.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitAll(t, futures)
		if got := len(env.f.records("t", 0)); got != 40 {
			t.Errorf("%d records in the log, want 40", got)
		}
	})
}

// Every batch carries the producer's id; per partition, base sequences start at 0 and grow by
// the record count of each batch.
func TestSequenceNumbersPerPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 2, ProducerConfig{})
		sizes := []int{3, 1, 5, 2}
		for _, n := range sizes {
			for _, partition := range []int32{0, 1} {
				var futures []*Future
				for i := range n {
					r := rec("", fmt.Sprint(i))
					r.Partition = ptr(partition)
					futures = append(futures, env.p.Send(context.Background(), r))
				}
				env.p.Flush(context.Background())
				waitAll(t, futures)
			}
		}
		next := map[int32]int32{}
		for _, b := range env.f.producedBatches() {
			h := b.header
			if h.ProducerID != env.p.ProducerID() || h.ProducerID < 0 {
				t.Errorf("batch producer id %d, want the producer's %d (non-negative)", h.ProducerID, env.p.ProducerID())
			}
			if h.BaseSequence != next[b.partition] {
				t.Errorf("partition %d: base sequence %d, want %d", b.partition, h.BaseSequence, next[b.partition])
			}
			next[b.partition] += int32(h.RecordCount)
		}
		if next[0] != 11 || next[1] != 11 {
			t.Errorf("sequences ended at %v, want 11 on both partitions", next)
		}
	})
}

func TestNextSequenceWraps(t *testing.T) {
	cases := []struct {
		seq     int32
		records int
		want    int32
	}{
		{0, 1, 1},
		{10, 5, 15},
		{math.MaxInt32 - 2, 2, math.MaxInt32},
		{math.MaxInt32, 1, 0},
		{math.MaxInt32 - 1, 5, 3},
	}
	for _, tc := range cases {
		if got := nextSequence(tc.seq, tc.records); got != tc.want {
			t.Errorf("nextSequence(%d, %d) = %d, want %d", tc.seq, tc.records, got, tc.want)
		}
	}
}

func TestDisabledIdempotenceSendsNoProducerID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 1, ProducerConfig{DisableIdempotence: true})
		if _, err := env.p.SendSync(context.Background(), rec("k", "v")); err != nil {
			t.Fatal(err)
		}
		h := env.f.producedBatches()[0].header
		if h.ProducerID != batch.NoProducer || h.BaseSequence != 0 {
			t.Errorf("producer id %d, sequence %d: want NoProducer and 0", h.ProducerID, h.BaseSequence)
		}
	})
}

// The leader moves: the old leader answers "not leader", the producer refreshes metadata and
// sends the very same bytes to the new leader.
func TestNotLeaderRetriesSameBytesAtNewLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeCluster(t, "node-1", "node-2")
		f.createTopic("t", 1)
		c := newTestClient(t, f, Config{})
		p := newTestProducer(t, c, ProducerConfig{})
		if _, err := p.SendSync(context.Background(), rec("k", "before")); err != nil {
			t.Fatal(err)
		}
		f.setLeader("t", 0, "node-2")
		res, err := p.SendSync(context.Background(), rec("k", "after"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Offset != 1 {
			t.Errorf("offset %d, want 1", res.Offset)
		}
		sent := f.producedBatches()
		if len(sent) != 3 || sent[1].node != "node-1" || sent[2].node != "node-2" {
			t.Fatalf("requests went to %v, want node-1, node-1 (refused), node-2", nodesOf(sent))
		}
		if !bytes.Equal(sent[1].bytes, sent[2].bytes) {
			t.Error("the retry's bytes differ from the first attempt's: want the same batch, same sequence")
		}
		if got := f.records("t", 0); !slices.Equal(got, []string{"k=before", "k=after"}) {
			t.Errorf("log %q, want [k=before k=after]", got)
		}
	})
}

func nodesOf(sent []producedBatch) []string {
	var nodes []string
	for _, b := range sent {
		nodes = append(nodes, b.node)
	}
	return nodes
}

// The broker appends a batch but its answer is lost with the connection: the producer sends the
// batch again and the broker's dedup answers with the original offsets, so the log holds the
// records once.
func TestLostAnswerIsNotAppendedTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 1, ProducerConfig{})
		lost := false
		env.f.mu.Lock()
		env.f.afterProduce = func(req *protocol.ProduceRequest, resp *protocol.ProduceResponse) error {
			if !lost {
				lost = true
				return errFakeConnLost
			}
			return nil
		}
		env.f.mu.Unlock()
		results := waitAll(t, []*Future{env.p.Send(context.Background(), rec("a", "1")), env.p.Send(context.Background(), rec("b", "2"))})
		if results[0].Offset != 0 || results[1].Offset != 1 {
			t.Errorf("offsets %d, %d: want 0, 1 (the first append's)", results[0].Offset, results[1].Offset)
		}
		if got := env.f.records("t", 0); !slices.Equal(got, []string{"a=1", "b=2"}) {
			t.Errorf("log %q, want each record once", got)
		}
		if n := len(env.f.producedBatches()); n != 2 {
			t.Errorf("%d produce requests, want 2 (the lost one and its retry)", n)
		}
		if env.f.dials != 2 {
			t.Errorf("%d dials, want 2: a connection that failed is dropped and dialled again", env.f.dials)
		}
	})
}

// Two batches of one partition are in flight and the second reaches the broker first: the
// broker refuses it (sequence ahead), the producer waits for the first, then sends the second
// again. The log holds both in Send order.
func TestOutOfOrderArrivalIsRetriedInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 1, ProducerConfig{Linger: -1, BatchBytes: 1})
		// The first batch makes the producer known to the broker (it goes alone, see
		// TestFirstBatchOfAPartitionGoesAlone); the next two are pipelined.
		if _, err := env.p.SendSync(context.Background(), rec("", "warm-up")); err != nil {
			t.Fatal(err)
		}
		firstServed := make(chan struct{})
		secondRefused := make(chan struct{})
		env.f.onProduce(func(ctx context.Context, node string, req *protocol.ProduceRequest) error {
			h, _ := batch.ReadHeader(req.Batches[0].Batch)
			switch {
			case h.BaseSequence == 1 && !isClosed(firstServed):
				<-secondRefused // hold the first until the second has been refused
				close(firstServed)
			case h.BaseSequence == 2 && !isClosed(secondRefused):
				defer close(secondRefused) // served (and refused: sequence 1 is missing) before this closes
			}
			return nil
		})
		results := waitAll(t, []*Future{env.p.Send(context.Background(), rec("", "first")), env.p.Send(context.Background(), rec("", "second"))})
		if results[0].Offset != 1 || results[1].Offset != 2 {
			t.Errorf("offsets %d, %d: want 1, 2", results[0].Offset, results[1].Offset)
		}
		if got := env.f.records("t", 0); !slices.Equal(got, []string{"=warm-up", "=first", "=second"}) {
			t.Errorf("log %q, want [=warm-up =first =second]", got)
		}
	})
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// At most MaxInFlight batches of a partition are in flight; past them records gather in one
// batch, and once it is full Send blocks until a batch completes (or its ctx ends).
func TestMaxInFlightBoundsRequestsAndBlocksSend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 1, ProducerConfig{Linger: -1, BatchBytes: 1, MaxInFlight: 3})
		warmUp(t, env.p, 1+2)
		release := make(chan struct{})
		inFlight, peak := 0, 0
		env.f.onProduce(func(ctx context.Context, node string, req *protocol.ProduceRequest) error {
			env.f.mu.Lock()
			inFlight++
			peak = max(peak, inFlight)
			env.f.mu.Unlock()
			<-release
			env.f.mu.Lock()
			inFlight--
			env.f.mu.Unlock()
			return nil
		})
		var futures []*Future
		for i := range 4 { // 3 in flight, the 4th waits in the open batch
			futures = append(futures, env.p.Send(context.Background(), rec("", fmt.Sprint(i))))
		}
		synctest.Wait()
		if peak != 3 {
			t.Fatalf("%d requests in flight, want MaxInFlight = 3", peak)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		blocked := env.p.Send(ctx, rec("", "blocked"))
		if _, err := blocked.Wait(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send with a full partition: %v, want its ctx's deadline", err)
		}
		sendReturned := make(chan *Future)
		go func() { sendReturned <- env.p.Send(context.Background(), rec("", "4")) }()
		synctest.Wait()
		select {
		case <-sendReturned:
			t.Fatal("Send returned while the partition was full")
		default:
		}
		close(release)
		futures = append(futures, <-sendReturned)
		waitAll(t, futures)
		if got := env.f.records("t", 0)[3:]; !slices.Equal(got, []string{"=0", "=1", "=2", "=3", "=4"}) {
			t.Errorf("log after the warm-up %q, want =0..=4 in order", got)
		}
		if peak != 3 {
			t.Errorf("peak of %d requests in flight, want 3", peak)
		}
	})
}

// warmUp sends n records one at a time to partition 0, growing the partition's pipelining
// window: it reaches k after 1+2+...+(k-1) acknowledgements (capped at MaxInFlight).
func warmUp(t *testing.T, p *Producer, n int) {
	t.Helper()
	for i := range n {
		r := rec("", fmt.Sprintf("warm-up-%d", i))
		r.Partition = ptr(int32(0))
		if _, err := p.SendSync(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

// The broker takes any sequence from a producer it does not know yet, so a partition's first
// batch goes alone (a second one overtaking it would be appended first). Then the window of
// batches in flight grows by one per window's worth of acknowledged batches.
func TestPipeliningDepthGrowsWithAcks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 1, ProducerConfig{Linger: -1, BatchBytes: 1, MaxInFlight: 4})
		gates := map[string]chan struct{}{}
		held := 0
		for i := range 5 {
			gates[fmt.Sprint(i)] = make(chan struct{})
		}
		env.f.onProduce(func(ctx context.Context, node string, req *protocol.ProduceRequest) error {
			env.f.mu.Lock()
			held++
			env.f.mu.Unlock()
			<-gates[batchValues(req)[0]]
			env.f.mu.Lock()
			held--
			env.f.mu.Unlock()
			return nil
		})
		var futures []*Future
		for i := range 5 { // MaxInFlight sealed batches and an open one: no Send blocks
			futures = append(futures, env.p.Send(context.Background(), rec("", fmt.Sprint(i))))
		}
		// Windows: 1; 2 after the first answer; 3 after two more. Batches left: 4, 3, 2, 1.
		for i, want := range []int{1, 2, 2, 2, 1} {
			synctest.Wait()
			if held != want {
				t.Fatalf("after %d answers: %d requests in flight, want %d", i, held, want)
			}
			close(gates[fmt.Sprint(i)])
		}
		waitAll(t, futures)
	})
}

// A retriable failure halves the partition's window (after the recovery's lone batch).
func TestRetriableFailureHalvesTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 1, ProducerConfig{MaxInFlight: 4})
		warmUp(t, env.p, 1+2+3)
		w := env.p.writers[topicPartition{"t", 0}]
		window := func() int {
			w.mu.Lock()
			defer w.mu.Unlock()
			return w.window
		}
		if got := window(); got != 4 {
			t.Fatalf("window %d after 6 acknowledged batches, want MaxInFlight = 4", got)
		}
		busy := true
		env.f.onProduce(func(ctx context.Context, node string, req *protocol.ProduceRequest) error {
			if busy {
				busy = false
				return protocol.Errorf(protocol.ErrBusy, "busy")
			}
			return nil
		})
		if _, err := env.p.SendSync(context.Background(), rec("", "x")); err != nil {
			t.Fatal(err)
		}
		if got := window(); got != 2 {
			t.Errorf("window %d after a busy answer and one success, want 4/2 = 2", got)
		}
	})
}

// A batch that fails with an error retrying cannot fix fails its records alone.
func TestNonRetriableErrorFailsOnlyItsBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 1, ProducerConfig{Linger: -1, BatchBytes: 1, MaxInFlight: 1})
		env.f.onProduce(func(ctx context.Context, node string, req *protocol.ProduceRequest) error {
			if slices.Contains(batchValues(req), "huge") {
				return protocol.Errorf(protocol.ErrTooLarge, "record above the limit")
			}
			return nil
		})
		ok1 := env.p.Send(context.Background(), rec("", "small-1"))
		bad := env.p.Send(context.Background(), rec("", "huge"))
		ok2 := env.p.Send(context.Background(), rec("", "small-2"))
		waitAll(t, []*Future{ok1, ok2})
		_, err := bad.Wait(context.Background())
		if !errors.Is(err, protocol.ErrTooLarge) {
			t.Fatalf("huge record: %v, want ErrTooLarge", err)
		}
		if n := env.f.callCount(protocol.TypeProduce); n != 3 {
			t.Errorf("%d produce requests, want 3 (no retry of the refused batch)", n)
		}
	})
}

func TestRetriesAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 1, ProducerConfig{Retries: 3, RetryBackoff: 10 * time.Millisecond, RetryBackoffMax: 40 * time.Millisecond})
		env.f.onProduce(func(ctx context.Context, node string, req *protocol.ProduceRequest) error {
			return protocol.Errorf(protocol.ErrBusy, "partition busy")
		})
		start := time.Now()
		_, err := env.p.SendSync(context.Background(), rec("k", "v"))
		if !errors.Is(err, protocol.ErrBusy) {
			t.Fatalf("got %v, want ErrBusy after the retries", err)
		}
		if n := env.f.callCount(protocol.TypeProduce); n != 4 {
			t.Errorf("%d attempts, want 1 + Retries = 4", n)
		}
		if waited := time.Since(start); waited < 30*time.Millisecond || waited > 130*time.Millisecond {
			t.Errorf("gave up after %v, want three backoffs of 10ms..40ms", waited)
		}
	})
}

// Close with a deadline that passes while the broker holds a batch: the batch fails with
// ErrClosed, Close returns the deadline, and no goroutine is left (synctest checks).
func TestCloseFailsWhatItCannotDeliver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeCluster(t)
		f.createTopic("t", 1)
		c := newTestClient(t, f, Config{})
		p, err := c.NewProducer(ProducerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		f.onProduce(func(ctx context.Context, node string, req *protocol.ProduceRequest) error {
			<-ctx.Done()
			return ctx.Err()
		})
		held := p.Send(context.Background(), rec("k", "held"))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close: %v, want its ctx's deadline", err)
		}
		if _, err := held.Wait(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("held record: %v, want ErrClosed", err)
		}
		if _, err := p.SendSync(context.Background(), rec("k", "late")); !errors.Is(err, ErrClosed) {
			t.Errorf("Send after Close: %v, want ErrClosed", err)
		}
	})
}

func TestFlushWaitsForEveryRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 4, ProducerConfig{Linger: time.Hour})
		var futures []*Future
		for i := range 50 {
			futures = append(futures, env.p.Send(context.Background(), rec(fmt.Sprint(i), "v")))
		}
		if err := env.p.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i, f := range futures {
			if _, err := f.Result(); err != nil {
				t.Fatalf("record %d after Flush: %v", i, err)
			}
		}
	})
}

func TestSendRefusesBadRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 1, ProducerConfig{})
		cases := []struct {
			name string
			rec  Record
			want error
		}{
			{"no topic", Record{Value: []byte("v")}, protocol.ErrInvalidArgument},
			{"unknown topic", Record{Topic: "nope", Value: []byte("v")}, protocol.ErrUnknownTopic},
			{"too large", Record{Topic: "t", Value: make([]byte, MaxBatchBytes)}, protocol.ErrTooLarge},
		}
		for _, tc := range cases {
			if _, err := env.p.SendSync(context.Background(), tc.rec); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
	})
}

func TestProducerConfigValidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeCluster(t)
		c := newTestClient(t, f, Config{})
		_, err := c.NewProducer(ProducerConfig{Acks: 7, BatchBytes: -1, MaxInFlight: -2, RequestTimeout: -time.Second})
		for _, want := range []string{"Acks", "BatchBytes", "MaxInFlight", "RequestTimeout"} {
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) {
				t.Errorf("error %v: want a message naming %s", err, want)
			}
		}
	})
}

// A batch refused for good leaves a gap in the partition's sequences that the broker would
// refuse every later batch for: the producer re-encodes the batches after it under a fresh
// producer id from sequence 0, and they are appended.
func TestFailedBatchDoesNotWedgeThePartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 1, ProducerConfig{Linger: -1, BatchBytes: 1, MaxInFlight: 4})
		release := make(chan struct{})
		env.f.onProduce(func(ctx context.Context, node string, req *protocol.ProduceRequest) error {
			if slices.Contains(batchValues(req), "huge") {
				<-release // the batches after it are in flight meanwhile
				return protocol.Errorf(protocol.ErrTooLarge, "record above the limit")
			}
			return nil
		})
		futures := []*Future{env.p.Send(context.Background(), rec("", "a"))}
		waitAll(t, futures)
		bad := env.p.Send(context.Background(), rec("", "huge"))
		later := []*Future{env.p.Send(context.Background(), rec("", "b")), env.p.Send(context.Background(), rec("", "c"))}
		synctest.Wait()
		close(release)
		if _, err := bad.Wait(context.Background()); !errors.Is(err, protocol.ErrTooLarge) {
			t.Fatalf("huge record: %v, want ErrTooLarge", err)
		}
		results := waitAll(t, later)
		if results[0].Offset != 1 || results[1].Offset != 2 {
			t.Errorf("offsets %d, %d: want 1, 2", results[0].Offset, results[1].Offset)
		}
		if got := env.f.records("t", 0); !slices.Equal(got, []string{"=a", "=b", "=c"}) {
			t.Errorf("log %q, want [=a =b =c]", got)
		}
		sent := env.f.producedBatches()
		last := sent[len(sent)-1].header
		if last.ProducerID == env.p.ProducerID() || last.ProducerID < 0 {
			t.Errorf("after the failure batches carry producer id %d, want a fresh one (not %d)", last.ProducerID, env.p.ProducerID())
		}
		first := sent[len(sent)-2].header
		if first.ProducerID != last.ProducerID || first.BaseSequence != 0 || last.BaseSequence != 1 {
			t.Errorf("re-encoded batches: (id %d, seq %d), (id %d, seq %d): want one fresh id, sequences 0 and 1",
				first.ProducerID, first.BaseSequence, last.ProducerID, last.BaseSequence)
		}
	})
}

// When a batch fails for good, a later batch whose last attempt may have reached the log (its
// connection broke) cannot be re-encoded without risking a duplicate: it fails, saying so.
func TestUncertainBatchFailsWhenThePartitionMustResequence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newProducerEnv(t, 1, ProducerConfig{Linger: -1, BatchBytes: 1, MaxInFlight: 4})
		if _, err := env.p.SendSync(context.Background(), rec("", "a")); err != nil {
			t.Fatal(err)
		}
		bLost := make(chan struct{})
		env.f.onProduce(func(ctx context.Context, node string, req *protocol.ProduceRequest) error {
			switch {
			case slices.Contains(batchValues(req), "huge"):
				<-bLost
				return protocol.Errorf(protocol.ErrTooLarge, "record above the limit")
			case slices.Contains(batchValues(req), "b"):
				if !isClosed(bLost) {
					close(bLost)
					return errFakeConnLost
				}
			}
			return nil
		})
		bad := env.p.Send(context.Background(), rec("", "huge"))
		b := env.p.Send(context.Background(), rec("", "b"))
		if _, err := bad.Wait(context.Background()); !errors.Is(err, protocol.ErrTooLarge) {
			t.Fatalf("huge record: %v, want ErrTooLarge", err)
		}
		_, err := b.Wait(context.Background())
		if !errors.Is(err, errFakeConnLost) || !strings.Contains(err.Error(), "outcome is unknown") {
			t.Fatalf("record sent behind the failed one, its connection lost: %v, want an unknown-outcome error wrapping the loss", err)
		}
		if res, err := env.p.SendSync(context.Background(), rec("", "c")); err != nil || res.Offset != 1 {
			t.Fatalf("the next record: %+v, %v: want offset 1 (the partition carries on)", res, err)
		}
	})
}

// A topic the cluster does not know is created by a produce without batches, as a broker with
// auto-creation on does; then the record goes to it.
func TestSendCreatesAMissingTopic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeCluster(t)
		f.autoCreate = 3
		c := newTestClient(t, f, Config{})
		p := newTestProducer(t, c, ProducerConfig{})
		res, err := p.SendSync(context.Background(), Record{Topic: "fresh", Key: []byte("k"), Value: []byte("v")})
		if err != nil {
			t.Fatal(err)
		}
		if want := protocol.PartitionForKey([]byte("k"), 3); res.Partition != want {
			t.Errorf("partition %d, want %d of the created topic's 3", res.Partition, want)
		}
	})
}
