package node

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/shoalmq/shoal/storage"
	"github.com/shoalmq/shoal/storage/vfs"
)

// Defaults of Config.
const (
	DefaultPartitions             = 1
	DefaultRetentionCheckInterval = 30 * time.Second
)

// Config configures a node supervisor.
type Config struct {
	// DataDir holds the catalog and the partition logs; it is created if missing.
	DataDir string
	// FS is the file system; nil means the real one (vfs.OS).
	FS vfs.FS
	// Storage is the template of every partition's log config: Fsync, FsyncInterval,
	// SegmentBytes, limits, Retention (the default of new topics), OnFsync. Dir, FS, Logger and
	// the per-topic retention are set by the node; OnDurable must be nil.
	Storage storage.Config
	// AutoCreateTopics creates a topic on its first produce (EnsureTopic).
	AutoCreateTopics bool
	// DefaultPartitions is the partition count of a topic created without one (0: 1).
	DefaultPartitions int32
	// MaxInFlightBytesPerPartition bounds each partition's accepted but unanswered produce
	// bytes (0: partition.DefaultMaxInFlightBytes).
	MaxInFlightBytesPerPartition int64
	// RetentionCheckInterval is how often retention is enforced (0: 30 s).
	RetentionCheckInterval time.Duration
	// Now is the clock (ids, retention); nil means time.Now.
	Now func() time.Time
	// NodeID names this node in its partitions' replica sets ("" means "local").
	NodeID string
	// Cluster makes the node a member of a cluster; nil runs it standalone.
	Cluster *ClusterConfig
	// Logger receives the node's reports; nil means slog.Default().
	Logger *slog.Logger
	// Dispatcher runs the supervisor and partition actors; nil means protoactor's default.
	Dispatcher actor.Dispatcher
}

func (c Config) withDefaults() Config {
	if c.FS == nil {
		c.FS = vfs.OS()
	}
	if c.DefaultPartitions == 0 {
		c.DefaultPartitions = DefaultPartitions
	}
	if c.RetentionCheckInterval == 0 {
		c.RetentionCheckInterval = DefaultRetentionCheckInterval
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
	if c.DataDir == "" {
		bad("node: DataDir is empty: give the node's data directory")
	}
	if c.DefaultPartitions < 0 || c.DefaultPartitions > MaxPartitionsPerTopic {
		bad("node: DefaultPartitions %d outside 1..%d", c.DefaultPartitions, MaxPartitionsPerTopic)
	}
	if c.MaxInFlightBytesPerPartition < 0 {
		bad("node: MaxInFlightBytesPerPartition %d is negative", c.MaxInFlightBytesPerPartition)
	}
	if c.RetentionCheckInterval < 0 {
		bad("node: RetentionCheckInterval %v is negative", c.RetentionCheckInterval)
	}
	if c.Storage.OnDurable != nil {
		bad("node: Storage.OnDurable is set: partitions follow durability themselves, leave it nil")
	}
	template := c.Storage
	template.Dir = "template" // checked per partition; everything else is checked here
	errs = append(errs, template.Validate())
	return errors.Join(errs...)
}
