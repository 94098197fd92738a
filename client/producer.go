package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
)

// Defaults of ProducerConfig.
const (
	DefaultLinger            = 5 * time.Millisecond
	DefaultBatchBytes        = 1 << 20
	DefaultMaxInFlight       = 16
	DefaultRetries           = 20
	DefaultRequestTimeout    = 30 * time.Second
	DefaultProduceBackoff    = 10 * time.Millisecond
	DefaultProduceBackoffMax = time.Second
)

// Limits of the producer.
const (
	// MaxBatchBytes bounds ProducerConfig.BatchBytes and any one record: a batch and its request
	// must fit in one frame (protocol.MaxFrameBytes) with room for the request's other fields.
	MaxBatchBytes = protocol.MaxFrameBytes - 64<<10
	// recordOverheadBytes over-estimates what a record adds to a batch besides its key, value
	// and header bytes (length and attribute bytes, varint deltas, field lengths).
	recordOverheadBytes = 64
	// builderSizeHint is the first buffer of a batch builder; it grows up to BatchBytes.
	builderSizeHint = 16 << 10
)

// ProducerConfig configures a Producer. Zero values take the defaults above.
type ProducerConfig struct {
	// Acks is when the broker answers: protocol.AcksQuorum (the zero value), AcksLeader or
	// AcksNone.
	Acks protocol.Acks
	// Linger is how long a partition's batch waits for more records before it is sent
	// (default 5ms). Negative: send as soon as the partition may have another batch in flight.
	Linger time.Duration
	// BatchBytes is the size at which a partition's batch is sent without waiting for Linger
	// (default 1 MiB, at most MaxBatchBytes). A larger record travels alone in its own batch.
	BatchBytes int
	// MaxInFlight bounds the batches per partition sealed and not yet answered (default 16).
	// When a partition has that many and a full batch, Send blocks: that is the producer's
	// backpressure, and bounds its memory to about (MaxInFlight+1) × BatchBytes per partition.
	// How many of them are in flight at once adapts, up to MaxInFlight: a partition starts
	// with one, widens as batches are acknowledged and narrows on retriable failures (see the
	// Producer's ordering notes).
	MaxInFlight int
	// Retries bounds how often one batch is sent again after a retriable error (default 20);
	// negative: never.
	Retries int
	// RetryBackoff and RetryBackoffMax bound the exponential, jittered wait before a retry
	// (defaults 10ms and 1s).
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration
	// RequestTimeout bounds one produce request, and is the time the broker may take to
	// replicate the batch (default 30s). A request that times out is retried.
	RequestTimeout time.Duration
	// DisableIdempotence sends batches without a producer id, so a retried batch that the
	// broker had already appended is appended twice, and batches of one partition in flight
	// together may be appended in either order (the broker has no sequence to keep them in).
	DisableIdempotence bool
}

func (cfg *ProducerConfig) validate() error {
	var errs []error
	switch cfg.Acks {
	case protocol.AcksQuorum, protocol.AcksLeader, protocol.AcksNone:
	default:
		errs = append(errs, fmt.Errorf("client: ProducerConfig.Acks: %v is not quorum, leader or none", cfg.Acks))
	}
	if cfg.BatchBytes < 0 || cfg.BatchBytes > MaxBatchBytes {
		errs = append(errs, fmt.Errorf("client: ProducerConfig.BatchBytes: %d is outside 0..%d", cfg.BatchBytes, MaxBatchBytes))
	}
	if cfg.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("client: ProducerConfig.MaxInFlight: %d is negative", cfg.MaxInFlight))
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"RetryBackoff", cfg.RetryBackoff}, {"RetryBackoffMax", cfg.RetryBackoffMax}, {"RequestTimeout", cfg.RequestTimeout}} {
		if d.value < 0 {
			errs = append(errs, fmt.Errorf("client: ProducerConfig.%s: %v is negative", d.name, d.value))
		}
	}
	return errors.Join(errs...)
}

func (cfg *ProducerConfig) setDefaults() {
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.BatchBytes == 0 {
		cfg.BatchBytes = DefaultBatchBytes
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = DefaultRetries
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = DefaultProduceBackoff
	}
	if cfg.RetryBackoffMax == 0 {
		cfg.RetryBackoffMax = DefaultProduceBackoffMax
	}
	cfg.RetryBackoffMax = max(cfg.RetryBackoffMax, cfg.RetryBackoff)
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
}

