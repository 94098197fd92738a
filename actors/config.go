package actors

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/shoalmq/shoal/actors/node"
	"github.com/shoalmq/shoal/storage"
	"github.com/shoalmq/shoal/storage/vfs"
)

// Config configures a Broker. Start from DefaultConfig: the zero value turns auto-creation off.
type Config struct {
	// NodeID names this node in metadata (cmd/shoal keeps it in the data dir).
	NodeID string
	// DataDir holds the catalog and the partition logs.
	DataDir string
	// BrokerAddr is the address clients reach this node at, reported in metadata.
	BrokerAddr string

	// Fsync is the durability policy of every log; FsyncInterval its period under
	// storage.FsyncInterval (0: storage's default).
	Fsync         storage.Policy
	FsyncInterval time.Duration
	// SegmentBytes rolls segment files at this size (0: storage's default).
	SegmentBytes int64
	// RetentionMs and RetentionBytes are the defaults of new topics: per partition, by age and
	// by size (0: no bound).
	RetentionMs    int64
	RetentionBytes int64
	// MaxRecordBytes bounds one record (0: storage's default).
	MaxRecordBytes int
	// OnFsync, if set, is told how long each fsync took (a latency histogram); it must not block.
	OnFsync func(time.Duration)

	// AutoCreateTopics creates a topic on its first produce (default true).
	AutoCreateTopics bool
	// DefaultPartitions is the partition count of a topic created without one (0: 1).
	DefaultPartitions int32
	// MaxInFlightBytesPerPartition bounds the produce bytes a partition has accepted but not
	// answered; past it produces get protocol.ErrBusy (0: partition.DefaultMaxInFlightBytes).
	MaxInFlightBytesPerPartition int64
	// RetentionCheckInterval is how often retention runs (0: node.DefaultRetentionCheckInterval).
	RetentionCheckInterval time.Duration

	// Cluster makes the node a member of a cluster; nil runs it standalone.
	Cluster *ClusterConfig

	// Logger receives the broker's and protoactor's logs; nil means slog.Default().
	Logger *slog.Logger
	// FS is the file system; nil means the real one. Dispatcher runs the actors; nil means
	// protoactor's default. Now is the clock; nil means time.Now. (Seams for tests and the
	// simulation.)
	FS         vfs.FS
	Dispatcher actor.Dispatcher
	Now        func() time.Time
}

// DefaultConfig returns the defaults: auto-created topics with one partition, fsync always.
func DefaultConfig() Config {
	return Config{
		NodeID:            "node-1",
		Fsync:             storage.FsyncAlways,
		AutoCreateTopics:  true,
		DefaultPartitions: node.DefaultPartitions,
	}
}

// Validate returns one error per bad field, joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.NodeID == "" {
		bad("actors: NodeID is empty")
	}
	if c.RetentionMs < 0 || c.RetentionBytes < 0 {
		bad("actors: negative retention (%d ms, %d bytes)", c.RetentionMs, c.RetentionBytes)
	}
	errs = append(errs, c.Cluster.validate(c.NodeID))
	errs = append(errs, c.nodeConfig().Validate())
	return errors.Join(errs...)
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// nodeConfig is the node supervisor's part of the config.
func (c Config) nodeConfig() node.Config {
	return node.Config{
		NodeID:  c.NodeID,
		DataDir: c.DataDir,
		FS:      c.FS,
		Storage: storage.Config{
			Fsync:          c.Fsync,
			FsyncInterval:  c.FsyncInterval,
			SegmentBytes:   c.SegmentBytes,
			MaxRecordBytes: c.MaxRecordBytes,
			Retention: storage.Retention{
				MaxAge:   time.Duration(c.RetentionMs) * time.Millisecond,
				MaxBytes: c.RetentionBytes,
			},
			OnFsync: c.OnFsync,
		},
		AutoCreateTopics:             c.AutoCreateTopics,
		DefaultPartitions:            c.DefaultPartitions,
		MaxInFlightBytesPerPartition: c.MaxInFlightBytesPerPartition,
		RetentionCheckInterval:       c.RetentionCheckInterval,
		Now:                          c.Now,
		Logger:                       c.logger(),
		Dispatcher:                   c.Dispatcher,
	}
}
