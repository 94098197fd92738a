package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage"
)

// Demo limits and fixed values.
const (
	demoPartition  = "demo-0"
	demoEpoch      = 1 // the demo is the only leader its partition ever has
	demoMaxRecords = 1000
	// demoDurableTimeout bounds the wait for an fsync; a healthy disk takes milliseconds.
	demoDurableTimeout = 30 * time.Second
	// demoReadBytes is tiny on purpose: Read returns at least one whole batch, so each Read
	// returns exactly one and the demo follows ReadResult.Next from batch to batch.
	demoReadBytes = 1
)

// runDemo is the `shoal demo` subcommand: it opens a partition log on disk, appends a batch of
// records with auto ids, shows an explicit id being refused as Redis refuses it, reads the whole
// log back and closes it cleanly. Run it again and the log continues where it stopped.
func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "demo [--data-dir DIR] [--fsync always|interval|never] [--records N]", stderr)
	dataDir := fs.String("data-dir", "data/demo", "directory of the demo's data; the log goes in DIR/partitions/"+demoPartition)
	fsync := fs.String("fsync", storage.FsyncAlways.String(), "durability policy: always, interval or never")
	records := fs.Int("records", 5, "records to append in one batch (1.."+strconv.Itoa(demoMaxRecords)+")")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	policy, err := storage.ParsePolicy(*fsync)
	if err != nil {
		fmt.Fprintf(stderr, "shoal demo: --fsync: %v\n", err)
		return exitUsage
	}
	if *records < 1 || *records > demoMaxRecords {
		fmt.Fprintf(stderr, "shoal demo: --records %d: give a number from 1 to %d\n", *records, demoMaxRecords)
		return exitUsage
	}
	d := demo{
		out:     stdout,
		dataDir: *dataDir,
		dir:     filepath.Join(*dataDir, "partitions", demoPartition),
		policy:  policy,
		logger:  slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if err := d.run(*records); err != nil {
		fmt.Fprintf(stderr, "shoal demo: %v\n", err)
		return exitFail
	}
	return exitOK
}

// demo holds what the steps of one run share.
type demo struct {
	out     io.Writer
	dataDir string
	dir     string
	policy  storage.Policy
	logger  *slog.Logger
}

func (d *demo) printf(format string, args ...any) { fmt.Fprintf(d.out, format, args...) }

// moveAside is the advice for a data directory the demo cannot use.
func (d *demo) moveAside() string {
	return fmt.Sprintf("move %s aside (mv %s %s.bad) or delete it (rm -rf %s) and run again", d.dataDir, d.dataDir, d.dataDir, d.dataDir)
}

func (d *demo) run(n int) error {
	d.printf("partition log %s (fsync %s)\n", d.dir, d.policy)
	l, rec, err := storage.Open(storage.Config{Dir: d.dir, Fsync: d.policy, Logger: d.logger})
	if err != nil {
		return fmt.Errorf("open the log: %w\n  the data directory is unreadable, unwritable or corrupt: %s", err, d.moveAside())
	}
	d.printRecovery(rec)
	if err := d.use(l, n); err != nil {
		_ = l.Close() // the first error is the one to report
		return err
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("close the log: %w\n  the last records may not be on disk; check that the disk is not full, then run again", err)
	}
	d.printf("closed cleanly; run again and the offsets continue\n")
	return nil
}

// printRecovery prints what Open found, and the recovery report when it had to repair something
// or the last run did not close the log.
func (d *demo) printRecovery(rec storage.Recovery) {
	if rec.Unclean {
		d.printf("recovery: the log was not closed cleanly last time\n")
	}
	if rec.Cut.Bytes > 0 {
		d.printf("recovery: cut %d bytes of torn or corrupt tail at byte %d of %s (offsets from %d lost): %s\n",
			rec.Cut.Bytes, rec.Cut.Position, filepath.Base(rec.Cut.File), rec.Cut.FromOffset, rec.Cut.Reason)
	}
	for _, path := range rec.RebuiltIndexes {
		d.printf("recovery: rebuilt index %s\n", filepath.Base(path))
	}
	for _, path := range rec.RemovedFiles {
		d.printf("recovery: removed leftover file %s\n", filepath.Base(path))
	}
}

// use runs the demo's steps on an open log.
func (d *demo) use(l *storage.Log, n int) error {
	if end := l.LogEnd(); end == 0 {
		d.printf("opened: empty log\n")
	} else {
		d.printf("opened: %d records from earlier runs, offsets %d..%d\n", l.Len(), l.LogStart(), end-1)
	}
	if err := d.appendAuto(l, n); err != nil {
		return err
	}
	if err := d.appendRefused(l); err != nil {
		return err
	}
	if err := d.readAll(l); err != nil {
		return err
	}
	d.printf("log: start %d, end %d, last id %v, len %d\n", l.LogStart(), l.LogEnd(), l.LastID(), l.Len())
	return nil
}

