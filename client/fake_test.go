// A fake cluster for the client's unit tests: an in-memory model of the brokers that implements
// Caller, so the producer, consumer and metadata logic run without TCP. It keeps partition logs
// of real protocol/batch bytes (stamped with batch.Stamp as a leader would), deduplicates
// idempotent batches by (producer id, partition, sequence) like the broker, and refuses a batch
// whose sequence is ahead of the next expected one with a retriable error. Tests steer it
// through hooks: fail a request, hold it until released, move a partition's leader.
package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
)

// errFakeRefused is what dialling a fake address nobody serves returns.
var errFakeRefused = errors.New("fake: connection refused")

// errFakeConnLost stands for a connection that broke during a call (not a protocol error).
var errFakeConnLost = errors.New("fake: connection lost")

type fakeNode struct {
	id, addr string
}

// producedBatch records one produce request the fake saw, for assertions.
type producedBatch struct {
	node      string
	partition int32
	header    batch.Header
	bytes     []byte // a copy, as sent
}

type fakeCluster struct {
	t *testing.T

	mu     sync.Mutex
	nodes  []fakeNode
	topics map[string][]*fakeLog
	// leaders maps a partition to the node that leads it (default: nodes[0]).
	leaders map[topicPartition]string
	// sequences: the next expected sequence and the results of recent batches per idempotent
	// producer and partition.
	sequences map[producerPartition]*sequenceState
	produced  []producedBatch
	calls     map[protocol.MessageType]int
	dials     int
	// beforeProduce, when set, runs for each produce request before it is served (outside mu);
	// an error fails the request without appending.
	beforeProduce func(ctx context.Context, node string, req *protocol.ProduceRequest) error
	// afterProduce, when set, may replace the answer of a produce that was appended (to lose
	// it, say).
	afterProduce func(req *protocol.ProduceRequest, resp *protocol.ProduceResponse) error
	// metadataHold, when set, holds every metadata request until it is closed.
	metadataHold chan struct{}
	// autoCreate, when positive, is the partitions of a topic that a produce creates.
	autoCreate int
	nowMs      uint64
	appended   chan struct{} // closed and replaced on every append (long polls wait on it)
}

type producerPartition struct {
	producerID int64
	topic      string
	partition  int32
}

type sequenceState struct {
	next    int32
	results map[int32]protocol.ProduceResult // by base sequence
}

type fakeLog struct {
	batches [][]byte
	end     uint64
	lastID  batch.ID
}

func newFakeCluster(t *testing.T, nodes ...string) *fakeCluster {
	t.Helper()
	if len(nodes) == 0 {
		nodes = []string{"node-1"}
	}
	f := &fakeCluster{
		t:         t,
		topics:    make(map[string][]*fakeLog),
		leaders:   make(map[topicPartition]string),
		sequences: make(map[producerPartition]*sequenceState),
		calls:     make(map[protocol.MessageType]int),
		nowMs:     1_700_000_000_000,
		appended:  make(chan struct{}),
	}
	for i, id := range nodes {
		f.nodes = append(f.nodes, fakeNode{id: id, addr: fmt.Sprintf("fake-%d:7070", i+1)})
	}
	return f
}

func (f *fakeCluster) addr(i int) string { return f.nodes[i].addr }

// createTopic makes a topic of n empty partitions.
func (f *fakeCluster) createTopic(name string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.createTopicLocked(name, n)
}

func (f *fakeCluster) createTopicLocked(name string, n int) {
	logs := make([]*fakeLog, n)
	for i := range logs {
		logs[i] = &fakeLog{}
	}
	f.topics[name] = logs
}

// setLeader moves a partition's leadership to node id.
func (f *fakeCluster) setLeader(topic string, partition int32, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leaders[topicPartition{topic, partition}] = id
}

func (f *fakeCluster) leaderLocked(topic string, partition int32) string {
	if id, ok := f.leaders[topicPartition{topic, partition}]; ok {
		return id
	}
	return f.nodes[0].id
}

func (f *fakeCluster) callCount(t protocol.MessageType) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[t]
}

