package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
)

// Defaults and limits of ConsumerConfig.
const (
	DefaultMaxWait  = 500 * time.Millisecond
	DefaultMaxBytes = 1 << 20
	// fetchResponseBudget bounds the bytes one fetch may ask for over all its partitions: the
	// answer must fit in a frame.
	fetchResponseBudget = protocol.MaxFrameBytes - 64<<10
	// fetchTimeoutSlack is how much longer than MaxWait the client waits for a fetch's answer.
	fetchTimeoutSlack = 30 * time.Second
)

// ConsumerConfig configures a Consumer. Zero values take the defaults above.
type ConsumerConfig struct {
	// Topic to read. Required.
	Topic string
	// Partitions to read; nil reads every partition of the topic (as metadata lists them at
	// the first Poll).
	Partitions []int32
	// From is where each partition starts: Earliest(), Latest(), AtOffset(n), AtID(id) or
	// AtTime(t). The zero value is offset 0.
	From protocol.Position
	// MaxWait is how long a Poll waits on the broker for data when there is none (long poll;
	// default 500ms). Negative: answer at once.
	MaxWait time.Duration
	// MaxBytes bounds the bytes one Poll reads per partition (default 1 MiB); at least one
	// batch is always returned, however large.
	MaxBytes int32
}

func (cfg *ConsumerConfig) validate() error {
	var errs []error
	if cfg.Topic == "" {
		errs = append(errs, errors.New("client: ConsumerConfig.Topic is empty: name the topic to read"))
	}
	for _, p := range cfg.Partitions {
		if p < 0 {
			errs = append(errs, fmt.Errorf("client: ConsumerConfig.Partitions: %d is negative", p))
		}
	}
	if cfg.From.Kind > protocol.PositionTime {
		errs = append(errs, fmt.Errorf("client: ConsumerConfig.From: unknown position kind %d", cfg.From.Kind))
	}
	if cfg.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("client: ConsumerConfig.MaxBytes: %d is negative", cfg.MaxBytes))
	}
	return errors.Join(errs...)
}

// Message is one record read from a partition. Key, Value and Headers alias a buffer that
// belongs to the Message (nothing else writes it): keep them as long as needed.
type Message struct {
	Topic     string
	Partition int32
	Offset    uint64
	ID        batch.ID
	Timestamp time.Time
	// Key is nil when the record has none.
	Key   []byte
	Value []byte
	// Headers is nil when the record has none.
	Headers []batch.HeaderPair
}

// Consumer reads the partitions of one topic. Poll returns the next records of every
// partition; Position and Seek let an application store where it is and resume there.
// A Consumer is used by one goroutine at a time.
type Consumer struct {
	client *Client
	cfg    ConsumerConfig

	// cursors are the partitions read, sorted by partition; nil until resolved.
	cursors []*cursor
	// seeks holds Seeks made before the partitions were resolved.
	seeks  map[int32]uint64
	closed bool
}

// cursor is where one partition is read from, and what its last fetch said of it.
type cursor struct {
	partition int32
	// from is where the next fetch starts: the configured position until a fetch resolves it
	// to an offset, then always an offset.
	from protocol.Position
	// fetched is set once a fetch has answered since the cursor was created or sought.
	fetched       bool
	highWatermark uint64
	logStart      uint64
}

// NewConsumer returns a Consumer of cfg.Topic; it talks to the brokers from its first Poll.
func (c *Client) NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.MaxWait == 0:
		cfg.MaxWait = DefaultMaxWait
	case cfg.MaxWait < 0:
		cfg.MaxWait = 0
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	cons := &Consumer{client: c, cfg: cfg, seeks: make(map[int32]uint64)}
	if cfg.Partitions != nil {
		cons.setCursors(slices.Clone(cfg.Partitions))
	}
	return cons, nil
}

// Earliest is the position of the first record still stored.
func Earliest() protocol.Position { return protocol.Position{Kind: protocol.PositionEarliest} }

// Latest is the position after the last record: only records produced from now on.
func Latest() protocol.Position { return protocol.Position{Kind: protocol.PositionLatest} }

// AtOffset is the position of the record at offset.
func AtOffset(offset uint64) protocol.Position {
	return protocol.Position{Kind: protocol.PositionOffset, Offset: offset}
}

