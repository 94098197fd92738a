// Tests of the simulated disk: writes as storage checks them, reads at batch boundaries, and
// crashes that lose exactly the unsynced tail (all of it, or the last batch when torn).
package simdisk

import (
	"errors"
	"testing"

	"github.com/shoalmq/shoal/actors/replication"
	"github.com/shoalmq/shoal/protocol/batch"
)

// data returns a batch of n records at base in epoch e.
func data(base replication.Offset, e replication.Epoch, n int) []byte {
	bld := batch.NewBuilder(256)
	bld.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
	for range n {
		if err := bld.Add(batch.ID{}, 0, nil, []byte("v"), nil); err != nil {
			panic(err)
		}
	}
	b, err := bld.Finish()
	if err != nil {
		panic(err)
	}
	out := append([]byte(nil), b...)
	batch.Stamp(out, uint64(base), uint64(e), batch.ID{Ms: uint64(base) + 1})
	return out
}

func appendAll(t *testing.T, l *Log, batches ...[]byte) {
	t.Helper()
	for _, b := range batches {
		if err := l.Apply(replication.LogWrite{Batch: b}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSimdiskWritesAndReads(t *testing.T) {
	l := &Log{}
	appendAll(t, l, data(0, 1, 2), data(2, 1, 1), data(3, 2, 3))
	if l.End() != 6 || l.Len() != 3 {
		t.Fatalf("end %d, %d batches", l.End(), l.Len())
	}
	if err := l.Apply(replication.LogWrite{Batch: data(9, 2, 1)}); !errors.Is(err, ErrRefused) {
		t.Fatalf("an append off the end: %v", err)
	}
	if err := l.Apply(replication.LogWrite{Truncate: true, To: 4}); !errors.Is(err, ErrRefused) {
		t.Fatalf("a truncation inside a batch: %v", err)
	}
	if _, err := l.Read(1, 1<<20); err == nil {
		t.Fatal("a read inside a batch")
	}
	one, err := l.Read(2, 1)
	if err != nil || len(one) != len(data(2, 1, 1)) {
		t.Fatalf("a read bounded below one batch returns one batch: %d bytes, %v", len(one), err)
	}
	all, err := l.Read(0, 1<<20)
	if err != nil || len(all) != len(data(0, 1, 2))+len(data(2, 1, 1))+len(data(3, 2, 3)) {
		t.Fatalf("read all: %d bytes, %v", len(all), err)
	}
	if h := l.History(); len(h) != 2 || h[1] != (replication.EpochStart{Epoch: 2, Start: 3}) {
		t.Fatalf("history %v", h)
	}
	if i := l.Find(4); i != 2 {
		t.Fatalf("Find(4) = %d, want 2", i)
	}
	if err := l.Apply(replication.LogWrite{Truncate: true, To: 2}); err != nil || l.End() != 2 {
		t.Fatalf("truncate to 2: end %d, %v", l.End(), err)
	}
}

func TestSimdiskCrash(t *testing.T) {
	cases := []struct {
		name     string
		torn     bool
		wantEnd  replication.Offset
		wantLost replication.Offset
	}{
		{"power loss drops every unsynced batch", false, 2, 2},
		{"a torn write drops the last one", true, 3, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := &Log{}
			appendAll(t, l, data(0, 1, 2))
			l.Sync()
			appendAll(t, l, data(2, 1, 1), data(3, 1, 3))
			if l.Unsynced() != 2 || l.SyncedEnd() != 2 {
				t.Fatalf("unsynced %d, synced end %d", l.Unsynced(), l.SyncedEnd())
			}
			lost := l.Crash(c.torn)
			if l.End() != c.wantEnd || lost.From != c.wantLost || lost.To != 6 || l.Unsynced() != 0 {
				t.Fatalf("end %d, lost [%d,%d), unsynced %d", l.End(), lost.From, lost.To, l.Unsynced())
			}
		})
	}
	l := &Log{}
	appendAll(t, l, data(0, 1, 1))
	l.Sync()
	if lost := l.Crash(false); lost.To != lost.From || l.End() != 1 {
		t.Fatalf("a synced log lost [%d,%d)", lost.From, lost.To)
	}
}
