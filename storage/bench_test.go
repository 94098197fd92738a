//go:build linux

package storage

// Benchmarks for the partition log's write and read paths, with a raw-disk baseline in the same
// run. They run only with -bench:
//
//	go test -run '^$' -bench 'Append|RawDisk|ReadWarm' -benchmem -count=3 ./storage/
//
// Every append benchmark writes 100-byte records (no key, no headers) in batches of 1, 100 and
// 1,000 to real files in a temporary directory with the default segment size, so segments roll
// as they do in production. RawDisk writes exactly as many bytes per operation as the Shoal
// batch of the same size, with write(2) + fdatasync(2) and no Shoal code, rolling to a new file
// every DefaultSegmentBytes; divide an `always` figure by the RawDisk figure of the same batch
// size for the ratio to raw disk. The file is Linux-only because the baseline calls fdatasync(2),
// which is what the log's vfs.OS file Sync does on Linux.

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shoalmq/shoal/protocol/batch"
)

const (
	benchValueBytes = 100
	benchEpoch      = 1
	// benchReadRecords is the size of the warm log that ReadWarm scans per operation.
	benchReadRecords = 3_000_000
	// benchReadMaxBytes is the byte budget of each Read, as a fetch would ask for.
	benchReadMaxBytes = 1 << 20
)

var (
	benchBatchSizes = []int{1, 100, 1000}
	benchPolicies   = []Policy{FsyncAlways, FsyncInterval, FsyncNever}
)

// benchBatch builds an auto-id batch of n records, each with a 100-byte value, no key and no
// headers, as a producer would send it.
func benchBatch(tb testing.TB, n int) []byte {
	tb.Helper()
	value := bytes.Repeat([]byte{'v'}, benchValueBytes)
	b := batch.NewBuilder(n * (benchValueBytes + 16))
	b.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
	now := time.Now().UnixMilli()
	for range n {
		if err := b.Add(batch.ID{}, now, nil, value, nil); err != nil {
			tb.Fatal(err)
		}
	}
	out, err := b.Finish()
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Clone(out)
}

// benchAppender appends one pristine batch over and over. Append stamps the batch header in
// place (offsets, epoch, ids; it clears AttrAutoID, so the stamped bytes would be refused as an
// explicit-id batch whose id does not rise). Stamp touches only the 96-byte header, so restoring
// the header before each append gives back the producer's batch exactly; newBenchAppender checks
// that the records are untouched.
type benchAppender struct {
	pristine []byte
	buf      []byte
}

func newBenchAppender(pristine []byte) *benchAppender {
	return &benchAppender{pristine: pristine, buf: bytes.Clone(pristine)}
}

func (a *benchAppender) append(l *Log) (Appended, error) {
	copy(a.buf[:batch.HeaderSize], a.pristine[:batch.HeaderSize])
	return l.Append(a.buf, benchEpoch, uint64(time.Now().UnixMilli()))
}

// check verifies, after an append, that Append changed nothing but the header.
func (a *benchAppender) check(tb testing.TB) {
	tb.Helper()
	if !bytes.Equal(a.buf[batch.HeaderSize:], a.pristine[batch.HeaderSize:]) {
		tb.Fatal("Append changed the records of the batch, not only its header: restoring the header is not enough")
	}
}

