package main

// `shoal bench produce|consume`: a load generator that reports records/s, MB/s and latency
// percentiles, as text or as one JSON object (--json) for scripts such as bench/compare.sh.
//
// produce: --producers goroutines share one client.Producer and send asynchronously; a
// record's latency runs from the moment the application hands it to Send until its batch's
// acknowledgement is seen. The futures of one batch share one done channel, so the benchmark
// waits once per batch (one goroutine per run of futures with the same channel), not once per
// record, and every record of the batch gets the same acknowledgement time.
//
// consume: one client.Consumer reads the topic's partitions from earliest until --records
// records have arrived; the latency is that of each Poll (one fetch round trip per leader).
//
// MB is 10^6 bytes of record keys and values, not counting batch or frame overhead.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoalmq/shoal/client"
	"github.com/shoalmq/shoal/protocol"
)

// Defaults of `shoal bench`. They are the settings the figures of the closing note use: enough
// producers and partitions to keep many batches in flight, with the client's own batching.
const (
	benchDefaultTopic       = "bench"
	benchDefaultRecords     = 1_000_000
	benchDefaultRecordBytes = 100
	benchDefaultProducers   = 8
	benchDefaultPartitions  = 4
	// benchMaxRecordBytes keeps a record, with its overhead, inside one batch of the client.
	benchMaxRecordBytes = client.MaxBatchBytes - 1<<10
	// benchMaxProducers bounds --producers: goroutines, not connections, so a bound that only
	// catches typos.
	benchMaxProducers = 4096
	bytesPerMB        = 1e6
)

// Usage lines of `shoal bench` and of its two modes.
const (
	usageBench        = "bench produce|consume [flags]"
	usageBenchProduce = "bench produce [--brokers ADDR[,ADDR...]] [--topic T] [--records N] [--record-bytes N] " +
		"[--acks quorum|leader|none] [--producers N] [--partitions N] [--linger D] [--batch-bytes N] [--max-in-flight N] [--json]"
	usageBenchConsume = "bench consume [--brokers ADDR[,ADDR...]] [--topic T] [--records N] [--max-bytes N] [--max-wait D] [--json]"
)

// runBench is `shoal bench`.
func runBench(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return benchMain(ctx, args, stdout, stderr)
}

// benchMain is runBench with its context passed in (for tests).
func benchMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "shoal bench: missing mode: produce or consume")
		fmt.Fprintf(stderr, "usage: shoal %s\n`shoal bench produce -h` and `shoal bench consume -h` show the flags\n", usageBench)
		return exitUsage
	}
	switch args[0] {
	case "produce", "consume":
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(stdout, "usage: shoal %s\n`shoal bench produce -h` and `shoal bench consume -h` show the flags\n", usageBench)
		return exitOK
	default:
		fmt.Fprintf(stderr, "shoal bench: unknown mode %q: use produce or consume\n", args[0])
		return exitUsage
	}
	cfg, code, ok := parseBenchFlags(args[0], args[1:], stderr)
	if !ok {
		return code
	}
	var summary benchSummary
	code = withClient(ctx, "bench "+cfg.mode, cfg.brokers, stderr, func(c *client.Client) error {
		var err error
		if cfg.mode == "produce" {
			summary, err = benchProduce(ctx, c, cfg, stderr)
		} else {
			summary, err = benchConsume(ctx, c, cfg, stderr)
		}
		return err
	})
	if code != exitOK {
		return code
	}
	if err := summary.print(stdout, cfg.json); err != nil {
		fmt.Fprintf(stderr, "shoal bench %s: writing the summary: %v\n", cfg.mode, err)
		return exitFail
	}
	return exitOK
}

// benchConfig is a validated `shoal bench` command line.
type benchConfig struct {
	mode     string // produce or consume
	brokers  string
	topic    string
	records  int64
	json     bool
	progress bool

	// produce only
	recordBytes     int
	producers       int
	partitions      int32
	partitionsGiven bool // --partitions was on the command line: an existing topic must match
	producer        client.ProducerConfig

	// consume only
	maxBytes int32
	maxWait  time.Duration
}

// benchFlags are the raw flag values, before validation.
type benchFlags struct {
	brokers, topic, acks               *string
	records                            *int64
	recordBytes, producers, partitions *int
	batchBytes, maxInFlight, maxBytes  *int
	linger, maxWait                    *time.Duration
	json, progress                     *bool
}

