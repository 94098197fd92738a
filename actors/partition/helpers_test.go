package partition

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage"
	"github.com/shoalmq/shoal/storage/vfs"
)

// Test helpers: batch builders, an actor system whose logs go to the test, a partition on a
// temporary directory, and waits on conditions with deadlines (never sleeps).

const testWait = 10 * time.Second

// records builds an auto-id batch of n records with values "<prefix>-<i>" and no producer.
func records(t testing.TB, n int, prefix string) []byte {
	t.Helper()
	return producerBatch(t, batch.NoProducer, 0, n, prefix)
}

// producerBatch builds an auto-id batch of n records from an idempotent producer.
func producerBatch(t testing.TB, producerID int64, baseSequence int32, n int, prefix string) []byte {
	t.Helper()
	b := batch.NewBuilder(256)
	b.Reset(batch.Options{AutoID: true, ProducerID: producerID, BaseSequence: baseSequence})
	for i := range n {
		if err := b.Add(batch.ID{}, 1_700_000_000_000+int64(i), nil, []byte(prefix+"-"+string(rune('a'+i%26))), nil); err != nil {
			t.Fatal(err)
		}
	}
	data, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), data...)
}

// testLogger writes to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newSystem returns an actor system logging to the test, shut down at the end.
func newSystem(t testing.TB) *actor.ActorSystem {
	logger := testLogger(t)
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }))
	t.Cleanup(system.Shutdown)
	return system
}

// guarded is the root context partitions are spawned from in these tests: its guardian is the
// strategy the node supervisor uses.
func guarded(t testing.TB, system *actor.ActorSystem) *actor.RootContext {
	return system.Root.WithGuardian(StopOnFailure(testLogger(t)))
}

// testConfig is a partition config on dir.
func testConfig(t testing.TB, dir string, policy storage.Policy) Config {
	return Config{
		Topic:     "t",
		Partition: 0,
		Storage:   storage.Config{Dir: dir, Fsync: policy, FsyncInterval: 5 * time.Millisecond},
		Logger:    testLogger(t),
	}
}

// start starts a partition and stops it at the end of the test.
func start(t testing.TB, parent actor.SpawnerContext, cfg Config) *Partition {
	t.Helper()
	p, err := Start(parent, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testWait)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return p
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// readValues returns the values of the records from offset from up to the high watermark.
func readValues(t testing.TB, p *Partition, from uint64) []string {
	t.Helper()
	var values []string
	for from < p.HighWatermark() {
		res, err := p.Read(from, 1<<20)
		if err != nil {
			t.Fatalf("Read(%d): %v", from, err)
		}
		rs := res.Records()
		for rs.Next() {
			r := rs.Record()
			values = append(values, string(r.Value))
		}
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
		if res.Next == from {
			break
		}
		from = res.Next
	}
	return values
}

// gateFS is the real file system whose segment fsyncs block while the gate is closed: it holds
// produces "accepted but not yet durable" for as long as a test needs.
type gateFS struct {
	vfs.FS
	mu     sync.Mutex
	closed bool
	open   chan struct{}
}

func newGateFS() *gateFS { return &gateFS{FS: vfs.OS(), open: make(chan struct{})} }

// close makes the next segment fsyncs wait until reopen.
func (g *gateFS) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.closed, g.open = true, make(chan struct{})
	}
}

func (g *gateFS) reopen() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		g.closed = false
		close(g.open)
	}
}

func (g *gateFS) wait() {
	g.mu.Lock()
	open := g.open
	closed := g.closed
	g.mu.Unlock()
	if closed {
		<-open
	}
}

func (g *gateFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := g.FS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return gatedFile{File: f, gate: g}, nil
}

type gatedFile struct {
	vfs.File
	gate *gateFS
}

func (f gatedFile) Sync() error {
	f.gate.wait()
	return f.File.Sync()
}

var _ io.Closer = gatedFile{}
