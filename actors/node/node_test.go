// Node supervisor tests on real files in t.TempDir(): each test starts a node on a data dir,
// changes its catalog (create, auto-create, delete), and checks what a restart on the same dir
// finds: the topics, their settings and their data, or nothing of a deleted topic. Waits are
// channels or conditions with deadlines; goleak checks, after all tests, that nothing is left
// running.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage"
	"github.com/shoalmq/shoal/storage/vfs"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testWait = 10 * time.Second

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func testConfig(t testing.TB, dir string) Config {
	return Config{
		DataDir:          dir,
		Storage:          storage.Config{Fsync: storage.FsyncAlways},
		AutoCreateTopics: true,
		Logger:           testLogger(t),
	}
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

// startNode starts a node on its own actor system; stop stops both (also at cleanup).
func startNode(t testing.TB, cfg Config) (n *Node, stop func()) {
	t.Helper()
	logger := cfg.Logger
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }))
	n, err := Start(testContext(t), system, cfg)
	if err != nil {
		system.Shutdown()
		t.Fatalf("Start: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if err := n.Stop(testContext(t)); err != nil {
				t.Errorf("Stop: %v", err)
			}
			system.Shutdown()
		})
	}
	t.Cleanup(stop)
	return n, stop
}

func records(t testing.TB, n int) []byte {
	t.Helper()
	b := batch.NewBuilder(256)
	b.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
	for i := range n {
		if err := b.Add(batch.ID{}, int64(1000+i), nil, []byte(fmt.Sprint("v", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	data, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), data...)
}

func produce(t testing.TB, n *Node, topic string, id int32, count int) {
	t.Helper()
	p, err := n.Partition(topic, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Produce(testContext(t), records(t, count), protocol.AcksLeader); err != nil {
		t.Fatalf("produce to %s/%d: %v", topic, id, err)
	}
}

func TestValidateTopicName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"orders", true},
		{"a.b_c-D9", true},
		{"app:events", true}, // Redis key habits
		{"{tenant}:orders#1", true},
		{`back\slash`, false},
		{`quote"d`, false},
		{"tab\tname", false},
		{strings.Repeat("x", MaxTopicNameBytes), true},
		{"", false},
		{".", false},
		{"..", false},
		{"with space", false},
		{"slash/name", false},
		{"é", false},
		{strings.Repeat("x", MaxTopicNameBytes+1), false},
		{"__meta", false},
	} {
		err := ValidateTopicName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateTopicName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, protocol.ErrInvalidArgument) {
			t.Errorf("ValidateTopicName(%q) = %v, want ErrInvalidArgument", tc.name, err)
		}
	}
}

func TestCatalogAndDataSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	n, stop := startNode(t, testConfig(t, dir))
	ctx := testContext(t)
	if _, err := n.CreateTopic(ctx, TopicSettings{Name: "orders", Partitions: 3, RetentionMs: 60_000}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.CreateTopic(ctx, TopicSettings{Name: "orders"}); !errors.Is(err, protocol.ErrTopicExists) {
		t.Fatalf("create twice: got %v, want ErrTopicExists", err)
	}
	if _, err := n.EnsureTopic(ctx, "auto"); err != nil {
		t.Fatal(err)
	}
	produce(t, n, "orders", 2, 5)
	produce(t, n, "auto", 0, 2)
	stop()
	if _, err := os.Stat(filepath.Join(dir, catalogFile+".tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a temporary catalog file was left behind: %v", err)
	}

	n2, _ := startNode(t, testConfig(t, dir))
	orders, ok := n2.Topic("orders")
	if !ok {
		t.Fatal("topic orders is gone after a restart")
	}
	want := TopicSettings{Name: "orders", Partitions: 3, Replication: 1, RetentionMs: 60_000}
	if !reflect.DeepEqual(orders.Settings, want) {
		t.Fatalf("settings after a restart: %+v, want %+v", orders.Settings, want)
	}
	if end := orders.Partitions[2].HighWatermark(); end != 5 {
		t.Fatalf("orders/2 holds %d records after a restart, want 5", end)
	}
	auto, ok := n2.Topic("auto")
	if !ok || len(auto.Partitions) != 1 || auto.Partitions[0].HighWatermark() != 2 {
		t.Fatalf("auto-created topic after a restart: %+v", auto)
	}
	if !n2.Ready() {
		t.Fatal("node not ready after a restart")
	}
}

