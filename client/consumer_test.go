// Consumer tests. appendMessages is checked on hand-built fetch results (records below From,
// tombstoned offsets and control batches are skipped); the Consumer itself reads what a Producer
// wrote to the in-memory fake cluster, inside synctest bubbles so long polls run on virtual time
// and "Poll is still waiting" is checked with synctest.Wait.
package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
)

// stampedBatch builds a stored batch: records with the given values from baseOffset, ids from
// firstID; control makes it a batch of tombstones.
func stampedBatch(t *testing.T, baseOffset uint64, firstID batch.ID, control bool, values ...string) []byte {
	t.Helper()
	b := batch.NewBuilder(0)
	b.Reset(batch.Options{AutoID: !control, Control: control, ProducerID: batch.NoProducer})
	for i, v := range values {
		key := []byte("k" + v)
		if control {
			key = batch.TombstoneKey
		}
		headers := []batch.HeaderPair{{Field: []byte("h"), Value: []byte(v)}}
		if err := b.Add(batch.ID{}, int64(1000+i), key, []byte(v), headers); err != nil {
			t.Fatal(err)
		}
	}
	out, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	out = slices.Clone(out)
	batch.Stamp(out, baseOffset, 1, firstID)
	return out
}

func TestAppendMessagesSkipsWhatIsNotData(t *testing.T) {
	first := stampedBatch(t, 0, batch.ID{Ms: 5}, false, "a", "b", "c")
	control := stampedBatch(t, 3, batch.ID{}, true, "x")
	second := stampedBatch(t, 4, batch.ID{Ms: 6}, false, "d", "e")
	r := protocol.FetchResult{
		Partition: 2, From: 1, Next: 6, HighWatermark: 6,
		Deleted: []uint64{4},
		Batches: slices.Concat(first, control, second),
	}
	msgs, err := appendMessages(nil, "t", r)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, fmt.Sprintf("%d:%s:%s:%v:%s=%s", m.Offset, m.Key, m.Value, m.ID, m.Headers[0].Field, m.Headers[0].Value))
		if m.Topic != "t" || m.Partition != 2 {
			t.Errorf("message at %d: topic %q partition %d, want t/2", m.Offset, m.Topic, m.Partition)
		}
	}
	want := []string{"1:kb:b:5-1:h=b", "2:kc:c:5-2:h=c", "5:ke:e:6-1:h=e"}
	if !slices.Equal(got, want) {
		t.Errorf("messages %q, want %q (offset 0 is below From, 3 is control, 4 is deleted)", got, want)
	}
	if ts := msgs[0].Timestamp.UnixMilli(); ts != 1001 {
		t.Errorf("timestamp %d, want 1001", ts)
	}
}

func TestAppendMessagesRefusesCorruptBatches(t *testing.T) {
	b := stampedBatch(t, 0, batch.ID{Ms: 5}, false, "a")
	b[len(b)-1] ^= 0xff
	_, err := appendMessages(nil, "t", protocol.FetchResult{Batches: b})
	if !errors.Is(err, protocol.ErrCorruptBatch) {
		t.Fatalf("got %v, want ErrCorruptBatch", err)
	}
}

// consumerEnv is a fake cluster with topic t of n partitions holding records, and a client.
type consumerEnv struct {
	f *fakeCluster
	c *Client
	p *Producer
}

func newConsumerEnv(t *testing.T, partitions int) *consumerEnv {
	t.Helper()
	f := newFakeCluster(t)
	f.createTopic("t", partitions)
	c := newTestClient(t, f, Config{})
	return &consumerEnv{f: f, c: c, p: newTestProducer(t, c, ProducerConfig{})}
}

// produce writes n records keyed key-<i> with values <prefix>-<i>, and waits for them.
func (env *consumerEnv) produce(t *testing.T, prefix string, n int) {
	t.Helper()
	var futures []*Future
	for i := range n {
		futures = append(futures, env.p.Send(context.Background(), rec(fmt.Sprintf("key-%d", i), fmt.Sprintf("%s-%d", prefix, i))))
	}
	env.p.Flush(context.Background())
	waitAll(t, futures)
}