// AtID is the position of the first record whose id is at or above id.
func AtID(id batch.ID) protocol.Position { return protocol.Position{Kind: protocol.PositionID, ID: id} }

// AtTime is the position of the first record whose timestamp is at or after t.
func AtTime(t time.Time) protocol.Position {
	return protocol.Position{Kind: protocol.PositionTime, TimeMs: t.UnixMilli()}
}

func (cons *Consumer) setCursors(partitions []int32) {
	slices.Sort(partitions)
	partitions = slices.Compact(partitions)
	cons.cursors = make([]*cursor, len(partitions))
	for i, p := range partitions {
		cons.cursors[i] = &cursor{partition: p, from: cons.cfg.From}
		if offset, ok := cons.seeks[p]; ok {
			cons.cursors[i].from = AtOffset(offset)
		}
	}
}

func (cons *Consumer) cursor(partition int32) *cursor {
	i, ok := slices.BinarySearchFunc(cons.cursors, partition, func(c *cursor, p int32) int {
		return int(c.partition) - int(p)
	})
	if !ok {
		return nil
	}
	return cons.cursors[i]
}

// Seek makes partition continue at offset from the next Poll. Before the first Poll of a
// consumer of all partitions it is remembered, and checked when the partitions are known.
func (cons *Consumer) Seek(partition int32, offset uint64) error {
	if cons.cursors == nil {
		cons.seeks[partition] = offset
		return nil
	}
	cur := cons.cursor(partition)
	if cur == nil {
		return fmt.Errorf("%w: this consumer does not read %s/%d", protocol.ErrUnknownPartition, cons.cfg.Topic, partition)
	}
	*cur = cursor{partition: partition, from: AtOffset(offset)}
	return nil
}

// Position returns the offset the next Poll reads partition from: the offset after the last
// record returned. Store it to resume with Seek (or ConsumerConfig.From = AtOffset). Before a
// fetch has resolved a non-offset From (earliest, latest, id, time), or for a partition the
// consumer does not read, it is 0.
func (cons *Consumer) Position(partition int32) uint64 {
	var from protocol.Position
	if cur := cons.cursor(partition); cur != nil {
		from = cur.from
	} else if offset, ok := cons.seeks[partition]; ok {
		return offset
	}
	if from.Kind != protocol.PositionOffset {
		return 0
	}
	return from.Offset
}

// Partitions returns the partitions the consumer reads, once known (after the first Poll of
// a consumer of all partitions).
func (cons *Consumer) Partitions() []int32 {
	ps := make([]int32, len(cons.cursors))
	for i, cur := range cons.cursors {
		ps[i] = cur.partition
	}
	return ps
}

// AtEnd reports whether the last fetch of every partition reached its high watermark: the
// consumer has returned every record committed when it last asked. It is false until every
// partition has been fetched once.
func (cons *Consumer) AtEnd() bool {
	if cons.cursors == nil {
		return false
	}
	for _, cur := range cons.cursors {
		if !cur.fetched || cur.from.Kind != protocol.PositionOffset || cur.from.Offset < cur.highWatermark {
			return false
		}
	}
	return true
}

// Close ends the consumer; Poll then fails with ErrClosed. The Client stays open.
func (cons *Consumer) Close() error {
	cons.closed = true
	return nil
}

// Poll returns the next records of the consumer's partitions, waiting up to MaxWait on the
// brokers when none has any. It returns an empty slice when the wait passes without data.
// Retriable failures (a leader moved, a broker restarted) are retried inside Poll with backoff;
// after several in a row, Poll returns the error (call it again to keep trying). An error of
// one partition that retrying cannot fix (protocol.ErrOutOfRange after a trim, say) is returned
// with the records of the others; Seek moves that partition elsewhere.
func (cons *Consumer) Poll(ctx context.Context) ([]Message, error) {
	if cons.closed {
		return nil, ErrClosed
	}
	if err := cons.resolvePartitions(ctx); err != nil {
		return nil, err
	}
	b := cons.client.newBackoff()
	for attempt := 1; ; attempt++ {
		msgs, retry, err := cons.pollOnce(ctx)
		if len(msgs) > 0 || err != nil || retry == nil {
			return msgs, errors.Join(err, nilIfRetry(retry, attempt < adminAttempts))
		}
		if attempt == adminAttempts {
			return nil, retry
		}
		cons.client.logger.Debug("retrying fetch", "topic", cons.cfg.Topic, "attempt", attempt, "err", retry)
		if err := sleepCtx(ctx, b.next()); err != nil {
			return nil, err
		}
	}
}