func TestAutoCreateOnAndOff(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.DefaultPartitions = 4
	n, _ := startNode(t, cfg)
	ctx := testContext(t)
	// Many produces auto-create one topic together: it is created once.
	var wg sync.WaitGroup
	topics := make([]*Topic, 8)
	for i := range topics {
		wg.Go(func() {
			var err error
			if topics[i], err = n.EnsureTopic(ctx, "together"); err != nil {
				t.Errorf("EnsureTopic: %v", err)
			}
		})
	}
	wg.Wait()
	for _, topic := range topics {
		if topic != topics[0] || len(topic.Partitions) != 4 {
			t.Fatalf("EnsureTopic returned different topics or partition counts: %p %p (%d partitions)", topic, topics[0], len(topic.Partitions))
		}
	}
	if _, err := n.EnsureTopic(ctx, "bad name"); !errors.Is(err, protocol.ErrInvalidArgument) {
		t.Fatalf("auto-create with a bad name: got %v, want ErrInvalidArgument", err)
	}

	off := testConfig(t, t.TempDir())
	off.AutoCreateTopics = false
	n2, _ := startNode(t, off)
	if _, err := n2.EnsureTopic(ctx, "missing"); !errors.Is(err, protocol.ErrUnknownTopic) {
		t.Fatalf("auto-create off: got %v, want ErrUnknownTopic", err)
	}
	if _, err := n2.Partition("missing", 0); !errors.Is(err, protocol.ErrUnknownTopic) {
		t.Fatalf("lookup of a missing topic: got %v, want ErrUnknownTopic", err)
	}
}

func TestDeleteTopicRemovesItsData(t *testing.T) {
	dir := t.TempDir()
	n, stop := startNode(t, testConfig(t, dir))
	ctx := testContext(t)
	if _, err := n.CreateTopic(ctx, TopicSettings{Name: "gone", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.CreateTopic(ctx, TopicSettings{Name: "kept"}); err != nil {
		t.Fatal(err)
	}
	produce(t, n, "gone", 1, 3)
	old, _ := n.Partition("gone", 1)
	if err := n.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-old.Done():
	default:
		t.Fatal("the deleted topic's partition is still running")
	}
	if _, err := n.Partition("gone", 0); !errors.Is(err, protocol.ErrUnknownTopic) {
		t.Fatalf("lookup after delete: got %v, want ErrUnknownTopic", err)
	}
	if _, err := os.Stat(filepath.Join(dir, topicsDir, "gone")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the deleted topic's directory is still there: %v", err)
	}
	if err := n.DeleteTopic(ctx, "gone"); !errors.Is(err, protocol.ErrUnknownTopic) {
		t.Fatalf("delete twice: got %v, want ErrUnknownTopic", err)
	}
	// A new topic of the same name starts empty.
	again, err := n.CreateTopic(ctx, TopicSettings{Name: "gone"})
	if err != nil || again.Partitions[0].HighWatermark() != 0 {
		t.Fatalf("recreate: %v", err)
	}
	if err := n.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	stop()
	listed, _, err := readCatalog(testConfig(t, dir).withDefaults().FS, dir)
	if err != nil || len(listed) != 1 || listed[0].Name != "kept" {
		t.Fatalf("catalog after deletes: %+v, %v; want only kept", listed, err)
	}
	n2, _ := startNode(t, testConfig(t, dir))
	if _, ok := n2.Topic("gone"); ok {
		t.Fatal("the deleted topic came back after a restart")
	}
}

func TestDirectoriesMissingFromTheCatalogAreAdopted(t *testing.T) {
	dir := t.TempDir()
	n, stop := startNode(t, testConfig(t, dir))
	if _, err := n.CreateTopic(testContext(t), TopicSettings{Name: "lost", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	produce(t, n, "lost", 1, 4)
	stop()
	if err := os.Remove(filepath.Join(dir, catalogFile)); err != nil {
		t.Fatal(err)
	}
	n2, _ := startNode(t, testConfig(t, dir))
	lost, ok := n2.Topic("lost")
	if !ok || len(lost.Partitions) != 2 || lost.Partitions[1].HighWatermark() != 4 {
		t.Fatalf("adopted topic: %+v (found %v); want 2 partitions, 4 records in partition 1", lost, ok)
	}
}

func TestSecondNodeOnTheSameDataDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	startNode(t, testConfig(t, dir))
	logger := testLogger(t)
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }))
	defer system.Shutdown()
	if _, err := Start(testContext(t), system, testConfig(t, dir)); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second node on one data dir: got %v, want an in-use error", err)
	}
}