func (f *fakeCluster) producedBatches() []producedBatch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.produced)
}

// records returns every data record of a partition, in log order, as "key=value" strings.
func (f *fakeCluster) records(topic string, partition int32) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, b := range f.topics[topic][partition].batches {
		h, err := batch.Check(b)
		if err != nil {
			f.t.Fatalf("fake log holds a bad batch: %v", err)
		}
		for it := batch.Iterate(b, h); it.Next(); {
			r := it.Record()
			out = append(out, string(r.Key)+"="+string(r.Value))
		}
	}
	return out
}

// dial is a DialFunc over the fake's nodes.
func (f *fakeCluster) dial(ctx context.Context, addr string) (Caller, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dials++
	for _, n := range f.nodes {
		if n.addr == addr {
			return &fakeConn{f: f, node: n}, nil
		}
	}
	return nil, fmt.Errorf("cannot reach %s: %w", addr, errFakeRefused)
}

// fakeConn is one connection to a fake node.
type fakeConn struct {
	f    *fakeCluster
	node fakeNode

	mu     sync.Mutex
	closed bool
}

func (c *fakeConn) NodeID() string { return c.node.id }

func (c *fakeConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *fakeConn) Call(ctx context.Context, t protocol.MessageType, req, resp any) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return errFakeConnLost
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f := c.f
	f.mu.Lock()
	f.calls[t]++
	f.mu.Unlock()
	switch t {
	case protocol.TypeMetadata:
		return f.metadata(req.(*protocol.MetadataRequest), resp.(*protocol.MetadataResponse))
	case protocol.TypeProduce:
		return f.produce(ctx, c.node.id, req.(*protocol.ProduceRequest), resp.(*protocol.ProduceResponse))
	case protocol.TypeFetch:
		return f.fetch(ctx, c.node.id, req.(*protocol.FetchRequest), resp.(*protocol.FetchResponse))
	case protocol.TypeCreateTopic:
		return f.create(req.(*protocol.CreateTopicRequest))
	case protocol.TypeDeleteTopic:
		return f.delete(req.(*protocol.DeleteTopicRequest))
	case protocol.TypeListTopics:
		return f.list(resp.(*protocol.ListTopicsResponse))
	}
	return protocol.Errorf(protocol.ErrMalformed, "fake: %s not served", t)
}

func (f *fakeCluster) metadata(req *protocol.MetadataRequest, resp *protocol.MetadataResponse) error {
	f.mu.Lock()
	hold := f.metadataHold
	f.mu.Unlock()
	if hold != nil {
		<-hold
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nodes {
		resp.Brokers = append(resp.Brokers, protocol.Broker{NodeID: n.id, Addr: n.addr})
	}
	names := req.Topics
	if len(names) == 0 {
		for name := range f.topics {
			names = append(names, name)
		}
		slices.Sort(names)
	}
	for _, name := range names {
		logs, ok := f.topics[name]
		if !ok {
			continue
		}
		tm := protocol.TopicMetadata{Name: name, Config: protocol.TopicConfig{Partitions: int32(len(logs)), Replication: 1}}
		for i, l := range logs {
			leader := f.leaderLocked(name, int32(i))
			tm.Partitions = append(tm.Partitions, protocol.PartitionMetadata{
				Partition: int32(i), Leader: leader, Replicas: []string{leader}, Epoch: 1, LogEnd: l.end,
			})
		}
		resp.Topics = append(resp.Topics, tm)
	}
	return nil
}

func (f *fakeCluster) create(req *protocol.CreateTopicRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.topics[req.Name]; ok {
		return protocol.Errorf(protocol.ErrTopicExists, "topic %q exists", req.Name)
	}
	f.createTopicLocked(req.Name, int(max(req.Config.Partitions, 1)))
	return nil
}

func (f *fakeCluster) delete(req *protocol.DeleteTopicRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.topics[req.Name]; !ok {
		return protocol.Errorf(protocol.ErrUnknownTopic, "topic %q", req.Name)
	}
	delete(f.topics, req.Name)
	return nil
}

func (f *fakeCluster) list(resp *protocol.ListTopicsResponse) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name := range f.topics {
		resp.Topics = append(resp.Topics, name)
	}
	slices.Sort(resp.Topics)
	return nil
}