// openBenchLog opens a log in a fresh temporary directory on the real file system with the
// production defaults, except MaxBatchBytes, which fits the largest batch, and the policy.
// It counts the fsyncs that advance the synced end.
func openBenchLog(b *testing.B, policy Policy, syncs *atomic.Int64) *Log {
	b.Helper()
	cfg := Config{
		Dir:           filepath.Join(b.TempDir(), "p0"),
		Fsync:         policy,
		MaxBatchBytes: DefaultMaxBatchBytes,
	}
	if syncs != nil {
		cfg.OnDurable = func(uint64) { syncs.Add(1) }
	}
	l, _, err := Open(cfg)
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() {
		if err := l.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	return l
}

// reportRate reports records/s over the timed part of the benchmark, given records per op.
func reportRate(b *testing.B, recordsPerOp int) {
	b.Helper()
	if s := b.Elapsed().Seconds(); s > 0 && b.N > 0 {
		b.ReportMetric(float64(recordsPerOp)*float64(b.N)/s, "records/s")
	}
}

// BenchmarkAppend appends one batch per op from one goroutine. Under FsyncAlways each op waits
// until the batch is durable (one batch in flight, like RawDisk's write + fdatasync); under
// FsyncInterval and FsyncNever an append is durable under the policy when Append returns.
func BenchmarkAppend(b *testing.B) {
	for _, policy := range benchPolicies {
		for _, n := range benchBatchSizes {
			b.Run(fmt.Sprintf("policy=%s/batch=%d", policy, n), func(b *testing.B) {
				benchAppend(b, policy, n)
			})
		}
	}
}

func benchAppend(b *testing.B, policy Policy, n int) {
	var syncs atomic.Int64
	l := openBenchLog(b, policy, &syncs)
	app := newBenchAppender(benchBatch(b, n))
	ctx := context.Background()
	// The first append of an epoch also writes the epoch history: keep it out of the timing.
	a, err := app.append(l)
	if err != nil {
		b.Fatalf("Append: %v", err)
	}
	app.check(b)
	if err := l.WaitDurable(ctx, a.NextOffset); err != nil {
		b.Fatalf("WaitDurable: %v", err)
	}
	startSyncs := syncs.Load()
	b.SetBytes(int64(len(app.pristine)))
	b.ReportAllocs()
	for b.Loop() {
		a, err := app.append(l)
		if err != nil {
			b.Fatalf("Append: %v", err)
		}
		if policy == FsyncAlways {
			if err := l.WaitDurable(ctx, a.NextOffset); err != nil {
				b.Fatalf("WaitDurable: %v", err)
			}
		}
	}
	reportRate(b, n)
	if policy == FsyncAlways {
		b.ReportMetric(float64(syncs.Load()-startSyncs)/float64(b.N), "fsyncs/op")
	}
}

// BenchmarkAppendParallel appends from several goroutines, each waiting for its own batch to
// be durable before the next: under FsyncAlways the appends that arrive during one fsync share
// the next one (group commit), which fsyncs/op shows.
func BenchmarkAppendParallel(b *testing.B) {
	const n = 100
	for _, writers := range []int{4, 16, 64} {
		b.Run(fmt.Sprintf("policy=%s/batch=%d/writers=%d", FsyncAlways, n, writers), func(b *testing.B) {
			var syncs atomic.Int64
			l := openBenchLog(b, FsyncAlways, &syncs)
			pristine := benchBatch(b, n)
			ctx := context.Background()
			first := newBenchAppender(pristine)
			a, err := first.append(l)
			if err != nil {
				b.Fatalf("Append: %v", err)
			}
			if err := l.WaitDurable(ctx, a.NextOffset); err != nil {
				b.Fatalf("WaitDurable: %v", err)
			}
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((writers + procs - 1) / procs) // RunParallel starts parallelism*GOMAXPROCS goroutines
			b.SetBytes(int64(len(pristine)))
			b.ReportAllocs()
			startSyncs := syncs.Load()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				app := newBenchAppender(pristine)
				for pb.Next() {
					a, err := app.append(l)
					if err == nil {
						err = l.WaitDurable(ctx, a.NextOffset)
					}
					if err != nil {
						b.Errorf("append: %v", err)
						return
					}
				}
			})
			b.StopTimer()
			reportRate(b, n)
			b.ReportMetric(float64(syncs.Load()-startSyncs)/float64(b.N), "fsyncs/op")
		})
	}
}

// BenchmarkRawDisk is the baseline: each op writes as many bytes as the Shoal batch of the same
// size with one write(2) and makes them durable with fdatasync(2), rolling to a new file (whose
// directory entry is fsynced) every DefaultSegmentBytes, as the log does. No Shoal code runs.
func BenchmarkRawDisk(b *testing.B) {
	for _, n := range benchBatchSizes {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) { benchRawDisk(b, n, true) })
	}
}

// BenchmarkRawDiskNoSync is the same without fdatasync: the page-cache baseline for the
// interval and never policies.
func BenchmarkRawDiskNoSync(b *testing.B) {
	for _, n := range benchBatchSizes {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) { benchRawDisk(b, n, false) })
	}
}

func benchRawDisk(b *testing.B, n int, fdatasync bool) {
	data := benchBatch(b, n)
	dir := b.TempDir()
	files := 0
	fd := -1
	var size int64
	roll := func() {
		if fd >= 0 {
			if err := rawFdatasync(fd); err != nil {
				b.Fatalf("fdatasync: %v", err)
			}
			if err := syscall.Close(fd); err != nil {
				b.Fatalf("close: %v", err)
			}
		}
		path := filepath.Join(dir, fmt.Sprintf("%020d.raw", files))
		files++
		var err error
		fd, err = syscall.Open(path, syscall.O_CREAT|syscall.O_TRUNC|syscall.O_RDWR|syscall.O_APPEND|syscall.O_CLOEXEC, 0o644)
		if err != nil {
			b.Fatalf("open %s: %v", path, err)
		}
		size = 0
		if err := rawSyncDir(dir); err != nil {
			b.Fatalf("sync %s: %v", dir, err)
		}
	}
	roll()
	defer func() { _ = syscall.Close(fd) }()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if size > 0 && size+int64(len(data)) > DefaultSegmentBytes {
			roll()
		}
		if w, err := syscall.Write(fd, data); err != nil || w != len(data) {
			b.Fatalf("write: %d of %d bytes: %v", w, len(data), err)
		}
		size += int64(len(data))
		if fdatasync {
			if err := rawFdatasync(fd); err != nil {
				b.Fatalf("fdatasync: %v", err)
			}
		}
	}
	reportRate(b, n)
}