// Record is one record to produce.
type Record struct {
	Topic string
	// Key picks the partition (protocol.PartitionForKey) unless Partition is set; nil means no
	// key, and keyless records are spread over the partitions.
	Key   []byte
	Value []byte
	// Headers are field/value pairs carried with the record.
	Headers []batch.HeaderPair
	// Partition, when set, is the partition to write to, whatever the key.
	Partition *int32
	// Timestamp is the record's time; zero means the time of Send.
	Timestamp time.Time
}

// size is an upper bound of the bytes the record adds to a batch.
func (r *Record) size() int {
	n := len(r.Key) + len(r.Value) + recordOverheadBytes
	for _, h := range r.Headers {
		n += len(h.Field) + len(h.Value) + 2*binary.MaxVarintLen32
	}
	return n
}

// Producer sends records in batches, per partition, with many batches in flight. Each Send
// returns a Future at once (unless backpressure holds it); Flush and Close wait for delivery.
//
// It is idempotent unless configured otherwise: every batch carries the producer's random id
// and a sequence number per partition, and a batch is retried byte for byte, so the broker
// recognises a batch it already appended and answers with the original offsets instead of
// appending it again.
//
// Ordering: records of one partition are sent in Send order, and appended in that order. After
// a retriable error the partition stops sending, lets its requests in flight finish, and sends
// again from its oldest unacknowledged batch, one batch at a time until that one succeeds. The
// broker refuses a batch that overtook an earlier one of the same producer (the transport
// serves a connection's requests concurrently); such a refusal is retried like a retriable
// error and does not count against Retries. To keep that rare, each partition's pipelining
// depth is a window: one batch at first (the broker takes any sequence from a producer it does
// not know), one more per window's worth of acknowledgements, halved on each retriable
// failure.
//
// When a batch fails for good (a non-retriable error, or Retries used up), the batches after it
// could never follow it in sequence; the partition re-encodes them under a fresh producer id
// and carries on. One whose last attempt may have reached the log fails instead, its error
// saying the outcome is unknown.
//
// A Producer is safe for concurrent use.
type Producer struct {
	client     *Client
	cfg        ProducerConfig
	producerID int64

	// ctx ends the writers' requests; it is cancelled when Close gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the writers' loops

	mu      sync.Mutex
	writers map[topicPartition]*partitionWriter
	sticky  map[string]*stickyPartition
	closed  bool
}

type topicPartition struct {
	topic     string
	partition int32
}

// stickyPartition is where a topic's keyless records go: one partition until the batch they
// joined is sealed, then the next (round-robin by batch, as Kafka's default partitioner), so
// keyless records form full batches instead of one small batch per partition.
type stickyPartition struct {
	partition int32
	sealed    uint64 // the writer's seal count when this partition was picked
}

// NewProducer returns a Producer that sends through c.
func (c *Client) NewProducer(cfg ProducerConfig) (*Producer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	producerID := batch.NoProducer
	if !cfg.DisableIdempotence {
		producerID = newProducerID()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Producer{
		client:     c,
		cfg:        cfg,
		producerID: producerID,
		ctx:        ctx,
		cancel:     cancel,
		writers:    make(map[topicPartition]*partitionWriter),
		sticky:     make(map[string]*stickyPartition),
	}, nil
}

// newProducerID returns a random non-negative 63-bit id.
func newProducerID() int64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("client: crypto/rand failed: %v", err)) // it does not, since Go 1.24
	}
	return int64(binary.LittleEndian.Uint64(b[:]) >> 1)
}

// ProducerID returns the id the broker knows this producer by (batch.NoProducer when
// idempotence is disabled).
func (p *Producer) ProducerID() int64 { return p.producerID }

// Send adds rec to its partition's batch and returns its Future. It blocks only to learn the
// topic's partitions (once, then cached) and when the partition has MaxInFlight batches in
// flight and a full one waiting; ctx bounds that wait, and nothing else: once Send has returned,
// the record is delivered or fails on its own, and its Future says which. Send copies rec's
// bytes, so the caller may reuse them at once.
func (p *Producer) Send(ctx context.Context, rec Record) *Future {
	if rec.Topic == "" {
		return failedFuture(fmt.Errorf("%w: record without a topic", protocol.ErrInvalidArgument))
	}
	if size := rec.size(); size > MaxBatchBytes {
		return failedFuture(fmt.Errorf("%w: record of about %d bytes, above the limit of %d", protocol.ErrTooLarge, size, MaxBatchBytes))
	}
	now := time.Now()
	meta, err := p.topicMetadata(ctx, rec.Topic, now)
	if err != nil {
		return failedFuture(err)
	}
	w, err := p.route(meta, &rec)
	if err != nil {
		return failedFuture(err)
	}
	timestamp := now
	if !rec.Timestamp.IsZero() {
		timestamp = rec.Timestamp
	}
	return w.add(ctx, &rec, timestamp.UnixMilli())
}