func (f *fakeCluster) produce(ctx context.Context, node string, req *protocol.ProduceRequest, resp *protocol.ProduceResponse) error {
	f.mu.Lock()
	for _, pp := range req.Batches {
		h, _ := batch.ReadHeader(pp.Batch)
		f.produced = append(f.produced, producedBatch{node: node, partition: pp.Partition, header: h, bytes: slices.Clone(pp.Batch)})
	}
	hook := f.beforeProduce
	f.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, node, req); err != nil {
			return err
		}
	}
	f.mu.Lock()
	logs, ok := f.topics[req.Topic]
	if !ok && f.autoCreate > 0 {
		f.createTopicLocked(req.Topic, f.autoCreate)
		logs, ok = f.topics[req.Topic], true
	}
	if !ok {
		f.mu.Unlock()
		return protocol.Errorf(protocol.ErrUnknownTopic, "topic %q", req.Topic)
	}
	for _, pp := range req.Batches {
		resp.Results = append(resp.Results, f.appendLocked(node, req.Topic, logs, pp))
	}
	after := f.afterProduce
	f.mu.Unlock()
	if after != nil {
		return after(req, resp)
	}
	return nil
}

// appendLocked is one partition's part of a produce: leader check, dedup, stamp, append.
func (f *fakeCluster) appendLocked(node, topic string, logs []*fakeLog, pp protocol.ProducePartition) protocol.ProduceResult {
	fail := func(err error) protocol.ProduceResult {
		return protocol.ProduceResult{Partition: pp.Partition, Error: protocol.ErrorBodyOf(err)}
	}
	if pp.Partition < 0 || int(pp.Partition) >= len(logs) {
		return fail(protocol.Errorf(protocol.ErrUnknownPartition, "%s/%d", topic, pp.Partition))
	}
	if leader := f.leaderLocked(topic, pp.Partition); leader != node {
		return fail(protocol.Errorf(protocol.ErrNotLeader, "%s/%d is led by %s", topic, pp.Partition, leader))
	}
	h, err := batch.Check(pp.Batch)
	if err != nil {
		return fail(protocol.Errorf(protocol.ErrCorruptBatch, "%v", err))
	}
	var seq *sequenceState
	if h.ProducerID != batch.NoProducer {
		key := producerPartition{h.ProducerID, topic, pp.Partition}
		if seq = f.sequences[key]; seq == nil {
			seq = &sequenceState{results: make(map[int32]protocol.ProduceResult)}
			f.sequences[key] = seq
		}
		if res, dup := seq.results[h.BaseSequence]; dup {
			return res // a retry of a batch already appended: the original answer
		}
		if h.BaseSequence != seq.next {
			// As actors/partition: a sequence other than the expected one is refused (and not
			// remembered, so the next expected sequence stays).
			return fail(protocol.Errorf(protocol.ErrInvalidArgument, "out-of-order sequence %d, expected %d", h.BaseSequence, seq.next))
		}
	}
	l := logs[pp.Partition]
	f.nowMs++
	firstID, err := batch.NextAutoIDs(l.lastID, f.nowMs, h.RecordCount)
	if err != nil {
		return fail(err)
	}
	stored := slices.Clone(pp.Batch)
	batch.Stamp(stored, l.end, 1, firstID)
	res := protocol.ProduceResult{
		Partition: pp.Partition, BaseOffset: l.end, FirstID: firstID,
		LastID: batch.ID{Ms: firstID.Ms, Seq: firstID.Seq + uint64(h.RecordCount) - 1},
	}
	l.batches = append(l.batches, stored)
	l.end += uint64(h.RecordCount)
	l.lastID = res.LastID
	if seq != nil {
		seq.results[h.BaseSequence] = res
		seq.next = nextSequence(h.BaseSequence, int(h.RecordCount))
	}
	close(f.appended)
	f.appended = make(chan struct{})
	return res
}