func TestRetentionRunsOnTheTimer(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Storage.SegmentBytes = 256
	cfg.Storage.Retention = storage.Retention{MaxRecords: 2}
	cfg.RetentionCheckInterval = 5 * time.Millisecond
	n, _ := startNode(t, cfg)
	if _, err := n.CreateTopic(testContext(t), TopicSettings{Name: "short"}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		produce(t, n, "short", 0, 2)
	}
	p, _ := n.Partition("short", 0)
	deadline := time.Now().Add(testWait)
	for p.LogStart() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("retention never moved the log start")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestInvalidSettingsAreRefused(t *testing.T) {
	n, _ := startNode(t, testConfig(t, t.TempDir()))
	ctx := testContext(t)
	for _, s := range []TopicSettings{
		{Name: "p", Partitions: -1},
		{Name: "p", Partitions: MaxPartitionsPerTopic + 1},
		{Name: "r", Replication: 3},
		{Name: "n", RetentionMs: -1},
	} {
		if _, err := n.CreateTopic(ctx, s); !errors.Is(err, protocol.ErrInvalidArgument) {
			t.Errorf("CreateTopic(%+v): got %v, want ErrInvalidArgument", s, err)
		}
	}
	if len(n.Topics()) != 0 {
		t.Fatalf("refused topics were created: %d topics", len(n.Topics()))
	}
}

// A node's first start on a crashable disk, then a power loss: the data dir, its topics dir, the
// catalog and the acknowledged records all come back. Nothing synced the data dir's entry in its
// parent (nor topics/ before the first catalog write), so a power loss took the whole dir, and
// the node came back empty (the cluster simulator's finding 5; its disks are provisioned durably
// for that reason).
func TestFirstStartSurvivesAPowerLoss(t *testing.T) {
	fsys := vfs.NewCrashFS()
	cfg := testConfig(t, "srv/shoal/data")
	cfg.FS = fsys
	n, stop := startNode(t, cfg)
	if _, err := n.CreateTopic(testContext(t), TopicSettings{Name: "orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	produce(t, n, "orders", 0, 3)
	stop()
	fsys.Crash()

	n2, _ := startNode(t, cfg)
	orders, ok := n2.Topic("orders")
	if !ok {
		t.Fatalf("topic orders is gone after a power loss (the data dir holds %v)", mustReadDir(fsys, "srv/shoal/data"))
	}
	if end := orders.Partitions[0].HighWatermark(); end != 3 {
		t.Fatalf("orders/0 holds %d records after a power loss, want 3", end)
	}
}

func mustReadDir(fsys vfs.FS, dir string) any {
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return err
	}
	return names
}