// parseBenchFlags parses the flags of one mode; ok is false when the command must stop with
// code (after -h, or a usage error that has been printed).
func parseBenchFlags(mode string, args []string, stderr io.Writer) (cfg benchConfig, code int, ok bool) {
	usage := usageBenchProduce
	if mode == "consume" {
		usage = usageBenchConsume
	}
	fs := newFlagSet("bench "+mode, usage, stderr)
	f := defineBenchFlags(fs, mode)
	if code, ok := parseFlags(fs, args); !ok {
		return cfg, code, false
	}
	cfg, msgs := f.validate(mode)
	cfg.partitionsGiven = flagGiven(fs, "partitions")
	if code, ok := usageErrors(fs, msgs); !ok {
		return cfg, code, false
	}
	return cfg, exitOK, true
}

func defineBenchFlags(fs *flag.FlagSet, mode string) *benchFlags {
	f := &benchFlags{
		brokers:  brokersFlag(fs),
		topic:    fs.String("topic", benchDefaultTopic, "topic to write (created with --partitions when missing) or to read"),
		records:  fs.Int64("records", benchDefaultRecords, "number of records to write or read"),
		json:     fs.Bool("json", false, "print the summary as one JSON object on stdout"),
		progress: fs.Bool("progress", true, "draw a progress bar on stderr"),
	}
	if mode == "produce" {
		f.recordBytes = fs.Int("record-bytes", benchDefaultRecordBytes, "value bytes of each record")
		f.acks = fs.String("acks", protocol.AcksQuorum.String(), "when a record counts as written: quorum, leader or none")
		f.producers = fs.Int("producers", benchDefaultProducers, "goroutines sending through one shared producer")
		f.partitions = fs.Int("partitions", benchDefaultPartitions, "partitions of the topic when the benchmark creates it")
		f.linger = fs.Duration("linger", client.DefaultLinger, "how long a partition's batch waits for more records")
		f.batchBytes = fs.Int("batch-bytes", client.DefaultBatchBytes, "batch size at which a batch is sent without waiting for --linger")
		f.maxInFlight = fs.Int("max-in-flight", client.DefaultMaxInFlight, "batches in flight per partition")
	} else {
		f.maxBytes = fs.Int("max-bytes", client.DefaultMaxBytes, "bytes one poll reads per partition")
		f.maxWait = fs.Duration("max-wait", client.DefaultMaxWait, "how long a poll waits on the broker when there is no data")
	}
	return f
}

// validate turns the flags into a config, with one message per bad value.
func (f *benchFlags) validate(mode string) (benchConfig, []string) {
	cfg := benchConfig{mode: mode, brokers: *f.brokers, topic: *f.topic, records: *f.records,
		json: *f.json, progress: *f.progress}
	var msgs []string
	bad := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }
	if cfg.topic == "" {
		bad("--topic is empty: name the topic to write or read")
	}
	if cfg.records < 1 {
		bad("--records %d: give the number of records, 1 or more", cfg.records)
	}
	if mode == "produce" {
		msgs = append(msgs, f.validateProduce(&cfg)...)
	} else {
		msgs = append(msgs, f.validateConsume(&cfg)...)
	}
	return cfg, msgs
}

func (f *benchFlags) validateProduce(cfg *benchConfig) []string {
	var msgs []string
	bad := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }
	if *f.recordBytes < 0 || *f.recordBytes > benchMaxRecordBytes {
		bad("--record-bytes %d: give a size from 0 to %d", *f.recordBytes, benchMaxRecordBytes)
	}
	acks, err := protocol.ParseAcks(*f.acks)
	if err != nil {
		bad("--acks %q: use quorum, leader or none", *f.acks)
	}
	if *f.producers < 1 || *f.producers > benchMaxProducers {
		bad("--producers %d: give a number of goroutines from 1 to %d", *f.producers, benchMaxProducers)
	}
	if *f.partitions < 1 || *f.partitions > math.MaxInt32 {
		bad("--partitions %d: give 1 or more", *f.partitions)
	}
	if *f.linger < 0 {
		bad("--linger %v: give 0 or more (0 sends a batch as soon as the partition may have another in flight)", *f.linger)
	}
	if *f.batchBytes < 1 || *f.batchBytes > client.MaxBatchBytes {
		bad("--batch-bytes %d: give a size from 1 to %d", *f.batchBytes, client.MaxBatchBytes)
	}
	if *f.maxInFlight < 1 {
		bad("--max-in-flight %d: give 1 or more", *f.maxInFlight)
	}
	cfg.recordBytes, cfg.producers = *f.recordBytes, *f.producers
	cfg.partitions = int32(min(max(*f.partitions, 0), math.MaxInt32))
	linger := *f.linger
	if linger == 0 {
		linger = -1 // the client's "no linger"; its zero means the default
	}
	cfg.producer = client.ProducerConfig{Acks: acks, Linger: linger, BatchBytes: *f.batchBytes, MaxInFlight: *f.maxInFlight}
	return msgs
}