func (f *fakeCluster) fetch(ctx context.Context, node string, req *protocol.FetchRequest, resp *protocol.FetchResponse) error {
	for {
		f.mu.Lock()
		logs, ok := f.topics[req.Topic]
		if !ok {
			f.mu.Unlock()
			return protocol.Errorf(protocol.ErrUnknownTopic, "topic %q", req.Topic)
		}
		resp.Results = resp.Results[:0]
		any := false
		for _, fp := range req.Partitions {
			r := f.readLocked(node, req.Topic, logs, fp)
			any = any || len(r.Batches) > 0
			resp.Results = append(resp.Results, r)
		}
		wait := f.appended
		f.mu.Unlock()
		if any || req.MaxWaitMs <= 0 {
			return nil
		}
		select {
		case <-wait:
		case <-time.After(time.Duration(req.MaxWaitMs) * time.Millisecond):
			req.MaxWaitMs = 0
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// readLocked answers one partition of a fetch: whole batches from the one holding From.
func (f *fakeCluster) readLocked(node, topic string, logs []*fakeLog, fp protocol.FetchPartition) protocol.FetchResult {
	r := protocol.FetchResult{Partition: fp.Partition}
	if fp.Partition < 0 || int(fp.Partition) >= len(logs) {
		r.Error = protocol.ErrorBodyOf(protocol.Errorf(protocol.ErrUnknownPartition, "%s/%d", topic, fp.Partition))
		return r
	}
	if leader := f.leaderLocked(topic, fp.Partition); leader != node {
		r.Error = protocol.ErrorBodyOf(protocol.Errorf(protocol.ErrNotLeader, "led by %s", leader))
		return r
	}
	l := logs[fp.Partition]
	r.HighWatermark, r.Next = l.end, l.end
	from, err := l.resolve(fp.From)
	if err != nil {
		r.Error = protocol.ErrorBodyOf(err)
		return r
	}
	r.From, r.Next = from, max(from, r.Next)
	for _, b := range l.batches {
		h, _ := batch.ReadHeader(b)
		if h.NextOffset() <= from {
			continue
		}
		if len(r.Batches) > 0 && len(r.Batches)+len(b) > int(fp.MaxBytes) {
			break
		}
		r.Batches = append(r.Batches, b...)
		r.Next = h.NextOffset()
	}
	if len(r.Batches) == 0 {
		r.Next = from
	}
	return r
}

func (l *fakeLog) resolve(p protocol.Position) (uint64, error) {
	switch p.Kind {
	case protocol.PositionEarliest:
		return 0, nil
	case protocol.PositionLatest:
		return l.end, nil
	case protocol.PositionOffset:
		if p.Offset > l.end {
			return 0, protocol.Errorf(protocol.ErrOutOfRange, "offset %d above the end %d", p.Offset, l.end)
		}
		return p.Offset, nil
	}
	for _, b := range l.batches {
		h, _ := batch.ReadHeader(b)
		for it := batch.Iterate(b, h); it.Next(); {
			r := it.Record()
			if (p.Kind == protocol.PositionID && !r.ID.Less(p.ID)) || (p.Kind == protocol.PositionTime && r.Timestamp >= p.TimeMs) {
				return r.Offset, nil
			}
		}
	}
	return l.end, nil
}

// newTestClient returns a Client on fake f that bootstraps from f's first node.
func newTestClient(t *testing.T, f *fakeCluster, cfg Config) *Client {
	t.Helper()
	if cfg.Brokers == nil {
		cfg.Brokers = []string{f.addr(0)}
	}
	cfg.Dial = f.dial
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// batchValues returns the values of the records of the first batch of a produce request.
func batchValues(req *protocol.ProduceRequest) []string {
	b := req.Batches[0].Batch
	h, err := batch.Check(b)
	if err != nil {
		return nil
	}
	var values []string
	for it := batch.Iterate(b, h); it.Next(); {
		r := it.Record()
		values = append(values, string(r.Value))
	}
	return values
}
