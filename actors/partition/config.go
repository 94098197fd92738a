package partition

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/shoalmq/shoal/storage"
)

// Defaults of Config.
const (
	// DefaultMaxInFlightBytes bounds the bytes of batches a partition has accepted but not yet
	// answered.
	DefaultMaxInFlightBytes = 64 << 20
	// DefaultProducerScanRecords is how far back from the log end the producer table is rebuilt
	// at start, in records.
	DefaultProducerScanRecords = 1 << 16
	// DefaultProducerWindowBatches is how many recent batches are remembered per producer for
	// deduplication (a client with up to this many batches in flight can retry all of them).
	DefaultProducerWindowBatches = 16
	// DefaultMaxProducers bounds the producers remembered per partition; past it the producer
	// that appended least recently is forgotten.
	DefaultMaxProducers = 10_000
	// scanReadBytes is the read size used when rebuilding the producer table.
	scanReadBytes = 1 << 20
)

// Config configures one partition actor.
type Config struct {
	// Topic and Partition name the partition (logs, stats, errors).
	Topic     string
	Partition int32
	// Storage configures the log; Storage.Dir is required. Storage.OnDurable must be nil: the
	// partition follows durability itself.
	Storage storage.Config
	// MaxInFlightBytes bounds accepted-but-unanswered batch bytes (0: DefaultMaxInFlightBytes).
	MaxInFlightBytes int64
	// ProducerScanRecords is how many records from the log end are scanned at start to rebuild
	// the producer table (0: DefaultProducerScanRecords).
	ProducerScanRecords uint64
	// ProducerWindowBatches is how many recent batches per producer are kept for deduplication
	// (0: DefaultProducerWindowBatches).
	ProducerWindowBatches int
	// MaxProducers bounds the producer table (0: DefaultMaxProducers).
	MaxProducers int
	// Now is the clock for auto ids; nil means time.Now.
	Now func() time.Time
	// Logger receives the partition's reports; nil means slog.Default().
	Logger *slog.Logger
	// NodeID is this node; Voters the replica set before any config entry in the log (nil: this
	// node alone, a standalone partition); Peers sends replication messages (nil: nobody else
	// is reachable). HeartbeatTicks and ElectionTicks time the replication core (0: its
	// defaults); Tick drives it.
	NodeID string
	Voters []string
	// RecordBootstrap: write Voters into the log as its first config entry (the catalog).
	RecordBootstrap               bool
	Peers                         Peers
	HeartbeatTicks, ElectionTicks int
	// MoveThrottle, shared by the node's partitions, limits the log bytes this replica sends,
	// as leader, to learners (moves and RF restores) and counts them as moved; nil: no limit,
	// and nothing counted (the catalog, whose learners are permanent).
	MoveThrottle *MoveThrottle
	// Dispatcher runs the actor; nil means protoactor's default (a goroutine per mailbox run).
	// Tests may pass actor.NewSynchronizedDispatcher.
	Dispatcher actor.Dispatcher
}

func (c Config) withDefaults() Config {
	if c.MaxInFlightBytes == 0 {
		c.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	if c.ProducerScanRecords == 0 {
		c.ProducerScanRecords = DefaultProducerScanRecords
	}
	if c.ProducerWindowBatches == 0 {
		c.ProducerWindowBatches = DefaultProducerWindowBatches
	}
	if c.MaxProducers == 0 {
		c.MaxProducers = DefaultMaxProducers
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate returns one error per bad field, joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Topic == "" {
		bad("partition: Topic is empty")
	}
	if c.Partition < 0 {
		bad("partition: Partition %d is negative", c.Partition)
	}
	if c.Storage.OnDurable != nil {
		bad("partition: Storage.OnDurable is set: the partition follows durability itself, leave it nil")
	}
	if c.MaxInFlightBytes < 0 {
		bad("partition: MaxInFlightBytes %d is negative", c.MaxInFlightBytes)
	}
	if c.ProducerWindowBatches < 0 || c.MaxProducers < 0 {
		bad("partition: negative producer limits (window %d batches, %d producers)", c.ProducerWindowBatches, c.MaxProducers)
	}
	errs = append(errs, c.Storage.Validate())
	return errors.Join(errs...)
}

func (c Config) nodeID() string {
	if c.NodeID == "" {
		return "local"
	}
	return c.NodeID
}

// name is the partition's name in logs and errors, "topic/partition".
func (c Config) name() string { return fmt.Sprintf("%s/%d", c.Topic, c.Partition) }