// nilIfRetry drops a retriable error that will be retried.
func nilIfRetry(err error, willRetry bool) error {
	if willRetry {
		return nil
	}
	return err
}

// resolvePartitions learns the topic's partitions for a consumer of all of them.
func (cons *Consumer) resolvePartitions(ctx context.Context) error {
	if cons.cursors != nil {
		return nil
	}
	meta, err := cons.client.meta.topic(ctx, cons.cfg.Topic)
	if err != nil {
		return err
	}
	partitions := make([]int32, len(meta.Partitions))
	for i, p := range meta.Partitions {
		partitions[i] = p.Partition
	}
	cons.setCursors(partitions)
	for p := range cons.seeks {
		if cons.cursor(p) == nil {
			return fmt.Errorf("%w: Seek of %s/%d: the topic has partitions %v", protocol.ErrUnknownPartition, cons.cfg.Topic, p, partitions)
		}
	}
	return nil
}

// fetchGroup is the partitions that one broker leads, fetched in one request.
type fetchGroup struct {
	addr    string
	cursors []*cursor
	resp    protocol.FetchResponse
	err     error
}

// pollOnce sends one fetch to each leader (concurrently when there are several; the others
// are cancelled once one returns records) and decodes the answers. retry is the joined
// retriable errors; err the others.
func (cons *Consumer) pollOnce(ctx context.Context) (msgs []Message, retry, err error) {
	groups, retry, err := cons.groupByLeader(ctx)
	if err != nil {
		return nil, nil, err
	}
	if len(groups) == 1 {
		cons.fetch(ctx, groups[0])
	} else if len(groups) > 1 {
		cons.fetchAll(ctx, groups)
	}
	var retries, errs []error
	if retry != nil {
		retries = append(retries, retry)
	}
	for _, g := range groups {
		msgs, retries, errs = cons.apply(g, msgs, retries, errs)
	}
	if ctx.Err() != nil {
		return msgs, nil, ctx.Err()
	}
	return msgs, errors.Join(retries...), errors.Join(errs...)
}

// groupByLeader groups the cursors by the address of their partition's leader. Partitions
// without a known leader are left out of this round (retry says why).
func (cons *Consumer) groupByLeader(ctx context.Context) (groups []*fetchGroup, retry, err error) {
	byAddr := make(map[string]*fetchGroup)
	var retries []error
	for _, cur := range cons.cursors {
		addr, err := cons.client.meta.leaderAddr(ctx, cons.cfg.Topic, cur.partition)
		if err != nil {
			if classify(err) == kindFatal {
				return nil, nil, err
			}
			retries = append(retries, err)
			continue
		}
		g, ok := byAddr[addr]
		if !ok {
			g = &fetchGroup{addr: addr}
			byAddr[addr] = g
			groups = append(groups, g)
		}
		g.cursors = append(g.cursors, cur)
	}
	return groups, errors.Join(retries...), nil
}

// fetchAll fetches every group at once and cancels the rest when one brings records.
func (cons *Consumer) fetchAll(ctx context.Context, groups []*fetchGroup) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Go(func() {
			cons.fetch(ctx, g)
			if g.err == nil && hasBatches(g.resp) {
				cancel()
			}
		})
	}
	wg.Wait()
}

func hasBatches(resp protocol.FetchResponse) bool {
	return slices.ContainsFunc(resp.Results, func(r protocol.FetchResult) bool { return len(r.Batches) > 0 })
}

// fetch sends g's fetch request and keeps the answer in g.
func (cons *Consumer) fetch(ctx context.Context, g *fetchGroup) {
	maxBytes := min(cons.cfg.MaxBytes, int32(fetchResponseBudget/len(g.cursors)))
	req := protocol.FetchRequest{
		Topic:      cons.cfg.Topic,
		MaxWaitMs:  int32(min(cons.cfg.MaxWait.Milliseconds(), math.MaxInt32)),
		Partitions: make([]protocol.FetchPartition, len(g.cursors)),
	}
	for i, cur := range g.cursors {
		req.Partitions[i] = protocol.FetchPartition{Partition: cur.partition, From: cur.from, MaxBytes: maxBytes}
	}
	ctx, cancel := context.WithTimeout(ctx, cons.cfg.MaxWait+fetchTimeoutSlack)
	defer cancel()
	caller, err := cons.client.callerFor(ctx, g.addr)
	if err == nil {
		err = caller.Call(ctx, protocol.TypeFetch, &req, &g.resp)
		if classify(err) == kindConnection {
			cons.client.dropConn(g.addr, caller)
		}
	}
	g.err = err
}