// topicMetadata returns the metadata of topic. A topic the cluster does not know is created
// the way brokers create topics, by a produce: a produce request without batches makes a broker
// with auto-creation on (the default) create the topic with its default settings, and one with
// auto-creation off answer protocol.ErrUnknownTopic.
func (p *Producer) topicMetadata(ctx context.Context, topic string, now time.Time) (protocol.TopicMetadata, error) {
	meta, err := p.client.meta.topicAt(ctx, topic, now)
	if !errors.Is(err, protocol.ErrUnknownTopic) {
		return meta, err
	}
	var resp protocol.ProduceResponse
	req := protocol.ProduceRequest{Topic: topic, Acks: p.cfg.Acks}
	if err := p.client.callAnyRetry(ctx, protocol.TypeProduce, &req, &resp); err != nil {
		return meta, fmt.Errorf("produce to %q: %w", topic, err)
	}
	return p.client.meta.topic(ctx, topic)
}

// SendSync sends rec and waits for its result; ctx bounds both.
func (p *Producer) SendSync(ctx context.Context, rec Record) (Result, error) {
	f := p.Send(ctx, rec)
	p.flushFuture(f)
	return f.Wait(ctx)
}

// flushFuture asks f's batch to be sent without waiting for Linger.
func (p *Producer) flushFuture(f *Future) {
	if f.b != nil {
		f.b.writer.flushBatch(f.b)
	}
}

// route picks rec's partition and returns its writer; ErrClosed once Close has begun.
func (p *Producer) route(meta protocol.TopicMetadata, rec *Record) (*partitionWriter, error) {
	partitions := int32(len(meta.Partitions))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	var partition int32
	switch {
	case rec.Partition != nil:
		partition = *rec.Partition
		if partition < 0 || partition >= partitions {
			return nil, fmt.Errorf("%w: %s/%d (the topic has %d partitions)", protocol.ErrUnknownPartition, rec.Topic, partition, partitions)
		}
	case rec.Key != nil:
		partition = protocol.PartitionForKey(rec.Key, partitions)
	default:
		partition = p.stickyLocked(rec.Topic, partitions)
	}
	return p.writerLocked(rec.Topic, partition), nil
}

// stickyLocked returns the partition for a keyless record of topic (see stickyPartition).
func (p *Producer) stickyLocked(topic string, partitions int32) int32 {
	s, ok := p.sticky[topic]
	if !ok {
		// Start at a spread-out place so that many producers do not all begin at partition 0.
		s = &stickyPartition{partition: int32(p.producerID % int64(partitions))}
		s.sealed = p.writerLocked(topic, s.partition).sealCount.Load()
		p.sticky[topic] = s
		return s.partition
	}
	if s.partition < partitions && p.writerLocked(topic, s.partition).sealCount.Load() == s.sealed {
		return s.partition
	}
	s.partition = (s.partition + 1) % partitions
	s.sealed = p.writerLocked(topic, s.partition).sealCount.Load()
	return s.partition
}

// writerLocked returns the writer of a partition, starting it on first use.
func (p *Producer) writerLocked(topic string, partition int32) *partitionWriter {
	tp := topicPartition{topic, partition}
	w, ok := p.writers[tp]
	if !ok {
		w = newPartitionWriter(p, topic, partition)
		p.writers[tp] = w
		p.wg.Add(1) // route refuses records once Close has begun, so Close waits for this loop
		go w.run()
	}
	return w
}

// Flush sends every batch without waiting for Linger, and waits until every record sent before
// it has its result, or ctx ends. Records' errors are in their Futures.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	writers := make([]*partitionWriter, 0, len(p.writers))
	for _, w := range p.writers {
		writers = append(writers, w)
	}
	p.mu.Unlock()
	var pending []<-chan struct{}
	for _, w := range writers {
		pending = w.flush(pending)
	}
	for _, done := range pending {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close refuses further records, flushes, and stops the producer. When ctx ends before every
// record has its result, the rest fail with ErrClosed and Close returns ctx's error.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.Flush(ctx)
	p.cancel()
	p.wg.Wait()
	return err
}