func (f *benchFlags) validateConsume(cfg *benchConfig) []string {
	var msgs []string
	if *f.maxBytes < 1 || *f.maxBytes > client.MaxBatchBytes {
		msgs = append(msgs, fmt.Sprintf("--max-bytes %d: give a size from 1 to %d", *f.maxBytes, client.MaxBatchBytes))
	}
	if *f.maxWait < 0 {
		msgs = append(msgs, fmt.Sprintf("--max-wait %v: give 0 or more", *f.maxWait))
	}
	cfg.maxBytes = int32(min(max(*f.maxBytes, 0), math.MaxInt32))
	cfg.maxWait = *f.maxWait
	if cfg.maxWait == 0 {
		cfg.maxWait = -1 // the client's "answer at once"; its zero means the default
	}
	return msgs
}

// benchProduce writes cfg.records records and measures them.
func benchProduce(ctx context.Context, c *client.Client, cfg benchConfig, stderr io.Writer) (benchSummary, error) {
	partitions, err := benchTopic(ctx, c, cfg)
	if err != nil {
		return benchSummary{}, err
	}
	p, err := c.NewProducer(cfg.producer)
	if err != nil {
		return benchSummary{}, err
	}
	b := &produceBench{cfg: cfg, start: time.Now()}
	bar := startProgress(cfg.progress, stderr, "produce", cfg.records, &b.completed)
	var senders sync.WaitGroup
	for i := range cfg.producers {
		n := cfg.records / int64(cfg.producers)
		if int64(i) < cfg.records%int64(cfg.producers) {
			n++
		}
		senders.Go(func() { b.send(ctx, p, n) })
	}
	senders.Wait()
	flushErr := p.Flush(ctx) // do not wait out the last batches' linger
	b.waiters.Wait()
	bar.stop()
	closeErr := p.Close(ctx)
	if failed := b.failed.Load(); failed > 0 {
		return benchSummary{}, fmt.Errorf("%d of %d records were not acknowledged; the first failed with: %w", failed, cfg.records, b.firstErr())
	}
	if err := errors.Join(flushErr, closeErr, ctx.Err()); err != nil {
		return benchSummary{}, err
	}
	s := summarize(cfg.records, cfg.records*int64(cfg.recordBytes), time.Duration(b.lastAck.Load()), &b.latency)
	s.Mode, s.Topic, s.RecordBytes, s.Partitions = "produce", cfg.topic, cfg.recordBytes, partitions
	s.Producers, s.Acks, s.Latency = cfg.producers, cfg.producer.Acks.String(), "send_to_ack"
	return s, nil
}

// benchTopic makes sure the topic exists and returns its number of partitions: it creates a
// missing topic with cfg.partitions, and refuses an existing one whose count differs from a
// --partitions given on the command line.
func benchTopic(ctx context.Context, c *client.Client, cfg benchConfig) (int, error) {
	meta, err := c.DescribeTopic(ctx, cfg.topic)
	if errors.Is(err, protocol.ErrUnknownTopic) {
		err = c.CreateTopic(ctx, cfg.topic, protocol.TopicConfig{Partitions: cfg.partitions})
		if err == nil || errors.Is(err, protocol.ErrTopicExists) {
			meta, err = c.DescribeTopic(ctx, cfg.topic)
		}
	}
	if err != nil {
		return 0, err
	}
	if n := len(meta.Partitions); cfg.partitionsGiven && n != int(cfg.partitions) {
		return 0, fmt.Errorf("topic %q exists with %d partitions, not %d: delete it (shoal topic delete %s) or choose another --topic",
			cfg.topic, n, cfg.partitions, cfg.topic)
	}
	return len(meta.Partitions), nil
}

