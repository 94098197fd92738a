package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shoalmq/shoal/storage/vfs"
)

// Policy is the durability policy of a log.
type Policy int

const (
	// FsyncAlways reports an append durable only after an fsync covers it; concurrent appends
	// share one fsync (group commit). The default.
	FsyncAlways Policy = iota
	// FsyncInterval fsyncs every FsyncInterval; appends count as durable when written.
	FsyncInterval
	// FsyncNever leaves flushing to the OS (fsync only on roll and Close).
	FsyncNever
)

// String returns the policy's name as the flag --fsync spells it.
func (p Policy) String() string {
	switch p {
	case FsyncAlways:
		return "always"
	case FsyncInterval:
		return "interval"
	case FsyncNever:
		return "never"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// ParsePolicy parses "always", "interval" or "never".
func ParsePolicy(s string) (Policy, error) {
	for _, p := range []Policy{FsyncAlways, FsyncInterval, FsyncNever} {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown fsync policy %q: use always, interval or never", s)
}

// Default limits and sizes.
const (
	DefaultSegmentBytes       = 64 << 20
	DefaultIndexIntervalBytes = 32 << 10
	DefaultMaxRecordBytes     = 1 << 20
	DefaultMaxBatchBytes      = 16 << 20
	DefaultMaxKeyBytes        = 64 << 10
	DefaultFsyncInterval      = 100 * time.Millisecond
	// segmentBytesLimit keeps positions within the index's 32-bit field.
	segmentBytesLimit = 1 << 31
)

// Config configures a Log. The zero value of each field means its default.
type Config struct {
	// Dir is the partition directory; it is created if missing.
	Dir string
	// FS is the file system; nil means the real one (vfs.OS).
	FS vfs.FS
	// Fsync is the durability policy; FsyncInterval uses FsyncInterval as its period.
	Fsync         Policy
	FsyncInterval time.Duration
	// SegmentBytes rolls the active segment when an append would take it past this size (a
	// batch larger than that gets a segment of its own).
	SegmentBytes int64
	// SegmentAge rolls the active segment when its first batch is older than this (0: never).
	SegmentAge time.Duration
	// IndexIntervalBytes is the distance between sparse index entries.
	IndexIntervalBytes int
	// MaxRecordBytes, MaxBatchBytes and MaxKeyBytes bound what Append accepts.
	MaxRecordBytes int
	MaxBatchBytes  int
	MaxKeyBytes    int
	// Retention is applied by EnforceRetention.
	Retention Retention
	// Now is the clock, for segment age; nil means time.Now.
	Now func() time.Time
	// OnDurable, if set, is called each time the synced end advances (with the new end), in
	// order, from whichever goroutine fsynced (the syncer, Sync, Trim, EnforceRetention, Close),
	// with the log's lock held:
	// it must not block and must not call back into the Log (send a message instead).
	OnDurable func(syncedEnd uint64)
	// OnFsync, if set, is told how long each fsync of a segment file took (for a latency
	// histogram). It is called without the log's lock and must not block.
	OnFsync func(time.Duration)
	// Logger receives recovery reports and errors; nil means slog.Default().
	Logger *slog.Logger
}

// Retention bounds what the log keeps; zero fields mean no bound. EnforceRetention deletes whole
// segments only (never the data of the newest MaxRecords records, bytes or age window).
type Retention struct {
	MaxAge     time.Duration
	MaxBytes   int64
	MaxRecords uint64
}

func (c Config) withDefaults() Config {
	if c.FS == nil {
		c.FS = vfs.OS()
	}
	if c.FsyncInterval == 0 {
		c.FsyncInterval = DefaultFsyncInterval
	}
	c = c.withLimitDefaults()
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// withLimitDefaults fills the sizes and limits left at zero.
func (c Config) withLimitDefaults() Config {
	c.SegmentBytes = orDefault(c.SegmentBytes, DefaultSegmentBytes)
	c.IndexIntervalBytes = orDefault(c.IndexIntervalBytes, DefaultIndexIntervalBytes)
	c.MaxRecordBytes = orDefault(c.MaxRecordBytes, DefaultMaxRecordBytes)
	c.MaxBatchBytes = orDefault(c.MaxBatchBytes, DefaultMaxBatchBytes)
	c.MaxKeyBytes = orDefault(c.MaxKeyBytes, DefaultMaxKeyBytes)
	return c
}

func orDefault[T int | int64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Validate returns one error per bad field, joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Dir == "" {
		bad("storage: Dir is empty: give the partition directory")
	}
	if c.Fsync < FsyncAlways || c.Fsync > FsyncNever {
		bad("storage: unknown fsync policy %d", int(c.Fsync))
	}
	if c.FsyncInterval < 0 {
		bad("storage: FsyncInterval %v is negative", c.FsyncInterval)
	}
	if c.SegmentBytes < 0 || c.SegmentBytes > segmentBytesLimit {
		bad("storage: SegmentBytes %d outside 1..%d", c.SegmentBytes, segmentBytesLimit)
	}
	if c.IndexIntervalBytes < 0 {
		bad("storage: IndexIntervalBytes %d is negative", c.IndexIntervalBytes)
	}
	if c.MaxRecordBytes < 0 || c.MaxBatchBytes < 0 || c.MaxKeyBytes < 0 {
		bad("storage: negative limit (max record %d, batch %d, key %d bytes)", c.MaxRecordBytes, c.MaxBatchBytes, c.MaxKeyBytes)
	}
	return errors.Join(errs...)
}