// apply decodes g's answer into msgs and moves its cursors; it sorts failures into retriable
// ones and the rest.
func (cons *Consumer) apply(g *fetchGroup, msgs []Message, retries, errs []error) ([]Message, []error, []error) {
	topic := cons.cfg.Topic
	if g.err != nil {
		if errors.Is(g.err, context.Canceled) {
			return msgs, retries, errs // another broker answered with records first
		}
		if classify(g.err) == kindFatal {
			return msgs, retries, append(errs, fmt.Errorf("fetch %s from %s: %w", topic, g.addr, g.err))
		}
		cons.client.meta.invalidate(topic)
		return msgs, append(retries, fmt.Errorf("fetch %s from %s: %w", topic, g.addr, g.err)), errs
	}
	for _, r := range g.resp.Results {
		cur := cons.cursor(r.Partition)
		if cur == nil || !slices.Contains(g.cursors, cur) {
			continue // not asked for: ignore
		}
		if err := r.Error.Err(); err != nil {
			err = fmt.Errorf("fetch %s/%d: %w", topic, r.Partition, err)
			if classify(err) == kindFatal {
				errs = append(errs, err)
			} else {
				cons.client.meta.invalidate(topic)
				retries = append(retries, err)
			}
			continue
		}
		var err error
		msgs, err = appendMessages(msgs, topic, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("fetch %s/%d: %w", topic, r.Partition, err))
			continue
		}
		cur.advance(r)
	}
	return msgs, retries, errs
}

// advance moves the cursor past a fetch's answer.
func (cur *cursor) advance(r protocol.FetchResult) {
	cur.fetched = true
	cur.highWatermark = r.HighWatermark
	cur.logStart = r.LogStart
	next := max(r.Next, r.From)
	if cur.from.Kind != protocol.PositionOffset || next > cur.from.Offset {
		cur.from = AtOffset(next)
	}
}

// appendMessages decodes the records of one partition's fetch result: data records at or after
// r.From that no tombstone in r.Deleted covers. Control batches are skipped.
func appendMessages(msgs []Message, topic string, r protocol.FetchResult) ([]Message, error) {
	deleted := r.Deleted
	if !slices.IsSorted(deleted) {
		deleted = slices.Sorted(slices.Values(deleted))
	}
	rest := r.Batches
	for len(rest) > 0 {
		b, next, h, err := batch.Split(rest)
		if err != nil {
			return msgs, fmt.Errorf("%w: %w", protocol.ErrCorruptBatch, err)
		}
		rest = next
		if h.IsControl() || h.NextOffset() <= r.From {
			continue
		}
		msgs = slices.Grow(msgs, int(h.RecordCount)) // one growth per batch, not per record
		it := batch.Iterate(b, h)
		for it.Next() {
			rec := it.Record()
			if rec.Offset < r.From {
				continue
			}
			if _, gone := slices.BinarySearch(deleted, rec.Offset); gone {
				continue
			}
			msgs = append(msgs, newMessage(topic, r.Partition, &rec))
		}
		if err := it.Err(); err != nil {
			return msgs, fmt.Errorf("%w: %w", protocol.ErrCorruptBatch, err)
		}
	}
	return msgs, nil
}

func newMessage(topic string, partition int32, rec *batch.Record) Message {
	m := Message{
		Topic:     topic,
		Partition: partition,
		Offset:    rec.Offset,
		ID:        rec.ID,
		Timestamp: time.UnixMilli(rec.Timestamp),
		Key:       rec.Key,
		Value:     rec.Value,
	}
	if rec.HeaderCount > 0 {
		m.Headers = make([]batch.HeaderPair, 0, rec.HeaderCount)
		for h := rec.Headers(); h.Next(); {
			m.Headers = append(m.Headers, batch.HeaderPair{Field: h.Field(), Value: h.Value()})
		}
	}
	return m
}