// produceBench is one run of `shoal bench produce`.
type produceBench struct {
	cfg   benchConfig
	start time.Time

	waiters sync.WaitGroup // one per run of futures in flight
	latency syncHistogram
	// completed counts the records whose futures completed, acknowledged or not.
	completed atomic.Int64
	failed    atomic.Int64
	// lastAck is the latest completion, in nanoseconds since start.
	lastAck atomic.Int64

	errMu sync.Mutex
	err   error // the first failure
}

// futureRun is consecutive records of one sender whose futures complete together: they share
// one done channel (one batch). sentAt is each record's Send time, in nanoseconds since start.
type futureRun struct {
	done   <-chan struct{}
	first  *client.Future
	sentAt []int64
}

// clockEverySends is how many sends share one reading of the clock. NB(bench): on this kind
// of VM (kvm-clock) time.Now costs about 120ns, 15% of the whole benchmark's CPU when read
// once per record. A Send takes a few hundred ns, so a reading every 16 sends (and after a
// Send that opened a batch, which may have waited for room) is off by a few µs at most,
// against latencies of milliseconds.
const clockEverySends = 16

// send sends n records and hands each run of futures to a waiter.
func (b *produceBench) send(ctx context.Context, p *client.Producer, n int64) {
	value := benchValue(b.cfg.recordBytes)
	var run futureRun
	var now time.Time
	for i := range n {
		if i%clockEverySends == 0 {
			now = time.Now()
		}
		sentAt := int64(now.Sub(b.start))
		f := p.Send(ctx, client.Record{Topic: b.cfg.topic, Value: value, Timestamp: now})
		if done := f.Done(); done != run.done {
			b.wait(run)
			run = futureRun{done: done, first: f, sentAt: make([]int64, 0, 1024)}
			now = time.Now() // Send may have waited for room: the next records start from here
		}
		run.sentAt = append(run.sentAt, sentAt)
	}
	b.wait(run)
}

// wait completes run's records once its futures are done, on a goroutine of its own.
func (b *produceBench) wait(run futureRun) {
	if len(run.sentAt) == 0 {
		return
	}
	b.waiters.Go(func() {
		<-run.done
		ackedAt := int64(time.Since(b.start))
		if _, err := run.first.Result(); err != nil {
			b.fail(len(run.sentAt), err)
		} else {
			b.latency.recordSince(run.sentAt, ackedAt)
		}
		for last := b.lastAck.Load(); ackedAt > last && !b.lastAck.CompareAndSwap(last, ackedAt); {
			last = b.lastAck.Load()
		}
		b.completed.Add(int64(len(run.sentAt)))
	})
}

func (b *produceBench) fail(records int, err error) {
	b.failed.Add(int64(records))
	b.errMu.Lock()
	defer b.errMu.Unlock()
	if b.err == nil {
		b.err = err
	}
}

func (b *produceBench) firstErr() error {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	return b.err
}

// benchValue is a record value of n bytes.
func benchValue(n int) []byte {
	const pattern = "shoal-bench-0123456789abcdefghijklmnopqrstuvwxyz-"
	return []byte(strings.Repeat(pattern, n/len(pattern)+1)[:n])
}

// benchConsume reads cfg.records records of the topic from earliest and measures them.
func benchConsume(ctx context.Context, c *client.Client, cfg benchConfig, stderr io.Writer) (benchSummary, error) {
	partitions, err := benchFilledTopic(ctx, c, cfg)
	if err != nil {
		return benchSummary{}, err
	}
	cons, err := c.NewConsumer(client.ConsumerConfig{Topic: cfg.topic, From: client.Earliest(), MaxBytes: cfg.maxBytes, MaxWait: cfg.maxWait})
	if err != nil {
		return benchSummary{}, err
	}
	defer cons.Close()
	var read atomic.Int64
	var polls syncHistogram
	var bytes int64
	bar := startProgress(cfg.progress, stderr, "consume", cfg.records, &read)
	defer bar.stop()
	start := time.Now()
	for read.Load() < cfg.records {
		pollStart := time.Now()
		msgs, err := cons.Poll(ctx)
		polls.record(time.Since(pollStart))
		if err != nil {
			return benchSummary{}, fmt.Errorf("after %d records: %w", read.Load(), err)
		}
		msgs = msgs[:min(int64(len(msgs)), cfg.records-read.Load())]
		for i := range msgs {
			bytes += int64(len(msgs[i].Key) + len(msgs[i].Value))
		}
		read.Add(int64(len(msgs)))
		if len(msgs) == 0 && cons.AtEnd() {
			return benchSummary{}, fmt.Errorf("topic %q ran out after %d of %d records (trimmed meanwhile?)", cfg.topic, read.Load(), cfg.records)
		}
	}
	s := summarize(cfg.records, bytes, time.Since(start), &polls)
	s.Mode, s.Topic, s.Partitions, s.Latency = "consume", cfg.topic, partitions, "poll"
	s.RecordBytes = int(bytes / cfg.records)
	s.Polls = int64(polls.h.count)
	return s, nil
}

