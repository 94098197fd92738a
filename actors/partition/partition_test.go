// Partition actor tests on real files in t.TempDir(): each test starts one or more partition
// actors under the StopOnFailure guardian, drives them through the Partition handle, and checks
// what a producer or consumer would see (offsets, values, errors). Group commit and the
// in-flight bound are made deterministic with a file system whose fsyncs wait on a gate, not with
// sleeps; every wait is a channel or a condition with a deadline. goleak checks, after all tests,
// that every actor, relay and syncer goroutine is gone.
package partition

import (
	"errors"
	"fmt"
	"slices"
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

func TestProduceAndReadEveryPolicy(t *testing.T) {
	for _, policy := range []storage.Policy{storage.FsyncAlways, storage.FsyncInterval, storage.FsyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			system := newSystem(t)
			p := start(t, guarded(t, system), testConfig(t, t.TempDir(), policy))
			ctx := testContext(t)
			first, err := p.Produce(ctx, records(t, 3, "x"), protocol.AcksLeader)
			if err != nil {
				t.Fatal(err)
			}
			second, err := p.Produce(ctx, records(t, 2, "y"), protocol.AcksQuorum)
			if err != nil {
				t.Fatal(err)
			}
			if first.BaseOffset != 0 || first.NextOffset != 3 || second.BaseOffset != 3 || second.NextOffset != 5 {
				t.Fatalf("offsets: got %+v then %+v, want 0..3 then 3..5", first, second)
			}
			if !first.FirstID.Less(second.FirstID) || first.FirstID.IsZero() {
				t.Fatalf("ids: got %v then %v, want rising ids", first.FirstID, second.FirstID)
			}
			// acks=leader answered: the batch is durable, so consumers see it.
			if hw := p.HighWatermark(); hw < 5 {
				t.Fatalf("high watermark %d after two acknowledged produces, want 5", hw)
			}
			got := readValues(t, p, 0)
			want := []string{"x-a", "x-b", "x-c", "y-a", "y-b"}
			if !slices.Equal(got, want) {
				t.Fatalf("read %q, want %q", got, want)
			}
		})
	}
}

func TestAcksNoneAnswersBeforeTheFsync(t *testing.T) {
	gate := newGateFS()
	system := newSystem(t)
	cfg := testConfig(t, t.TempDir(), storage.FsyncAlways)
	cfg.Storage.FS = gate
	p := start(t, guarded(t, system), cfg)
	defer gate.reopen()
	gate.close()
	ctx := testContext(t)
	produced, err := p.Produce(ctx, records(t, 2, "n"), protocol.AcksNone)
	if err != nil {
		t.Fatal(err)
	}
	if produced.BaseOffset != 0 || produced.NextOffset != 2 {
		t.Fatalf("acks=none: got %+v, want offsets 0..2", produced)
	}
	// The fsync is held: consumers must not see the batch yet.
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d while the fsync is held, want 0", hw)
	}
	// An acks=leader produce waits for the fsync; release it and it is answered.
	pending, err := p.Submit(records(t, 1, "l"), protocol.AcksLeader)
	if err != nil {
		t.Fatal(err)
	}
	gate.reopen()
	if produced, err = pending.Wait(ctx); err != nil || produced.BaseOffset != 2 {
		t.Fatalf("acks=leader after the fsync: got %+v, %v; want offset 2", produced, err)
	}
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("high watermark %d after the fsync, want 3", hw)
	}
}

