// Broker tests through Handle, the way the transport calls it: each request is msgpack-encoded,
// handed to Handle, and the response is encoded and decoded again, so what the tests check is
// what a client would read. Brokers run on real files in t.TempDir(); long polls and fsync
// holds are measured with channels and conditions with deadlines, never sleeps; goleak checks,
// after all tests, that Stop leaves nothing running.
package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage"
	"github.com/shoalmq/shoal/storage/vfs"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testWait = 10 * time.Second

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testConfig(t testing.TB, dir string) Config {
	cfg := DefaultConfig()
	cfg.NodeID = "n1"
	cfg.DataDir = dir
	cfg.BrokerAddr = "127.0.0.1:7070"
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return cfg
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

// startBroker starts a broker and stops it at cleanup (or earlier, with the returned stop).
func startBroker(t testing.TB, cfg Config) (*Broker, func()) {
	t.Helper()
	b, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			if err := b.Stop(testContext(t)); err != nil {
				t.Errorf("Stop: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return b, stop
}

// call encodes req, serves it, and decodes the response into a Resp as a client would.
func call[Resp any](t testing.TB, b *Broker, typ protocol.MessageType, req any) (Resp, error) {
	t.Helper()
	var resp Resp
	body, err := protocol.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Handle(testContext(t), typ, body)
	if err != nil {
		// What the client sees: the error body's code and message, mapped back to a sentinel.
		return resp, protocol.ErrorBodyOf(err).Err()
	}
	encoded, err := protocol.Marshal(got)
	if err != nil {
		t.Fatalf("encode the %T response: %v", got, err)
	}
	if err := protocol.Unmarshal(encoded, &resp); err != nil {
		t.Fatalf("decode the response into %T: %v", resp, err)
	}
	return resp, nil
}

func mustCall[Resp any](t testing.TB, b *Broker, typ protocol.MessageType, req any) Resp {
	t.Helper()
	resp, err := call[Resp](t, b, typ, req)
	if err != nil {
		t.Fatalf("%v: %v", typ, err)
	}
	return resp
}

// build makes a batch of values: auto ids unless firstID is set; producer -1 means none.
func build(t testing.TB, producer int64, sequence int32, firstID batch.ID, values ...string) []byte {
	t.Helper()
	b := batch.NewBuilder(256)
	b.Reset(batch.Options{AutoID: firstID.IsZero(), ProducerID: producer, BaseSequence: sequence})
	for i, v := range values {
		id := batch.ID{}
		if !firstID.IsZero() {
			id = batch.ID{Ms: firstID.Ms, Seq: firstID.Seq + uint64(i)}
		}
		if err := b.Add(id, 1_700_000_000_000+int64(i), []byte("k"), []byte(v), nil); err != nil {
			t.Fatal(err)
		}
	}
	data, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), data...)
}

func produceReq(topic string, acks protocol.Acks, partition int32, batches ...[]byte) protocol.ProduceRequest {
	req := protocol.ProduceRequest{Topic: topic, Acks: acks}
	for _, b := range batches {
		req.Batches = append(req.Batches, protocol.ProducePartition{Partition: partition, Batch: b})
	}
	return req
}

// produce sends batches to one partition and fails on any error.
func produce(t testing.TB, b *Broker, topic string, partition int32, batches ...[]byte) []protocol.ProduceResult {
	t.Helper()
	resp := mustCall[protocol.ProduceResponse](t, b, protocol.TypeProduce, produceReq(topic, protocol.AcksQuorum, partition, batches...))
	for i, r := range resp.Results {
		if err := r.Error.Err(); err != nil {
			t.Fatalf("produce batch %d to %s/%d: %v", i, topic, partition, err)
		}
	}
	return resp.Results
}

// fetchValues reads a partition from an offset to its high watermark and returns the values.
func fetchValues(t testing.TB, b *Broker, topic string, partition int32, from uint64) []string {
	t.Helper()
	var got []string
	for {
		resp := mustCall[protocol.FetchResponse](t, b, protocol.TypeFetch, protocol.FetchRequest{Topic: topic,
			Partitions: []protocol.FetchPartition{{Partition: partition, From: protocol.Position{Kind: protocol.PositionOffset, Offset: from}}}})
		r := resp.Results[0]
		if err := r.Error.Err(); err != nil {
			t.Fatalf("fetch %s/%d from %d: %v", topic, partition, from, err)
		}
		got = append(got, decodeValues(t, r.Batches, from, r.Deleted)...)
		if r.Next >= r.HighWatermark || r.Next == from {
			return got
		}
		from = r.Next
	}
}

func decodeValues(t testing.TB, data []byte, from uint64, deleted []uint64) []string {
	t.Helper()
	var got []string
	for len(data) > 0 {
		one, rest, h, err := batch.Split(data)
		if err != nil {
			t.Fatalf("fetched bytes: %v", err)
		}
		data = rest
		if h.IsControl() {
			continue
		}
		it := batch.Iterate(one, h)
		for it.Next() {
			if r := it.Record(); r.Offset >= from && !slices.Contains(deleted, r.Offset) {
				got = append(got, string(r.Value))
			}
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

func TestProduceFetchRoundTrip(t *testing.T) {
	b, _ := startBroker(t, testConfig(t, t.TempDir()))
	results := produce(t, b, "orders", 0, build(t, -1, 0, batch.ID{}, "a", "b"), build(t, -1, 0, batch.ID{}, "c"))
	if results[0].BaseOffset != 0 || results[1].BaseOffset != 2 || !results[0].LastID.Less(results[1].FirstID) {
		t.Fatalf("produce results: %+v", results)
	}
	if got := fetchValues(t, b, "orders", 0, 0); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("fetched %q, want a b c", got)
	}
	if got := fetchValues(t, b, "orders", 0, 1); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("fetched from 1: %q, want b c (records below From skipped)", got)
	}
	md := mustCall[protocol.MetadataResponse](t, b, protocol.TypeMetadata, protocol.MetadataRequest{})
	if len(md.Brokers) != 1 || md.Brokers[0] != (protocol.Broker{NodeID: "n1", Addr: "127.0.0.1:7070"}) {
		t.Fatalf("metadata brokers: %+v", md.Brokers)
	}
	if len(md.Topics) != 1 || md.Topics[0].Name != "orders" || md.Topics[0].Config.Partitions != 1 {
		t.Fatalf("metadata topics: %+v", md.Topics)
	}
	p := md.Topics[0].Partitions[0]
	if p.Leader != "n1" || !slices.Equal(p.Replicas, []string{"n1"}) || p.LogEnd != 3 || p.Epoch == 0 {
		t.Fatalf("partition metadata: %+v", p)
	}
	for _, tc := range []struct {
		at   protocol.Position
		want uint64
	}{
		{protocol.Position{Kind: protocol.PositionEarliest}, 0},
		{protocol.Position{Kind: protocol.PositionLatest}, 3},
		{protocol.Position{Kind: protocol.PositionID, ID: results[1].FirstID}, 2},
		{protocol.Position{Kind: protocol.PositionTime, TimeMs: 1_700_000_000_001}, 1},
	} {
		resp := mustCall[protocol.ListOffsetsResponse](t, b, protocol.TypeListOffsets, protocol.ListOffsetsRequest{Topic: "orders", Partitions: []int32{0}, At: tc.at})
		if r := resp.Results[0]; r.Error.Err() != nil || r.Offset != tc.want {
			t.Errorf("ListOffsets %+v: %+v, want %d", tc.at, r, tc.want)
		}
	}
	resp := mustCall[protocol.ListOffsetsResponse](t, b, protocol.TypeListOffsets, protocol.ListOffsetsRequest{Topic: "orders", Partitions: []int32{0, 7},
		At: protocol.Position{Kind: protocol.PositionOffset, Offset: 9}})
	if !errors.Is(resp.Results[0].Error.Err(), protocol.ErrOutOfRange) || !errors.Is(resp.Results[1].Error.Err(), protocol.ErrUnknownPartition) {
		t.Fatalf("ListOffsets errors: %+v", resp.Results)
	}
	topics := mustCall[protocol.ListTopicsResponse](t, b, protocol.TypeListTopics, protocol.Empty{})
	if !slices.Equal(topics.Topics, []string{"orders"}) {
		t.Fatalf("ListTopics: %q", topics.Topics)
	}
}

func TestAcksNoneAndLeader(t *testing.T) {
	for _, acks := range []protocol.Acks{protocol.AcksNone, protocol.AcksLeader, protocol.AcksQuorum} {
		t.Run(acks.String(), func(t *testing.T) {
			b, _ := startBroker(t, testConfig(t, t.TempDir()))
			resp := mustCall[protocol.ProduceResponse](t, b, protocol.TypeProduce, produceReq("t", acks, 0, build(t, -1, 0, batch.ID{}, "x", "y")))
			if r := resp.Results[0]; r.Error.Err() != nil || r.BaseOffset != 0 || r.FirstID.IsZero() {
				t.Fatalf("acks %v: %+v", acks, r)
			}
			p, err := b.Node().Partition("t", 0)
			if err != nil {
				t.Fatal(err)
			}
			if acks != protocol.AcksNone && p.HighWatermark() != 2 {
				t.Fatalf("acks %v answered before the batch was visible: high watermark %d", acks, p.HighWatermark())
			}
			deadline := time.Now().Add(testWait)
			for p.HighWatermark() < 2 {
				if time.Now().After(deadline) {
					t.Fatal("an acks=none batch never became durable")
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}

func TestManyConcurrentProducesUnderFsyncAlways(t *testing.T) {
	b, _ := startBroker(t, testConfig(t, t.TempDir()))
	const clients, perClient = 32, 10
	var mu sync.Mutex
	var offsets [][2]uint64
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range perClient {
				n := 1 + (c+i)%3
				vals := make([]string, n)
				for j := range vals {
					vals[j] = fmt.Sprint(c, "-", i, "-", j)
				}
				resp, err := call[protocol.ProduceResponse](t, b, protocol.TypeProduce, produceReq("load", protocol.AcksQuorum, 0, build(t, -1, 0, batch.ID{}, vals...)))
				if err == nil {
					err = resp.Results[0].Error.Err()
				}
				if err != nil {
					t.Errorf("client %d produce %d: %v", c, i, err)
					return
				}
				mu.Lock()
				offsets = append(offsets, [2]uint64{resp.Results[0].BaseOffset, uint64(n)})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(offsets) != clients*perClient {
		t.Fatalf("%d produces answered, want %d", len(offsets), clients*perClient)
	}
	slices.SortFunc(offsets, func(a, b [2]uint64) int { return int(a[0]) - int(b[0]) })
	next := uint64(0)
	for _, o := range offsets {
		if o[0] != next {
			t.Fatalf("offsets not dense: batch at %d, want %d", o[0], next)
		}
		next += o[1]
	}
	if got := len(fetchValues(t, b, "load", 0, 0)); uint64(got) != next {
		t.Fatalf("fetched %d records, want %d", got, next)
	}
}

// gateFS holds segment fsyncs while closed, so produces stay in flight as long as a test needs.
type gateFS struct {
	vfs.FS
	mu   sync.Mutex
	held chan struct{} // nil when open
}

func (g *gateFS) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held == nil {
		g.held = make(chan struct{})
	}
}

func (g *gateFS) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held != nil {
		close(g.held)
		g.held = nil
	}
}

func (g *gateFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := g.FS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return gatedFile{File: f, gate: g}, nil
}

type gatedFile struct {
	vfs.File
	gate *gateFS
}

func (f gatedFile) Sync() error {
	f.gate.mu.Lock()
	held := f.gate.held
	f.gate.mu.Unlock()
	if held != nil {
		<-held
	}
	return f.File.Sync()
}

func TestBusyPastTheInFlightBound(t *testing.T) {
	gate := &gateFS{FS: vfs.OS()}
	cfg := testConfig(t, t.TempDir())
	cfg.FS = gate
	first := build(t, -1, 0, batch.ID{}, "first")
	cfg.MaxInFlightBytesPerPartition = int64(len(first))
	b, _ := startBroker(t, cfg)
	mustCall[protocol.Empty](t, b, protocol.TypeCreateTopic, protocol.CreateTopicRequest{Name: "tiny"})
	defer gate.release()
	gate.hold()
	p, _ := b.Node().Partition("tiny", 0)

	firstDone := make(chan protocol.ProduceResponse, 1)
	go func() {
		firstDone <- mustCall[protocol.ProduceResponse](t, b, protocol.TypeProduce, produceReq("tiny", protocol.AcksLeader, 0, first))
	}()
	deadline := time.Now().Add(testWait)
	for p.InFlightBytes() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the first produce never went in flight")
		}
		time.Sleep(time.Millisecond)
	}
	resp := mustCall[protocol.ProduceResponse](t, b, protocol.TypeProduce, produceReq("tiny", protocol.AcksLeader, 0, build(t, -1, 0, batch.ID{}, "second")))
	if err := resp.Results[0].Error.Err(); !errors.Is(err, protocol.ErrBusy) || !resp.Results[0].Error.Code.Retriable() {
		t.Fatalf("second produce past the bound: got %v, want a retriable ErrBusy", err)
	}
	gate.release()
	if r := (<-firstDone).Results[0]; r.Error.Err() != nil || r.BaseOffset != 0 {
		t.Fatalf("first produce: %+v", r)
	}
	if stats := b.Stats(); len(stats) != 1 || stats[0].BusyRejections != 1 {
		t.Fatalf("stats: %+v, want one busy rejection", stats)
	}
}

func TestIdempotentRetryAppendsNothing(t *testing.T) {
	b, _ := startBroker(t, testConfig(t, t.TempDir()))
	original := produce(t, b, "idem", 0, build(t, 77, 0, batch.ID{}, "once", "only"))[0]
	retry := produce(t, b, "idem", 0, build(t, 77, 0, batch.ID{}, "once", "only"))[0]
	if retry.BaseOffset != original.BaseOffset || retry.FirstID != original.FirstID || retry.LastID != original.LastID {
		t.Fatalf("retry: %+v, want the original %+v", retry, original)
	}
	if got := fetchValues(t, b, "idem", 0, 0); !slices.Equal(got, []string{"once", "only"}) {
		t.Fatalf("fetched %q after a retry, want the batch once", got)
	}
	resp := mustCall[protocol.ProduceResponse](t, b, protocol.TypeProduce, produceReq("idem", protocol.AcksLeader, 0, build(t, 77, 5, batch.ID{}, "gap")))
	if err := resp.Results[0].Error.Err(); !errors.Is(err, protocol.ErrInvalidArgument) || !strings.Contains(err.Error(), "expected 2") {
		t.Fatalf("sequence gap: got %v, want ErrInvalidArgument naming the expected sequence", err)
	}
}

func TestAutoCreateOff(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.AutoCreateTopics = false
	b, _ := startBroker(t, cfg)
	_, err := call[protocol.ProduceResponse](t, b, protocol.TypeProduce, produceReq("nope", protocol.AcksLeader, 0, build(t, -1, 0, batch.ID{}, "x")))
	if !errors.Is(err, protocol.ErrUnknownTopic) {
		t.Fatalf("produce with auto-create off: got %v, want ErrUnknownTopic", err)
	}
	if md := mustCall[protocol.MetadataResponse](t, b, protocol.TypeMetadata, protocol.MetadataRequest{Topics: []string{"nope"}}); len(md.Topics) != 0 {
		t.Fatalf("metadata of a missing topic: %+v, want none", md.Topics)
	}
	mustCall[protocol.Empty](t, b, protocol.TypeCreateTopic, protocol.CreateTopicRequest{Name: "nope", Config: protocol.TopicConfig{Partitions: 2}})
	resp := mustCall[protocol.ProduceResponse](t, b, protocol.TypeProduce, protocol.ProduceRequest{Topic: "nope", Batches: []protocol.ProducePartition{
		{Partition: 1, Batch: build(t, -1, 0, batch.ID{}, "ok")},
		{Partition: 2, Batch: build(t, -1, 0, batch.ID{}, "no such partition")},
	}})
	if resp.Results[0].Error.Err() != nil || !errors.Is(resp.Results[1].Error.Err(), protocol.ErrUnknownPartition) {
		t.Fatalf("per-partition results: %+v", resp.Results)
	}
	if _, err := call[protocol.Empty](t, b, protocol.TypeCreateTopic, protocol.CreateTopicRequest{Name: "nope"}); !errors.Is(err, protocol.ErrTopicExists) {
		t.Fatalf("create twice: got %v, want ErrTopicExists", err)
	}
}

func TestRestartBringsTopicsAndDataBack(t *testing.T) {
	dir := t.TempDir()
	b, stop := startBroker(t, testConfig(t, dir))
	mustCall[protocol.Empty](t, b, protocol.TypeCreateTopic, protocol.CreateTopicRequest{Name: "keep", Config: protocol.TopicConfig{Partitions: 3, RetentionMs: 3_600_000}})
	produce(t, b, "keep", 2, build(t, -1, 0, batch.ID{}, "x", "y"))
	produce(t, b, "auto", 0, build(t, -1, 0, batch.ID{}, "z"))
	stop()

	b2, _ := startBroker(t, testConfig(t, dir))
	if !b2.Ready() {
		t.Fatal("not ready after a restart")
	}
	if got := fetchValues(t, b2, "keep", 2, 0); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("keep/2 after a restart: %q", got)
	}
	if got := fetchValues(t, b2, "auto", 0, 0); !slices.Equal(got, []string{"z"}) {
		t.Fatalf("auto/0 after a restart: %q", got)
	}
	md := mustCall[protocol.MetadataResponse](t, b2, protocol.TypeMetadata, protocol.MetadataRequest{Topics: []string{"keep"}})
	if cfg := md.Topics[0].Config; cfg.Partitions != 3 || cfg.RetentionMs != 3_600_000 || cfg.Replication != 1 {
		t.Fatalf("settings after a restart: %+v", cfg)
	}
}

func TestLongPollTimesOutEmpty(t *testing.T) {
	b, _ := startBroker(t, testConfig(t, t.TempDir()))
	mustCall[protocol.Empty](t, b, protocol.TypeCreateTopic, protocol.CreateTopicRequest{Name: "poll", Config: protocol.TopicConfig{Partitions: 2}})
	latest := protocol.Position{Kind: protocol.PositionLatest}
	start := time.Now()
	resp := mustCall[protocol.FetchResponse](t, b, protocol.TypeFetch, protocol.FetchRequest{Topic: "poll", MaxWaitMs: 50,
		Partitions: []protocol.FetchPartition{{Partition: 0, From: latest}, {Partition: 1, From: latest}}})
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Fatalf("an empty long poll returned after %v, before MaxWaitMs (50ms)", waited)
	}
	for _, r := range resp.Results {
		if len(r.Batches) != 0 || r.Error.Err() != nil || r.Next != 0 {
			t.Fatalf("empty long poll result: %+v", r)
		}
	}
}

// A fetch of two partitions, both at their end, waits up to the whole test deadline; a produce
// to the second one must end the wait with its record.
func TestLongPollWakesOnData(t *testing.T) {
	b, _ := startBroker(t, testConfig(t, t.TempDir()))
	mustCall[protocol.Empty](t, b, protocol.TypeCreateTopic, protocol.CreateTopicRequest{Name: "wake", Config: protocol.TopicConfig{Partitions: 2}})
	produce(t, b, "wake", 1, build(t, -1, 0, batch.ID{}, "old"))
	done := make(chan protocol.FetchResponse, 1)
	go func() {
		done <- mustCall[protocol.FetchResponse](t, b, protocol.TypeFetch, protocol.FetchRequest{Topic: "wake", MaxWaitMs: int32(testWait / time.Millisecond),
			Partitions: []protocol.FetchPartition{
				{Partition: 0, From: protocol.Position{Kind: protocol.PositionOffset, Offset: 0}},
				{Partition: 1, From: protocol.Position{Kind: protocol.PositionOffset, Offset: 1}},
			}})
	}()
	produce(t, b, "wake", 1, build(t, -1, 0, batch.ID{}, "new"))
	select {
	case resp := <-done:
		r := resp.Results[1]
		if got := decodeValues(t, r.Batches, 1, nil); !slices.Equal(got, []string{"new"}) || r.Next != 2 || r.HighWatermark != 2 {
			t.Fatalf("long poll from offset 1: %q, next %d, high watermark %d", got, r.Next, r.HighWatermark)
		}
		if len(resp.Results[0].Batches) != 0 {
			t.Fatalf("partition 0 returned data it does not have: %+v", resp.Results[0])
		}
	case <-time.After(testWait / 2):
		t.Fatal("the long poll did not return when data arrived")
	}
}

// boom is a message the partition actor does not know: it panics.
type boom struct{}

func TestPanickingPartitionIsStoppedOthersKeepWorking(t *testing.T) {
	b, _ := startBroker(t, testConfig(t, t.TempDir()))
	mustCall[protocol.Empty](t, b, protocol.TypeCreateTopic, protocol.CreateTopicRequest{Name: "two", Config: protocol.TopicConfig{Partitions: 2}})
	victim, _ := b.Node().Partition("two", 0)
	b.system.Root.Send(victim.PID(), boom{})
	select {
	case <-victim.Done():
	case <-testContext(t).Done():
		t.Fatal("the panicking partition was not stopped")
	}
	if _, alive := b.system.ProcessRegistry.GetLocal(victim.PID().Id); alive {
		t.Fatal("the panicking partition is still registered: restarted instead of stopped")
	}
	resp := mustCall[protocol.ProduceResponse](t, b, protocol.TypeProduce, protocol.ProduceRequest{Topic: "two", Batches: []protocol.ProducePartition{
		{Partition: 0, Batch: build(t, -1, 0, batch.ID{}, "lost")},
		{Partition: 1, Batch: build(t, -1, 0, batch.ID{}, "fine")},
	}})
	if err := resp.Results[0].Error.Err(); err == nil || !strings.Contains(err.Error(), "failed") {
		t.Fatalf("produce to the failed partition: %v, want a failure", err)
	}
	if err := resp.Results[1].Error.Err(); err != nil {
		t.Fatalf("produce to the healthy partition: %v", err)
	}
	md := mustCall[protocol.MetadataResponse](t, b, protocol.TypeMetadata, protocol.MetadataRequest{Topics: []string{"two"}})
	if md.Topics[0].Partitions[0].Leader != "" || md.Topics[0].Partitions[1].Leader != "n1" {
		t.Fatalf("metadata after the failure: %+v", md.Topics[0].Partitions)
	}
	stats := b.Stats()
	if !stats[0].Failed || stats[1].Failed {
		t.Fatalf("stats after the failure: %+v", stats)
	}
	if !b.Ready() {
		t.Fatal("one failed partition made the node not ready")
	}
}

func TestDeleteTopicRemovesData(t *testing.T) {
	dir := t.TempDir()
	b, _ := startBroker(t, testConfig(t, dir))
	produce(t, b, "doomed", 0, build(t, -1, 0, batch.ID{}, "x"))
	mustCall[protocol.Empty](t, b, protocol.TypeDeleteTopic, protocol.DeleteTopicRequest{Name: "doomed"})
	if _, err := os.Stat(filepath.Join(dir, "topics", "doomed")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data of the deleted topic: %v, want it gone", err)
	}
	if topics := mustCall[protocol.ListTopicsResponse](t, b, protocol.TypeListTopics, protocol.Empty{}); len(topics.Topics) != 0 {
		t.Fatalf("topics after delete: %q", topics.Topics)
	}
	_, err := call[protocol.FetchResponse](t, b, protocol.TypeFetch, protocol.FetchRequest{Topic: "doomed", Partitions: []protocol.FetchPartition{{}}})
	if !errors.Is(err, protocol.ErrUnknownTopic) {
		t.Fatalf("fetch of a deleted topic: %v, want ErrUnknownTopic", err)
	}
	if _, err := call[protocol.Empty](t, b, protocol.TypeDeleteTopic, protocol.DeleteTopicRequest{Name: "doomed"}); !errors.Is(err, protocol.ErrUnknownTopic) {
		t.Fatalf("delete twice: %v, want ErrUnknownTopic", err)
	}
}

func TestTrim(t *testing.T) {
	b, _ := startBroker(t, testConfig(t, t.TempDir()))
	produce(t, b, "trim", 0, build(t, -1, 0, batch.ID{}, "1", "2", "3", "4"))
	resp := mustCall[protocol.TrimResponse](t, b, protocol.TypeTrim, protocol.TrimRequest{Topic: "trim", MaxLen: 1})
	if resp.Removed != 3 {
		t.Fatalf("trim to 1: removed %d, want 3", resp.Removed)
	}
	if got := fetchValues(t, b, "trim", 0, 3); !slices.Equal(got, []string{"4"}) {
		t.Fatalf("after trim: %q", got)
	}
	fetch := mustCall[protocol.FetchResponse](t, b, protocol.TypeFetch, protocol.FetchRequest{Topic: "trim",
		Partitions: []protocol.FetchPartition{{From: protocol.Position{Kind: protocol.PositionOffset, Offset: 0}}}})
	if err := fetch.Results[0].Error.Err(); !errors.Is(err, protocol.ErrOutOfRange) || fetch.Results[0].LogStart != 3 {
		t.Fatalf("fetch below the log start: %v (log start %d), want ErrOutOfRange and 3", err, fetch.Results[0].LogStart)
	}
}

func TestErrorsAtTheEdge(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.MaxRecordBytes = 64
	b, _ := startBroker(t, cfg)
	corrupt := build(t, -1, 0, batch.ID{}, "x")
	corrupt[len(corrupt)-1] ^= 1
	produce(t, b, "e", 0, build(t, -1, 0, batch.ID{Ms: 10}, "explicit"))
	for _, tc := range []struct {
		name  string
		batch []byte
		want  error
		text  string
	}{
		{"corrupt", corrupt, protocol.ErrCorruptBatch, ""},
		{"too large", build(t, -1, 0, batch.ID{}, strings.Repeat("v", 100)), protocol.ErrTooLarge, ""},
		{"id not increasing", build(t, -1, 0, batch.ID{Ms: 10}, "again"), protocol.ErrIDNotIncreasing, protocol.ErrIDNotIncreasing.Error()},
	} {
		resp := mustCall[protocol.ProduceResponse](t, b, protocol.TypeProduce, produceReq("e", protocol.AcksLeader, 0, tc.batch))
		err := resp.Results[0].Error.Err()
		if !errors.Is(err, tc.want) || (tc.text != "" && err.Error() != tc.text) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		typ  protocol.MessageType
		body []byte
		want error
	}{
		{"bad topic name", protocol.TypeProduce, mustMarshal(t, produceReq("a/b", protocol.AcksLeader, 0)), protocol.ErrInvalidArgument},
		{"unknown acks", protocol.TypeProduce, mustMarshal(t, protocol.ProduceRequest{Topic: "e", Acks: 9}), protocol.ErrInvalidArgument},
		{"malformed body", protocol.TypeFetch, []byte{0xc1}, protocol.ErrMalformed},
		{"handshake is not served here", protocol.TypeHandshake, mustMarshal(t, protocol.Handshake{}), protocol.ErrMalformed},
		{"fetch unknown topic", protocol.TypeFetch, mustMarshal(t, protocol.FetchRequest{Topic: "zzz"}), protocol.ErrUnknownTopic},
		{"trim unknown partition", protocol.TypeTrim, mustMarshal(t, protocol.TrimRequest{Topic: "e", Partition: 4}), protocol.ErrUnknownPartition},
	} {
		_, err := b.Handle(testContext(t), tc.typ, tc.body)
		if !errors.Is(protocol.ErrorBodyOf(err).Err(), tc.want) {
			t.Errorf("%s: got %v (code %d), want %v", tc.name, err, protocol.CodeOf(err), tc.want)
		}
	}
	fetch := mustCall[protocol.FetchResponse](t, b, protocol.TypeFetch, protocol.FetchRequest{Topic: "e",
		Partitions: []protocol.FetchPartition{{From: protocol.Position{Kind: protocol.PositionOffset, Offset: 99}}}})
	if err := fetch.Results[0].Error.Err(); !errors.Is(err, protocol.ErrOutOfRange) {
		t.Fatalf("fetch past the end: %v, want ErrOutOfRange", err)
	}
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	body, err := protocol.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestConfigValidation(t *testing.T) {
	cfg := Config{RetentionMs: -1, DefaultPartitions: -3, Fsync: storage.Policy(9)}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("a bad config validated")
	}
	for _, want := range []string{"NodeID", "DataDir", "retention", "DefaultPartitions", "fsync policy"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("validation errors %q do not mention %s", err, want)
		}
	}
	if _, err := Start(cfg); err == nil {
		t.Fatal("Start accepted a bad config")
	}
}