// benchFilledTopic checks that the topic holds at least cfg.records records, and returns its
// number of partitions.
func benchFilledTopic(ctx context.Context, c *client.Client, cfg benchConfig) (int, error) {
	meta, err := c.DescribeTopic(ctx, cfg.topic)
	if errors.Is(err, protocol.ErrUnknownTopic) {
		return 0, fmt.Errorf("topic %q does not exist: fill it first with shoal bench produce --topic %s --records %d",
			cfg.topic, cfg.topic, cfg.records)
	}
	if err != nil {
		return 0, err
	}
	var stored uint64
	for _, p := range meta.Partitions {
		stored += p.LogEnd - p.LogStart
	}
	if stored < uint64(cfg.records) {
		return 0, fmt.Errorf("topic %q holds %d records, fewer than --records %d: fill it with shoal bench produce --topic %s --records %d",
			cfg.topic, stored, cfg.records, cfg.topic, cfg.records-int64(stored))
	}
	return len(meta.Partitions), nil
}

// benchSummary is the outcome of a benchmark, as --json prints it.
type benchSummary struct {
	Mode        string `json:"mode"`
	Topic       string `json:"topic"`
	Records     int64  `json:"records"`
	RecordBytes int    `json:"record_bytes"` // the mean for consume
	Partitions  int    `json:"partitions"`
	Producers   int    `json:"producers,omitempty"`
	Acks        string `json:"acks,omitempty"`
	Polls       int64  `json:"polls,omitempty"`
	// Latency names what the percentiles measure: send_to_ack per record, or poll.
	Latency       string  `json:"latency"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	P50Ms         float64 `json:"p50_ms"`
	P99Ms         float64 `json:"p99_ms"`
	P999Ms        float64 `json:"p999_ms"`
	MaxMs         float64 `json:"max_ms"`
}

// summarize computes the rates and percentiles of records (of bytes in all) over elapsed.
func summarize(records, bytes int64, elapsed time.Duration, latency *syncHistogram) benchSummary {
	s := benchSummary{Records: records, Seconds: elapsed.Seconds()}
	if elapsed > 0 {
		s.RecordsPerSec = float64(records) / elapsed.Seconds()
		s.MBPerSec = float64(bytes) / bytesPerMB / elapsed.Seconds()
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	s.P50Ms, s.P99Ms = ms(latency.h.quantile(0.50)), ms(latency.h.quantile(0.99))
	s.P999Ms, s.MaxMs = ms(latency.h.quantile(0.999)), ms(latency.h.max)
	return s
}

func (s benchSummary) print(w io.Writer, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(s)
	}
	what := fmt.Sprintf("%d records of %d bytes", s.Records, s.RecordBytes)
	if s.Mode == "produce" {
		what += fmt.Sprintf(" to %s (%d partitions, %d producers, acks %s)", s.Topic, s.Partitions, s.Producers, s.Acks)
	} else {
		what += fmt.Sprintf(" from %s (%d partitions, %d polls)", s.Topic, s.Partitions, s.Polls)
	}
	latency := "send→ack latency"
	if s.Latency == "poll" {
		latency = "poll latency"
	}
	_, err := fmt.Fprintf(w, "bench %s: %s in %.2fs\n  %12.0f records/s  %8.1f MB/s\n  %s ms: p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
		s.Mode, what, s.Seconds, s.RecordsPerSec, s.MBPerSec, latency, s.P50Ms, s.P99Ms, s.P999Ms, s.MaxMs)
	return err
}

// Latency histogram: log-linear buckets over nanoseconds, exact below histSubBuckets and
// within 1/histSubBuckets (0.8%) above, in about 7,400 buckets (60 KiB) for any duration. The
// producer side records a million latencies per second, so a sorted slice of every sample
// would cost memory in proportion to --records; this does not.
const (
	histSubBucketBits = 7
	histSubBuckets    = 1 << histSubBucketBits
	histBuckets       = (64 - histSubBucketBits + 1) * histSubBuckets
)

// latencyHistogram counts durations. The zero value is empty and ready to use.
type latencyHistogram struct {
	counts []uint64 // allocated on first record
	count  uint64
	max    time.Duration
}

// histBucket returns the bucket of v nanoseconds: v itself below histSubBuckets, then
// histSubBuckets buckets per power of two.
func histBucket(v uint64) int {
	if v < histSubBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBucketBits - 1 // v>>shift is in [histSubBuckets, 2*histSubBuckets)
	return (shift+1)*histSubBuckets + int(v>>shift) - histSubBuckets
}

// histBucketHigh is the largest value in bucket i.
func histBucketHigh(i int) uint64 {
	if i < histSubBuckets {
		return uint64(i)
	}
	shift := i/histSubBuckets - 1
	sub := uint64(i%histSubBuckets + histSubBuckets)
	return (sub+1)<<shift - 1
}

func (h *latencyHistogram) record(d time.Duration) {
	if h.counts == nil {
		h.counts = make([]uint64, histBuckets)
	}
	d = max(d, 0)
	h.counts[histBucket(uint64(d))]++
	h.count++
	h.max = max(h.max, d)
}

// quantile returns the smallest recorded duration (to the bucket's precision) at or below
// which a fraction q of the samples lie; 0 when empty. It never exceeds the maximum.
func (h *latencyHistogram) quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.count)))
	rank = min(max(rank, 1), h.count)
	var seen uint64
	for i, n := range h.counts {
		seen += n
		if seen >= rank {
			return min(time.Duration(histBucketHigh(i)), h.max)
		}
	}
	return h.max
}

// syncHistogram is a latencyHistogram for many goroutines.
type syncHistogram struct {
	mu sync.Mutex
	h  latencyHistogram
}

func (s *syncHistogram) record(d time.Duration) {
	s.mu.Lock()
	s.h.record(d)
	s.mu.Unlock()
}

// recordSince records, for each start in nanoseconds, the duration until end.
func (s *syncHistogram) recordSince(starts []int64, end int64) {
	s.mu.Lock()
	for _, start := range starts {
		s.h.record(time.Duration(end - start))
	}
	s.mu.Unlock()
}

// progressBar redraws one line on w while a benchmark runs: a bar, the count and the rate.
// A nil *progressBar (progress disabled) does nothing.
type progressBar struct {
	w     io.Writer
	label string
	total int64
	done  *atomic.Int64
	start time.Time
	quit  chan struct{}
	ended chan struct{}
}

const (
	progressInterval = 200 * time.Millisecond
	progressWidth    = 30
)

func startProgress(enabled bool, w io.Writer, label string, total int64, done *atomic.Int64) *progressBar {
	if !enabled {
		return nil
	}
	b := &progressBar{w: w, label: label, total: total, done: done, start: time.Now(),
		quit: make(chan struct{}), ended: make(chan struct{})}
	go b.loop()
	return b
}

func (b *progressBar) loop() {
	defer close(b.ended)
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			b.draw()
		case <-b.quit:
			b.draw()
			fmt.Fprintln(b.w)
			return
		}
	}
}

// stop draws the final state and ends the line. It may be called more than once.
func (b *progressBar) stop() {
	if b == nil {
		return
	}
	select {
	case <-b.quit:
	default:
		close(b.quit)
	}
	<-b.ended
}

func (b *progressBar) draw() {
	done := min(b.done.Load(), b.total)
	filled := int(done * progressWidth / b.total)
	rate := float64(done) / max(time.Since(b.start).Seconds(), 1e-9)
	fmt.Fprintf(b.w, "\r%s [%s%s] %3d%% %d/%d  %.0f records/s ", b.label,
		strings.Repeat("=", filled), strings.Repeat(" ", progressWidth-filled), done*100/b.total, done, b.total, rate)
}