func rawFdatasync(fd int) error {
	for {
		if err := syscall.Fdatasync(fd); err != syscall.EINTR {
			return err
		}
	}
}

func rawSyncDir(dir string) error {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	syncErr := syscall.Fsync(fd)
	closeErr := syscall.Close(fd)
	if syncErr != nil {
		return syncErr
	}
	return closeErr
}

// BenchmarkReadWarm scans a warm log (just written, in the page cache) of benchReadRecords
// 100-byte records from start to end per op with Read(from, 1 MiB, LogEnd, buf), reusing buf.
// mode=records iterates every record (Records: Next/Record) and counts them; mode=bytes only
// reads the batches and counts offsets, for comparison.
func BenchmarkReadWarm(b *testing.B) {
	const n = 1000
	b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
		l := fillBenchLog(b, n, benchReadRecords)
		logBytes := int64(0)
		for _, seg := range l.segments {
			logBytes += seg.size
		}
		b.Run("mode=records", func(b *testing.B) { benchReadWarm(b, l, logBytes, true) })
		b.Run("mode=bytes", func(b *testing.B) { benchReadWarm(b, l, logBytes, false) })
	})
}

// fillBenchLog writes total records in batches of n to a fresh log, closes it and reopens it
// (recovering it as a restarted broker would), then reads it once to warm the page cache.
func fillBenchLog(b *testing.B, n, total int) *Log {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "p0")
	cfg := Config{Dir: dir, Fsync: FsyncNever, MaxBatchBytes: DefaultMaxBatchBytes}
	l, _, err := Open(cfg)
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	app := newBenchAppender(benchBatch(b, n))
	for range total / n {
		if _, err := app.append(l); err != nil {
			b.Fatalf("Append: %v", err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatalf("Close: %v", err)
	}
	cfg.Fsync = FsyncAlways
	l, rec, err := Open(cfg)
	if err != nil {
		b.Fatalf("reopen: %v", err)
	}
	b.Cleanup(func() { _ = l.Close() })
	if rec.Cut != (Cut{}) || rec.Unclean || len(rec.RebuiltIndexes) > 0 {
		b.Fatalf("reopen after a clean close recovered something: %+v", rec)
	}
	if got := l.LogEnd() - l.LogStart(); got != uint64(total/n*n) {
		b.Fatalf("log holds %d records, want %d", got, total/n*n)
	}
	buf := make([]byte, benchReadMaxBytes)
	if got := scanBenchLog(b, l, buf, true); got != total/n*n {
		b.Fatalf("warm-up read %d records, want %d", got, total/n*n)
	}
	return l
}

func benchReadWarm(b *testing.B, l *Log, logBytes int64, records bool) {
	want := int(l.LogEnd() - l.LogStart())
	// readAt grows buf when it is too small but does not hand the larger buffer back: give it
	// one that holds a whole read window (max(maxBytes, minReadChunk) bytes).
	buf := make([]byte, max(benchReadMaxBytes, minReadChunk))
	b.SetBytes(logBytes)
	b.ReportAllocs()
	for b.Loop() {
		if got := scanBenchLog(b, l, buf, records); got != want {
			b.Fatalf("read %d records, want %d", got, want)
		}
	}
	reportRate(b, want)
}

// scanBenchLog reads the whole log and returns the number of records: iterated ones when
// records is set, else the offsets the reads covered.
func scanBenchLog(b *testing.B, l *Log, buf []byte, records bool) int {
	from, end := l.LogStart(), l.LogEnd()
	count := 0
	for from < end {
		res, err := l.Read(from, benchReadMaxBytes, end, buf)
		if err != nil {
			b.Fatalf("Read(%d): %v", from, err)
		}
		if res.Next <= from {
			b.Fatalf("Read(%d) made no progress (next %d, %d bytes)", from, res.Next, len(res.Data))
		}
		if records {
			rs := res.Records()
			for rs.Next() {
				if r := rs.Record(); len(r.Value) != benchValueBytes {
					b.Fatalf("record %d has a %d-byte value", r.Offset, len(r.Value))
				}
				count++
			}
			if err := rs.Err(); err != nil {
				b.Fatalf("Records at %d: %v", from, err)
			}
		} else {
			count += int(res.Next - from)
		}
		from = res.Next
	}
	return count
}