// appendAuto appends one batch of n records with auto ids (XADD *) and waits until it is
// durable under the policy. Record i (from 1) of the log has key "k<i>" and value "hello <i>".
func (d *demo) appendAuto(l *storage.Log, n int) error {
	first := l.LogEnd() + 1
	b := batch.NewBuilder(0)
	b.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
	now := time.Now().UnixMilli()
	for i := range uint64(n) {
		key := fmt.Appendf(nil, "k%d", first+i)
		value := fmt.Appendf(nil, "hello %d", first+i)
		if err := b.Add(batch.ID{}, now, key, value, nil); err != nil {
			return fmt.Errorf("build the batch: %w", err)
		}
	}
	data, err := b.Finish()
	if err != nil {
		return fmt.Errorf("build the batch: %w", err)
	}
	d.printf("append %d %s with auto ids (XADD *):\n", n, plural(n, "record", "records"))
	a, err := l.Append(data, demoEpoch, uint64(now))
	if err != nil {
		return fmt.Errorf("append: %w\n  check that the disk is not full or read-only and that no other shoal uses %s; otherwise %s", err, d.dataDir, d.moveAside())
	}
	ctx, cancel := context.WithTimeout(context.Background(), demoDurableTimeout)
	defer cancel()
	if err := l.WaitDurable(ctx, a.NextOffset); err != nil {
		return fmt.Errorf("wait until offsets %d..%d are durable: %w\n  check that the disk is healthy and not full, then run again", a.BaseOffset, a.NextOffset-1, err)
	}
	// The ids of an auto-id batch are consecutive seqs in one ms (batch.NextAutoIDs).
	for i := range a.NextOffset - a.BaseOffset {
		d.printf("  offset %d  id %v\n", a.BaseOffset+i, batch.ID{Ms: a.FirstID.Ms, Seq: a.FirstID.Seq + i})
	}
	switch d.policy {
	case storage.FsyncAlways:
		d.printf("durable: fsynced through offset %d\n", l.SyncedEnd()-1)
	case storage.FsyncInterval:
		d.printf("durable under fsync interval: written; the syncer fsyncs every %v\n", storage.DefaultFsyncInterval)
	case storage.FsyncNever:
		d.printf("durable under fsync never: written; fsynced only when a segment rolls or the log closes\n")
	}
	return nil
}

// appendRefused appends one record with an explicit id equal to the log's last id, which Redis
// (and the log) refuse: ids must rise.
func (d *demo) appendRefused(l *storage.Log) error {
	id := l.LastID()
	b := batch.NewBuilder(0)
	b.Reset(batch.Options{ProducerID: batch.NoProducer})
	now := time.Now().UnixMilli()
	if err := b.Add(id, now, []byte("late"), []byte("too small an id"), nil); err != nil {
		return fmt.Errorf("build the batch: %w", err)
	}
	data, err := b.Finish()
	if err != nil {
		return fmt.Errorf("build the batch: %w", err)
	}
	d.printf("append 1 record with explicit id %v (the last id again):\n", id)
	a, err := l.Append(data, demoEpoch, uint64(now))
	switch {
	case err == nil:
		return fmt.Errorf("the log accepted id %v at offset %d though it is not above the last id: a storage bug", id, a.BaseOffset)
	case !errors.Is(err, batch.ErrIDNotIncreasing):
		return fmt.Errorf("append id %v: want the id refused, got: %w", id, err)
	}
	d.printf("  refused as expected: %v\n", err)
	return nil
}

// readAll reads the whole log from its start, batch by batch as Read returns them.
func (d *demo) readAll(l *storage.Log) error {
	from, end := l.LogStart(), l.LogEnd()
	d.printf("read back from offset %d:\n", from)
	var buf []byte
	for from < end {
		res, err := l.Read(from, demoReadBytes, end, buf)
		if err != nil {
			return fmt.Errorf("read at offset %d: %w\n  %s", from, err, d.moveAside())
		}
		if res.Next <= from {
			return fmt.Errorf("read at offset %d returned nothing before the log end %d: a storage bug", from, end)
		}
		rs := res.Records()
		for rs.Next() {
			r := rs.Record()
			d.printf("  offset %d  id %v  key %s  value %q\n", r.Offset, r.ID, r.Key, r.Value)
		}
		if err := rs.Err(); err != nil {
			return fmt.Errorf("read records at offset %d: %w\n  %s", from, err, d.moveAside())
		}
		from, buf = res.Next, res.Data[:0]
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
