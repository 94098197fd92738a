package storage

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage/vfs"
)

// testClock is a settable clock for segment age.
type testClock struct{ now time.Time }

func (c *testClock) Now() time.Time { return c.now }

func testConfig(t testing.TB, fsys vfs.FS, dir string, policy Policy) Config {
	t.Helper()
	return Config{
		Dir:                dir,
		FS:                 fsys,
		Fsync:              policy,
		FsyncInterval:      time.Millisecond,
		SegmentBytes:       8 << 10,
		IndexIntervalBytes: 512,
		MaxBatchBytes:      4 << 10,
		MaxRecordBytes:     2 << 10,
		MaxKeyBytes:        64,
		Logger:             slog.New(slog.DiscardHandler),
	}
}

func openLog(t testing.TB, cfg Config) (*Log, Recovery) {
	t.Helper()
	l, rec, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.Dir, err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, rec
}

// valueFor is the value of the record at a given sequence number of a test: unique, checkable.
func valueFor(seq int) []byte { return fmt.Appendf(nil, "value-%06d", seq) }

// autoBatch builds an auto-id batch of n records with values valueFor(first..first+n-1).
func autoBatch(t testing.TB, first, n int, timestamp int64) []byte {
	t.Helper()
	b := batch.NewBuilder(0)
	b.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
	for i := range n {
		if err := b.Add(batch.ID{}, timestamp, fmt.Appendf(nil, "k%d", first+i), valueFor(first+i), nil); err != nil {
			t.Fatal(err)
		}
	}
	out, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(out)
}

// explicitBatch builds a batch with the given explicit ids, one record each.
func explicitBatch(t testing.TB, timestamp int64, ids ...batch.ID) []byte {
	t.Helper()
	b := batch.NewBuilder(0)
	b.Reset(batch.Options{ProducerID: batch.NoProducer})
	for _, id := range ids {
		if err := b.Add(id, timestamp, nil, []byte(id.String()), nil); err != nil {
			t.Fatal(err)
		}
	}
	out, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(out)
}

// appendDurably appends and waits until the append is durable under the log's policy.
func appendDurably(t testing.TB, l *Log, b []byte, epoch uint64, nowMs uint64) Appended {
	t.Helper()
	a, err := l.Append(b, epoch, nowMs)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.WaitDurable(ctx, a.NextOffset); err != nil {
		t.Fatalf("WaitDurable(%d): %v", a.NextOffset, err)
	}
	return a
}

// seen is a record as a reader sees it.
type seen struct {
	offset uint64
	id     batch.ID
	value  string
}

// readAllFrom reads every visible record from offset from to the log end.
func readAllFrom(t testing.TB, l *Log, from uint64) []seen {
	t.Helper()
	var out []seen
	var buf []byte
	for {
		res, err := l.Read(from, 1000, l.LogEnd(), buf)
		if err != nil {
			t.Fatalf("Read(%d): %v", from, err)
		}
		if len(res.Data) == 0 {
			return out
		}
		rs := res.Records()
		for rs.Next() {
			r := rs.Record()
			out = append(out, seen{r.Offset, r.ID, string(r.Value)})
		}
		if err := rs.Err(); err != nil {
			t.Fatalf("Records: %v", err)
		}
		from, buf = res.Next, res.Data[:0]
	}
}

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "shoal-example-") }

// abandon stops a log the way a power loss does: no final fsync, no clean-shutdown mark; its
// files are closed and later calls fail with ErrClosed. It may be called more than once.
func abandon(l *Log) {
	l.closeOnce.Do(func() {
		close(l.syncStop)
		<-l.syncDone
		l.syncMu.Lock()
		defer l.syncMu.Unlock()
		l.mu.Lock()
		defer l.mu.Unlock()
		l.closed = true
		l.closeFiles()
		l.wakeWaitersLocked()
	})
}