// produceEach writes n records, one batch each (values <prefix>-<i>).
func (env *consumerEnv) produceEach(t *testing.T, prefix string, n int) {
	t.Helper()
	for i := range n {
		if _, err := env.p.SendSync(context.Background(), rec("", fmt.Sprintf("%s-%d", prefix, i))); err != nil {
			t.Fatal(err)
		}
	}
}

func (env *consumerEnv) consumer(t *testing.T, cfg ConsumerConfig) *Consumer {
	t.Helper()
	cfg.Topic = "t"
	cons, err := env.c.NewConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cons
}

// pollToEnd polls until AtEnd and returns the values read, with offsets dense per partition.
func pollToEnd(t *testing.T, cons *Consumer) []string {
	t.Helper()
	var values []string
	next := map[int32]uint64{}
	for polls := 0; !cons.AtEnd(); polls++ {
		if polls == 100 {
			t.Fatal("not at the end after 100 polls")
		}
		msgs, err := cons.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if want, ok := next[m.Partition]; ok && m.Offset != want {
				t.Fatalf("partition %d: offset %d after %d, want dense offsets", m.Partition, m.Offset, want-1)
			}
			next[m.Partition] = m.Offset + 1
			values = append(values, string(m.Value))
		}
	}
	return values
}

func TestConsumerReadsEveryPartitionFromEarliest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newConsumerEnv(t, 3)
		env.produce(t, "v", 60)
		cons := env.consumer(t, ConsumerConfig{From: Earliest(), MaxBytes: 200})
		values := pollToEnd(t, cons)
		slices.Sort(values)
		var want []string
		for i := range 60 {
			want = append(want, fmt.Sprintf("v-%d", i))
		}
		slices.Sort(want)
		if !slices.Equal(values, want) {
			t.Fatalf("read %d values, want the 60 produced:\n got %q\nwant %q", len(values), values, want)
		}
		if ps := cons.Partitions(); !slices.Equal(ps, []int32{0, 1, 2}) {
			t.Errorf("Partitions() = %v, want [0 1 2]", ps)
		}
		total := uint64(0)
		for _, p := range cons.Partitions() {
			total += cons.Position(p)
		}
		if total != 60 {
			t.Errorf("positions add up to %d, want 60 (each partition's end)", total)
		}
	})
}

func TestConsumerFromLatestSeesOnlyNewRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newConsumerEnv(t, 1)
		env.produce(t, "old", 5)
		cons := env.consumer(t, ConsumerConfig{From: Latest(), MaxWait: -1})
		if values := pollToEnd(t, cons); len(values) != 0 {
			t.Fatalf("from latest read %q, want nothing", values)
		}
		if pos := cons.Position(0); pos != 5 {
			t.Errorf("position %d, want 5 (the end when the consumer started)", pos)
		}
		env.produce(t, "new", 2)
		msgs, err := cons.Poll(context.Background())
		if err != nil || len(msgs) != 2 || string(msgs[0].Value) != "new-0" || msgs[0].Offset != 5 {
			t.Fatalf("after two more records: %d messages (%v), want new-0 at 5 and new-1", len(msgs), err)
		}
	})
}

// An application stores Position and resumes with Seek (or From: AtOffset) in a new consumer.
func TestConsumerResumesFromAStoredPosition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newConsumerEnv(t, 1)
		env.produceEach(t, "v", 10)
		first := env.consumer(t, ConsumerConfig{Partitions: []int32{0}, MaxBytes: 1})
		msgs, err := first.Poll(context.Background())
		if err != nil || len(msgs) == 0 {
			t.Fatalf("first poll: %d messages, %v", len(msgs), err)
		}
		stored := first.Position(0)
		if stored != msgs[len(msgs)-1].Offset+1 {
			t.Fatalf("Position %d after reading up to %d, want the next offset", stored, msgs[len(msgs)-1].Offset)
		}
		second := env.consumer(t, ConsumerConfig{})
		if err := second.Seek(0, stored); err != nil {
			t.Fatal(err)
		}
		values := pollToEnd(t, second)
		if len(values) != 10-int(stored) || len(values) == 0 || values[0] != fmt.Sprintf("v-%d", stored) {
			t.Errorf("resumed at %d and read %q, want v-%d..v-9", stored, values, stored)
		}
		if err := second.Seek(7, 0); !errors.Is(err, protocol.ErrUnknownPartition) {
			t.Errorf("Seek to a partition the consumer does not read: %v, want ErrUnknownPartition", err)
		}
	})
}

func TestConsumerFromIDAndTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newConsumerEnv(t, 1)
		var results []Result
		for i := range 6 {
			r := rec("", fmt.Sprint(i))
			r.Timestamp = time.UnixMilli(int64(10_000 + i*1000))
			res, err := env.p.SendSync(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			results = append(results, res)
		}
		cases := []struct {
			name string
			from protocol.Position
			want string
		}{
			{"id of record 3", AtID(results[3].ID), "3"},
			{"time of record 4", AtTime(time.UnixMilli(14_000)), "4"},
			{"time between 1 and 2", AtTime(time.UnixMilli(11_500)), "2"},
			{"offset 5", AtOffset(5), "5"},
		}
		for _, tc := range cases {
			cons := env.consumer(t, ConsumerConfig{From: tc.from})
			values := pollToEnd(t, cons)
			if len(values) == 0 || values[0] != tc.want {
				t.Errorf("%s: read %q, want it to start at %s", tc.name, values, tc.want)
			}
		}
	})
}

// A Poll with nothing to read waits on the broker (long poll) and returns as soon as a record
// arrives.
func TestPollWaitsForData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := newConsumerEnv(t, 1)
		cons := env.consumer(t, ConsumerConfig{From: Earliest(), MaxWait: time.Minute})
		type polled struct {
			msgs []Message
			err  error
		}
		done := make(chan polled)
		go func() {
			msgs, err := cons.Poll(context.Background())
			done <- polled{msgs, err}
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("Poll returned with nothing to read before MaxWait")
		default:
		}
		start := time.Now()
		env.produce(t, "v", 1)
		got := <-done
		if got.err != nil || len(got.msgs) != 1 {
			t.Fatalf("Poll: %d messages, %v; want the new record", len(got.msgs), got.err)
		}
		if waited := time.Since(start); waited > DefaultLinger {
			t.Errorf("Poll returned %v after the record was produced, want at once", waited)
		}
		// With nothing more, Poll returns empty after MaxWait.
		msgs, err := cons.Poll(context.Background())
		if err != nil || len(msgs) != 0 {
			t.Errorf("Poll with nothing to read: %d messages, %v; want none, nil", len(msgs), err)
		}
	})
}

// The partition's leader moves: the old one answers "not leader", the consumer refreshes
// metadata and reads from the new one.
func TestConsumerFollowsTheLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeCluster(t, "node-1", "node-2")
		f.createTopic("t", 1)
		c := newTestClient(t, f, Config{})
		env := &consumerEnv{f: f, c: c, p: newTestProducer(t, c, ProducerConfig{})}
		env.produceEach(t, "v", 3)
		cons := env.consumer(t, ConsumerConfig{From: Earliest(), MaxBytes: 1})
		if msgs, err := cons.Poll(context.Background()); err != nil || len(msgs) == 0 {
			t.Fatalf("first poll: %d messages, %v", len(msgs), err)
		}
		f.setLeader("t", 0, "node-2")
		if values := pollToEnd(t, cons); len(values) == 0 || values[len(values)-1] != "v-2" {
			t.Fatalf("after the leader moved: read %q, want up to v-2", values)
		}
	})
}

func TestConsumerConfigValidation(t *testing.T) {
	f := newFakeCluster(t)
	c := newTestClient(t, f, Config{})
	_, err := c.NewConsumer(ConsumerConfig{Partitions: []int32{-1}, MaxBytes: -1, From: protocol.Position{Kind: 9}})
	for _, want := range []string{"Topic", "Partitions", "MaxBytes", "From"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want a message naming %s", err, want)
		}
	}
}