func TestGroupCommitManyConcurrentProduces(t *testing.T) {
	system := newSystem(t)
	p := start(t, guarded(t, system), testConfig(t, t.TempDir(), storage.FsyncAlways))
	ctx := testContext(t)
	const producers, perProducer = 16, 25
	var mu sync.Mutex
	var got []Produced
	var wg sync.WaitGroup
	for g := range producers {
		wg.Go(func() {
			for i := range perProducer {
				produced, err := p.Produce(ctx, records(t, 1+(g+i)%4, fmt.Sprint(g)), protocol.AcksQuorum)
				if err != nil {
					t.Errorf("producer %d batch %d: %v", g, i, err)
					return
				}
				mu.Lock()
				got = append(got, produced)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) != producers*perProducer {
		t.Fatalf("%d produces answered, want %d", len(got), producers*perProducer)
	}
	slices.SortFunc(got, func(a, b Produced) int { return int(a.BaseOffset) - int(b.BaseOffset) })
	next := uint64(0)
	for _, produced := range got {
		if produced.BaseOffset != next {
			t.Fatalf("offsets not dense: batch at %d, want %d", produced.BaseOffset, next)
		}
		next = produced.NextOffset
	}
	if hw := p.HighWatermark(); hw != next {
		t.Fatalf("high watermark %d, want the log end %d", hw, next)
	}
	if s := p.Stats(); s.InFlightBytes != 0 || s.ProducedBatches != uint64(len(got)) {
		t.Fatalf("stats: %d bytes in flight, %d batches; want 0 and %d", s.InFlightBytes, s.ProducedBatches, len(got))
	}
}

func TestBusyPastTheInFlightBound(t *testing.T) {
	gate := newGateFS()
	system := newSystem(t)
	cfg := testConfig(t, t.TempDir(), storage.FsyncAlways)
	cfg.Storage.FS = gate
	first := records(t, 1, "a")
	cfg.MaxInFlightBytes = int64(len(first)) // room for one batch
	p := start(t, guarded(t, system), cfg)
	defer gate.reopen()
	gate.close()
	ctx := testContext(t)

	pending, err := p.Submit(first, protocol.AcksLeader)
	if err != nil {
		t.Fatalf("first produce: %v", err)
	}
	// The first batch waits for its fsync: a second one is refused at once, before any message.
	if _, err := p.Produce(ctx, records(t, 1, "b"), protocol.AcksLeader); !errors.Is(err, protocol.ErrBusy) {
		t.Fatalf("second produce while the first is in flight: got %v, want ErrBusy", err)
	}
	if got := p.Stats().BusyRejections; got != 1 {
		t.Fatalf("busy rejections %d, want 1", got)
	}
	gate.reopen()
	if _, err := pending.Wait(ctx); err != nil {
		t.Fatalf("first produce after the fsync: %v", err)
	}
	if _, err := p.Produce(ctx, records(t, 1, "b"), protocol.AcksLeader); err != nil {
		t.Fatalf("produce once the first was answered: %v", err)
	}
	// A batch larger than the whole bound still goes through when nothing else is in flight.
	if _, err := p.Produce(ctx, records(t, 20, "big"), protocol.AcksLeader); err != nil {
		t.Fatalf("oversized batch with nothing in flight: %v", err)
	}
}

func TestIdempotentRetryReturnsTheOriginalOffsets(t *testing.T) {
	system := newSystem(t)
	dir := t.TempDir()
	cfg := testConfig(t, dir, storage.FsyncAlways)
	cfg.Dispatcher = actor.NewSynchronizedDispatcher(300)
	p := start(t, guarded(t, system), cfg)
	ctx := testContext(t)
	const producer = 42

	original, err := p.Produce(ctx, producerBatch(t, producer, 0, 3, "p"), protocol.AcksLeader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Produce(ctx, records(t, 1, "other"), protocol.AcksLeader); err != nil {
		t.Fatal(err)
	}
	retry, err := p.Produce(ctx, producerBatch(t, producer, 0, 3, "p"), protocol.AcksLeader)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if !retry.Duplicate || retry.BaseOffset != original.BaseOffset || retry.FirstID != original.FirstID || retry.LastID != original.LastID {
		t.Fatalf("retry: got %+v, want the original %+v marked duplicate", retry, original)
	}
	if end := p.log.LogEnd(); end != 4 {
		t.Fatalf("log end %d after a retried batch, want 4 (nothing appended)", end)
	}
	next, err := p.Produce(ctx, producerBatch(t, producer, 3, 2, "p"), protocol.AcksLeader)
	if err != nil || next.BaseOffset != 4 || next.Duplicate {
		t.Fatalf("next sequence: got %+v, %v; want a new batch at 4", next, err)
	}
	_, err = p.Produce(ctx, producerBatch(t, producer, 9, 1, "p"), protocol.AcksLeader)
	if !errors.Is(err, protocol.ErrInvalidArgument) {
		t.Fatalf("sequence gap: got %v, want ErrInvalidArgument", err)
	}
	t.Logf("gap error: %v", err)

	// After a restart the table is rebuilt from the log: the retry is still recognised.
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	p2 := start(t, guarded(t, system), testConfig(t, dir, storage.FsyncAlways))
	again, err := p2.Produce(ctx, producerBatch(t, producer, 3, 2, "p"), protocol.AcksLeader)
	if err != nil || !again.Duplicate || again.BaseOffset != 4 {
		t.Fatalf("retry after restart: got %+v, %v; want the duplicate of offset 4", again, err)
	}
	if end := p2.log.LogEnd(); end != 6 {
		t.Fatalf("log end %d after a retry across a restart, want 6", end)
	}
}

func TestDuplicateOfABatchNotYetDurableWaitsForIt(t *testing.T) {
	gate := newGateFS()
	system := newSystem(t)
	cfg := testConfig(t, t.TempDir(), storage.FsyncAlways)
	cfg.Storage.FS = gate
	p := start(t, guarded(t, system), cfg)
	defer gate.reopen()
	gate.close()
	ctx := testContext(t)
	first, err := p.Submit(producerBatch(t, 5, 0, 2, "d"), protocol.AcksLeader)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := p.Submit(producerBatch(t, 5, 0, 2, "d"), protocol.AcksLeader)
	if err != nil {
		t.Fatal(err)
	}
	gate.reopen()
	a, errA := first.Wait(ctx)
	b, errB := retry.Wait(ctx)
	if errA != nil || errB != nil || a.BaseOffset != 0 || b.BaseOffset != 0 || !b.Duplicate {
		t.Fatalf("original %+v (%v), retry %+v (%v): want both at offset 0, the retry a duplicate", a, errA, b, errB)
	}
}

func TestRefusedBatches(t *testing.T) {
	system := newSystem(t)
	cfg := testConfig(t, t.TempDir(), storage.FsyncNever)
	cfg.Storage.MaxRecordBytes = 16
	p := start(t, guarded(t, system), cfg)
	ctx := testContext(t)
	corrupt := records(t, 2, "c")
	corrupt[len(corrupt)-1] ^= 0xff
	control := batch.NewBuilder(128)
	control.Reset(batch.Options{Control: true, ProducerID: batch.NoProducer})
	if err := control.Add(batch.ID{}, 1, batch.TombstoneKey, batch.AppendTombstoneValue(nil, 0), nil); err != nil {
		t.Fatal(err)
	}
	controlBytes, _ := control.Finish()
	for _, tc := range []struct {
		name  string
		batch []byte
		want  error
	}{
		{"corrupt", corrupt, storage.ErrCorrupt},
		{"short", []byte{1, 2, 3}, storage.ErrCorrupt},
		{"too large", records(t, 1, "a-value-longer-than-sixteen-bytes"), storage.ErrTooLarge},
		{"control", append([]byte(nil), controlBytes...), protocol.ErrInvalidArgument},
		{"negative sequence", producerBatch(t, 1, -5, 1, "s"), protocol.ErrInvalidArgument},
	} {
		if _, err := p.Produce(ctx, tc.batch, protocol.AcksLeader); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if s := p.Stats(); s.InFlightBytes != 0 || s.LogEnd != 0 {
		t.Fatalf("after refused batches: %d bytes in flight, log end %d; want 0 and 0", s.InFlightBytes, s.LogEnd)
	}
}

func TestWatchWakesOnNewData(t *testing.T) {
	system := newSystem(t)
	p := start(t, guarded(t, system), testConfig(t, t.TempDir(), storage.FsyncAlways))
	ctx := testContext(t)
	hw, changed := p.Watch()
	if hw != 0 {
		t.Fatalf("high watermark %d of an empty log", hw)
	}
	select {
	case <-changed:
		t.Fatal("watch fired before any produce")
	default:
	}
	if _, err := p.Produce(ctx, records(t, 1, "w"), protocol.AcksLeader); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatal("watch did not fire after a durable produce")
	}
}

func TestResolveAndTrim(t *testing.T) {
	system := newSystem(t)
	p := start(t, guarded(t, system), testConfig(t, t.TempDir(), storage.FsyncAlways))
	ctx := testContext(t)
	var batches []Produced
	for i := range 4 {
		produced, err := p.Produce(ctx, records(t, 2, fmt.Sprint(i)), protocol.AcksLeader)
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, produced)
	}
	for _, tc := range []struct {
		pos  protocol.Position
		want uint64
	}{
		{protocol.Position{Kind: protocol.PositionEarliest}, 0},
		{protocol.Position{Kind: protocol.PositionLatest}, 8},
		{protocol.Position{Kind: protocol.PositionOffset, Offset: 5}, 5},
		{protocol.Position{Kind: protocol.PositionID, ID: batches[2].FirstID}, 4},
		{protocol.Position{Kind: protocol.PositionID, ID: batch.MaxID}, 8},
		{protocol.Position{Kind: protocol.PositionTime, TimeMs: 1_700_000_000_001}, 1},
	} {
		got, err := p.Resolve(tc.pos)
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%+v): got %d, %v; want %d", tc.pos, got, err, tc.want)
		}
	}
	removed, err := p.Trim(ctx, storage.Trim{MaxLen: 3})
	if err != nil || removed != 5 {
		t.Fatalf("trim to 3: removed %d, %v; want 5", removed, err)
	}
	if start, _ := p.Resolve(protocol.Position{Kind: protocol.PositionEarliest}); start != 5 {
		t.Fatalf("earliest after the trim: %d, want 5", start)
	}
	if _, err := p.Read(0, 1024); !errors.Is(err, storage.ErrOutOfRange) {
		t.Fatalf("read below the log start: got %v, want storage.ErrOutOfRange", err)
	}
}

func TestRetentionOnRequest(t *testing.T) {
	system := newSystem(t)
	cfg := testConfig(t, t.TempDir(), storage.FsyncNever)
	cfg.Storage.SegmentBytes = 256
	cfg.Storage.Retention = storage.Retention{MaxRecords: 4}
	p := start(t, guarded(t, system), cfg)
	ctx := testContext(t)
	for i := range 10 {
		if _, err := p.Produce(ctx, records(t, 2, fmt.Sprint(i)), protocol.AcksLeader); err != nil {
			t.Fatal(err)
		}
	}
	p.EnforceRetention(time.Now().UnixMilli())
	waitFor(t, "retention to remove records", func() bool { return p.Stats().RetentionRemoved > 0 })
	if s := p.Stats(); s.Records < 4 || s.LogStart == 0 || s.Records+s.RetentionRemoved != 20 {
		t.Fatalf("after retention: log start %d, %d records kept, %d removed; want at least 4 kept of 20", s.LogStart, s.Records, s.RetentionRemoved)
	}
}

// boom is a message the partition actor does not know: a programmer error, so it panics.
type boom struct{}

func TestPanickingActorIsStoppedNotRestarted(t *testing.T) {
	system := newSystem(t)
	root := guarded(t, system)
	victim := start(t, root, testConfig(t, t.TempDir(), storage.FsyncAlways))
	otherCfg := testConfig(t, t.TempDir(), storage.FsyncAlways)
	otherCfg.Partition = 1
	other := start(t, root, otherCfg)
	ctx := testContext(t)
	if _, err := victim.Produce(ctx, records(t, 1, "before"), protocol.AcksLeader); err != nil {
		t.Fatal(err)
	}

	system.Root.Send(victim.PID(), boom{})
	select {
	case <-victim.Done():
	case <-ctx.Done():
		t.Fatal("the panicking actor did not stop")
	}
	if err := victim.Err(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Err after the panic: %v, want ErrFailed", err)
	}
	if _, alive := system.ProcessRegistry.GetLocal(victim.PID().Id); alive {
		t.Fatal("the panicking actor is still registered: it was restarted, not stopped")
	}
	if _, err := victim.Produce(ctx, records(t, 1, "after"), protocol.AcksLeader); !errors.Is(err, ErrFailed) {
		t.Fatalf("produce to the failed partition: got %v, want ErrFailed", err)
	}
	if s := victim.Stats(); !s.Failed || s.Failure == "" {
		t.Fatalf("stats of the failed partition: %+v", s)
	}
	// The other partition keeps working.
	if produced, err := other.Produce(ctx, records(t, 1, "still"), protocol.AcksLeader); err != nil || produced.BaseOffset != 0 {
		t.Fatalf("produce to the healthy partition: %+v, %v", produced, err)
	}
}

// Negative control: under protoactor's default supervision the same panic restarts the actor.
// The partition still refuses to serve (its incarnation guard marks it failed), which shows both
// that the test above can tell a restart from a stop and that a restart never serves with a
// reset state.
func TestDefaultSupervisionWouldRestartButThePartitionRefuses(t *testing.T) {
	system := newSystem(t)
	p := start(t, system.Root, testConfig(t, t.TempDir(), storage.FsyncAlways))
	ctx := testContext(t)
	system.Root.Send(p.PID(), boom{})
	waitFor(t, "the panic to be recorded", func() bool { return p.Err() != nil })
	if _, err := p.Produce(ctx, records(t, 1, "x"), protocol.AcksLeader); !errors.Is(err, ErrFailed) {
		t.Fatalf("produce after a restart: got %v, want ErrFailed", err)
	}
	if _, alive := system.ProcessRegistry.GetLocal(p.PID().Id); !alive {
		t.Fatal("under the default strategy the actor should have been restarted, and so still be registered")
	}
}

func TestStopAnswersAndClosesTheLog(t *testing.T) {
	system := newSystem(t)
	dir := t.TempDir()
	p, err := Start(guarded(t, system), testConfig(t, dir, storage.FsyncAlways))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	var pending []*PendingProduce
	for i := range 20 {
		w, err := p.Submit(records(t, 1, fmt.Sprint(i)), protocol.AcksLeader)
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, w)
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// The poison pill comes after the produces: every one was appended and made durable.
	for i, w := range pending {
		if produced, err := w.Wait(ctx); err != nil || produced.BaseOffset != uint64(i) {
			t.Fatalf("produce %d: %+v, %v", i, produced, err)
		}
	}
	if _, err := p.Produce(ctx, records(t, 1, "late"), protocol.AcksLeader); !errors.Is(err, protocol.ErrShuttingDown) {
		t.Fatalf("produce after Stop: got %v, want ErrShuttingDown", err)
	}
	// The directory is free again, and the data is there.
	p2 := start(t, guarded(t, system), testConfig(t, dir, storage.FsyncAlways))
	if got := p2.log.LogEnd(); got != 20 {
		t.Fatalf("log end after a restart: %d, want 20", got)
	}
	if p2.Recovery().Unclean {
		t.Fatal("Stop did not close the log cleanly")
	}
}

// A leader whose log refuses a write (a failed fsync) fails, and its Leadership says at once
// that it leads nothing, so that its node stops announcing it as the leader (and announces the
// withdrawal) and clients and other nodes fail over. It used to go on saying IsLeader until its
// node restarted (the cluster simulator's finding 6: fsync-error seeds).
func TestFailedLeaderWithdrawsItsLeadership(t *testing.T) {
	system := newSystem(t)
	root := guarded(t, system)
	fsys := vfs.NewCrashFS()
	cfg := testConfig(t, "data/t-0", storage.FsyncAlways)
	cfg.Storage.FS = fsys
	p := start(t, root, cfg)
	ctx := testContext(t)
	if _, err := p.Produce(ctx, records(t, 1, "before"), protocol.AcksLeader); err != nil {
		t.Fatal(err)
	}
	before := p.Leadership()
	if !before.IsLeader || before.Failed || before.Withdrawn {
		t.Fatalf("leadership before the failure: %+v, want the leader", before)
	}

	errDisk := errors.New("injected: disk gone")
	fsys.InjectSyncError(errDisk, 1000)
	if _, err := p.Produce(ctx, records(t, 1, "lost"), protocol.AcksLeader); err == nil {
		t.Fatal("a produce whose fsync failed was acknowledged")
	}
	waitFor(t, "the partition to fail", func() bool { return p.Err() != nil })
	if err := p.Err(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Err: %v, want ErrFailed", err)
	}
	got := p.Leadership()
	if got.IsLeader || got.Leader != "" || !got.Failed || !got.Withdrawn || got.Epoch != before.Epoch {
		t.Fatalf("leadership after the failure: %+v, want IsLeader=false Leader=\"\" Failed Withdrawn in epoch %d",
			got, before.Epoch)
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		t.Fatal("the failed partition did not stop")
	}
	if got := p.Leadership(); got.IsLeader || !got.Withdrawn {
		t.Fatalf("leadership once stopped: %+v, want withdrawn", got)
	}
}
