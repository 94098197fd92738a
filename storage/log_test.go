package storage

// Method: one behaviour suite runs over every durability policy (always, interval, never) on real
// files in t.TempDir(). Each test drives the public API and compares what readers see with what
// was appended, or with a naive model (a slice of every record) for the lookups.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage/vfs"
)

var policies = []Policy{FsyncAlways, FsyncInterval, FsyncNever}

// forEachPolicy runs the test once per durability policy, on a fresh directory each time.
func forEachPolicy(t *testing.T, test func(t *testing.T, cfg Config)) {
	for _, p := range policies {
		t.Run(p.String(), func(t *testing.T) {
			test(t, testConfig(t, vfs.OS(), t.TempDir(), p))
		})
	}
}

// fill appends batches of auto-id records: batch i has size sizes[i%len(sizes)] and ms now+i.
func fill(t *testing.T, l *Log, batches int, sizes ...int) int {
	t.Helper()
	seq := 0
	for i := range batches {
		n := sizes[i%len(sizes)]
		appendDurably(t, l, autoBatch(t, seq, n, int64(10_000+i)), 1, uint64(1000+i))
		seq += n
	}
	return seq
}

func checkSequential(t *testing.T, got []seen, first, count int) {
	t.Helper()
	if len(got) != count {
		t.Fatalf("read %d records, want %d", len(got), count)
	}
	for i, r := range got {
		if want := string(valueFor(first + i)); r.offset != uint64(first+i) || r.value != want {
			t.Fatalf("record %d: offset %d value %q, want %d %q", i, r.offset, r.value, first+i, want)
		}
	}
}

func TestAppendAndReadBackAcrossSegments(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, cfg Config) {
		l, _ := openLog(t, cfg)
		n := fill(t, l, 120, 1, 7, 30)
		if len(l.segments) < 3 {
			t.Fatalf("%d segments, want several (rolls by size)", len(l.segments))
		}
		checkSequential(t, readAllFrom(t, l, 0), 0, n)
		// From the middle of a batch: the reader sees exactly the records from there on.
		checkSequential(t, readAllFrom(t, l, uint64(n/2+3)), n/2+3, n-(n/2+3))
		if l.LogEnd() != uint64(n) || l.Len() != uint64(n) || l.LogStart() != 0 {
			t.Fatalf("end %d len %d start %d, want %d %d 0", l.LogEnd(), l.Len(), l.LogStart(), n, n)
		}
	})
}

func TestReadBoundaries(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, cfg Config) {
		l, _ := openLog(t, cfg)
		fill(t, l, 10, 5) // batches of 5: offsets 0..49
		res, err := l.Read(7, 1, 50, nil)
		if err != nil || res.Next != 10 || len(res.Data) == 0 {
			t.Fatalf("Read(7, budget 1): next %d, %d bytes, %v; want the one batch 5..9", res.Next, len(res.Data), err)
		}
		if res, err = l.Read(0, 1<<20, 22, nil); err != nil || res.Next != 20 {
			t.Fatalf("Read up to 22: next %d, %v; want 20 (whole batches below upTo)", res.Next, err)
		}
		if res, err = l.Read(50, 1<<20, 50, nil); err != nil || len(res.Data) != 0 || res.Next != 50 {
			t.Fatalf("Read at the end: %d bytes next %d, %v", len(res.Data), res.Next, err)
		}
		if _, err = l.Read(51, 1<<20, 60, nil); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("Read past the end: %v, want ErrOutOfRange", err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err = l.Read(0, 1, 50, nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("Read after Close: %v, want ErrClosed", err)
		}
		if _, err = l.Append(autoBatch(t, 0, 1, 0), 1, 1); !errors.Is(err, ErrClosed) {
			t.Fatalf("Append after Close: %v, want ErrClosed", err)
		}
	})
}

func TestExplicitAndAutoIDs(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, cfg Config) {
		l, _ := openLog(t, cfg)
		appendDurably(t, l, explicitBatch(t, 1, batch.ID{Ms: 5, Seq: 1}, batch.ID{Ms: 5, Seq: 2}), 1, 0)
		_, err := l.Append(explicitBatch(t, 1, batch.ID{Ms: 5, Seq: 2}), 1, 0)
		if err == nil || err.Error() != "ERR The ID specified in XADD is equal or smaller than the target stream top item" {
			t.Fatalf("equal explicit id: got %v, want Redis's XADD error", err)
		}
		if l.LogEnd() != 2 {
			t.Fatalf("a refused append moved the log end to %d", l.LogEnd())
		}
		// The clock is behind the last id: auto ids continue from it instead of going back.
		a := appendDurably(t, l, autoBatch(t, 0, 3, 1), 1, 4)
		if a.FirstID != (batch.ID{Ms: 5, Seq: 3}) || a.LastID != (batch.ID{Ms: 5, Seq: 5}) {
			t.Fatalf("auto ids with the clock behind: %v..%v, want 5-3..5-5", a.FirstID, a.LastID)
		}
		a = appendDurably(t, l, autoBatch(t, 0, 1, 1), 1, 9)
		if a.FirstID != (batch.ID{Ms: 9}) || l.LastID() != (batch.ID{Ms: 9}) {
			t.Fatalf("auto id with the clock ahead: %v (last %v), want 9-0", a.FirstID, l.LastID())
		}
	})
}

func TestRejectsBadBatchesAndKeepsTheLog(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, cfg Config) {
		l, _ := openLog(t, cfg)
		fill(t, l, 3, 2)
		big := make([]byte, cfg.MaxRecordBytes+1)
		cases := []struct {
			name string
			b    []byte
			want error
		}{
			{"record too large", buildOne(t, nil, big), ErrTooLarge},
			{"key too large", buildOne(t, make([]byte, cfg.MaxKeyBytes+1), nil), ErrTooLarge},
			{"batch too large", make([]byte, cfg.MaxBatchBytes+1), ErrTooLarge},
			{"garbage", []byte("not a batch at all, not even close to one"), ErrCorrupt},
			{"bad crc", flipped(autoBatch(t, 0, 2, 0), batch.HeaderSize+3), ErrCorrupt},
		}
		for _, tc := range cases {
			if _, err := l.Append(tc.b, 1, 5); !errors.Is(err, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
			}
		}
		if l.LogEnd() != 6 || l.Err() != nil {
			t.Fatalf("after refused appends: end %d, err %v; want 6, nil", l.LogEnd(), l.Err())
		}
		checkSequential(t, readAllFrom(t, l, 0), 0, 6)
	})
}

func buildOne(t *testing.T, key, value []byte) []byte {
	b := batch.NewBuilder(0)
	b.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
	if err := b.Add(batch.ID{}, 0, key, value, nil); err != nil {
		t.Fatal(err)
	}
	out, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func flipped(b []byte, at int) []byte {
	b[at] ^= 0xff
	return b
}

func TestReopenAfterCleanCloseIsIdentical(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, cfg Config) {
		l, _ := openLog(t, cfg)
		n := fill(t, l, 60, 3, 11)
		if _, err := l.Delete([]batch.ID{{Ms: 1001, Seq: 0}}, 1, 0); err != nil {
			t.Fatal(err)
		}
		before := readAllFrom(t, l, 0)
		end, last, length := l.LogEnd(), l.LastID(), l.Len()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2, rec := openLog(t, cfg)
		if rec.Unclean || rec.Cut.Bytes != 0 || len(rec.RebuiltIndexes) != 0 {
			t.Fatalf("clean reopen reported %+v", rec)
		}
		if l2.LogEnd() != end || l2.LastID() != last || l2.Len() != length || length != uint64(n-1) {
			t.Fatalf("reopened: end %d last %v len %d; want %d %v %d", l2.LogEnd(), l2.LastID(), l2.Len(), end, last, length)
		}
		if after := readAllFrom(t, l2, 0); !slices.Equal(after, before) {
			t.Fatalf("reopened log reads differently:\n got %v\nwant %v", after, before)
		}
	})
}

// TestLookupsAgreeWithNaiveModel compares OffsetForID and OffsetForTime with a linear search over
// every record, for ids and times below, between, on and above the records.
func TestLookupsAgreeWithNaiveModel(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, cfg Config) {
		l, _ := openLog(t, cfg)
		var model []seen
		var times []int64
		for i := range 80 {
			ts := int64(1000 + 10*i - 25*(i%3)) // timestamps that go back now and then
			ids := []batch.ID{{Ms: uint64(100 + 2*i), Seq: 0}, {Ms: uint64(100 + 2*i), Seq: 5}}
			a := appendDurably(t, l, explicitBatch(t, ts, ids...), 1, 0)
			for j, id := range ids {
				model = append(model, seen{offset: a.BaseOffset + uint64(j), id: id})
				times = append(times, ts)
			}
		}
		for ms := uint64(95); ms < 270; ms++ {
			for _, seq := range []uint64{0, 3, 5, 6} {
				id := batch.ID{Ms: ms, Seq: seq}
				want := uint64(len(model))
				for _, r := range model {
					if !r.id.Less(id) {
						want = r.offset
						break
					}
				}
				if got, err := l.OffsetForID(id); err != nil || got != want {
					t.Fatalf("OffsetForID(%v) = %d, %v; want %d", id, got, err, want)
				}
			}
		}
		for ms := int64(900); ms < 1900; ms += 7 {
			want := uint64(len(model))
			for i, ts := range times {
				if ts >= ms {
					want = uint64(i)
					break
				}
			}
			if got, err := l.OffsetForTime(ms); err != nil || got != want {
				t.Fatalf("OffsetForTime(%d) = %d, %v; want %d", ms, got, err, want)
			}
		}
	})
}

func TestTruncateSuffix(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, cfg Config) {
		l, _ := openLog(t, cfg)
		fill(t, l, 40, 10) // 400 records over several segments, epoch 1
		appendDurably(t, l, autoBatch(t, 400, 10, 0), 2, 5000)
		if err := l.Truncate(205); !errors.Is(err, ErrNotBatchBoundary) {
			t.Fatalf("Truncate inside a batch: %v, want ErrNotBatchBoundary", err)
		}
		if err := l.Truncate(200); err != nil {
			t.Fatalf("Truncate(200): %v", err)
		}
		if l.LogEnd() != 200 || l.LastEpoch() != 1 || l.LastID() != (batch.ID{Ms: 1019, Seq: 9}) {
			t.Fatalf("after truncate: end %d epoch %d last id %v; want 200, 1, 1019-9", l.LogEnd(), l.LastEpoch(), l.LastID())
		}
		// Appending continues at the cut, and a reopened log agrees.
		appendDurably(t, l, autoBatch(t, 200, 5, 0), 3, 6000)
		checkSequential(t, readAllFrom(t, l, 0), 0, 205)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2, _ := openLog(t, cfg)
		checkSequential(t, readAllFrom(t, l2, 0), 0, 205)
		if got := l2.Epochs(); !slices.Equal(got, []EpochStart{{1, 0}, {3, 200}}) {
			t.Fatalf("epoch history %v, want [{1 0} {3 200}]", got)
		}
		if err := l2.Truncate(500); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("Truncate past the end: %v, want ErrOutOfRange", err)
		}
	})
}

func TestEpochsAndPromises(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, cfg Config) {
		l, _ := openLog(t, cfg)
		appendDurably(t, l, autoBatch(t, 0, 2, 0), 3, 1)
		if _, err := l.Append(autoBatch(t, 2, 1, 0), 2, 2); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("append in an older epoch: %v, want ErrStaleEpoch", err)
		}
		if err := l.Promise(7); err != nil {
			t.Fatal(err)
		}
		if err := l.Promise(6); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("lower promise: %v, want ErrStaleEpoch", err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2, _ := openLog(t, cfg)
		if l2.PromisedEpoch() != 7 || l2.LastEpoch() != 3 {
			t.Fatalf("after reopen: promised %d last epoch %d, want 7 and 3", l2.PromisedEpoch(), l2.LastEpoch())
		}
	})
}

func TestDeleteSkipsRecordsAndSurvivesReopen(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, cfg Config) {
		l, _ := openLog(t, cfg)
		fill(t, l, 30, 10)
		// Ids of fill: batch i has ms 1000+i and seqs 0..9.
		n, err := l.Delete([]batch.ID{{Ms: 1000, Seq: 3}, {Ms: 1020, Seq: 9}, {Ms: 1020, Seq: 9}, {Ms: 7, Seq: 7}}, 1, 0)
		if err != nil || n != 2 {
			t.Fatalf("Delete: %d, %v; want 2 deleted", n, err)
		}
		if n, _ := l.Delete([]batch.ID{{Ms: 1000, Seq: 3}}, 1, 0); n != 0 {
			t.Fatalf("deleting again counted %d", n)
		}
		check := func(l *Log) {
			got := readAllFrom(t, l, 0)
			if len(got) != 298 || l.Len() != 298 {
				t.Fatalf("read %d records, Len %d; want 298", len(got), l.Len())
			}
			for _, r := range got {
				if r.offset == 3 || r.offset == 209 {
					t.Fatalf("deleted record at offset %d was read", r.offset)
				}
			}
		}
		check(l)
		fill(t, l, 30, 10) // roll segments so the tombstones are checkpointed too
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2, _ := openLog(t, cfg)
		if l2.Len() != 598 {
			t.Fatalf("Len after reopen: %d, want 598", l2.Len())
		}
	})
}

func TestTrim(t *testing.T) {
	cases := []struct {
		name        string
		trim        Trim
		wantRemoved uint64
		wantLen     uint64
	}{
		{"exact maxlen", Trim{MaxLen: 123}, 377, 123},
		{"exact maxlen above length", Trim{MaxLen: 1000}, 0, 500},
		{"exact maxlen zero", Trim{MaxLen: 0}, 500, 0},
		{"exact minid", Trim{ByMinID: true, MinID: batch.ID{Ms: 1010, Seq: 4}}, 104, 396},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachPolicy(t, func(t *testing.T, cfg Config) {
				l, _ := openLog(t, cfg)
				fill(t, l, 50, 10)
				removed, err := l.Trim(tc.trim)
				if err != nil || removed != tc.wantRemoved || l.Len() != tc.wantLen {
					t.Fatalf("Trim: removed %d (err %v), Len %d; want %d, %d", removed, err, l.Len(), tc.wantRemoved, tc.wantLen)
				}
				got := readAllFrom(t, l, l.LogStart())
				checkSequential(t, got, 500-int(tc.wantLen), int(tc.wantLen))
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				l2, _ := openLog(t, cfg)
				if l2.Len() != tc.wantLen || l2.LastID() != (batch.ID{Ms: 1049, Seq: 9}) {
					t.Fatalf("after reopen: Len %d last id %v, want %d and 1049-9", l2.Len(), l2.LastID(), tc.wantLen)
				}
			})
		})
	}
}

// TestPlanTrimThenTrimToMatchesTrim: the replicated trim (plan on the leader, TrimTo on every
// replica) removes what a direct Trim removes, and never passes the commit point it is given.
func TestPlanTrimThenTrimToMatchesTrim(t *testing.T) {
	trims := []Trim{{MaxLen: 123}, {MaxLen: 1000}, {MaxLen: 0}, {ByMinID: true, MinID: batch.ID{Ms: 1010, Seq: 4}},
		{MaxLen: 100, Approx: true}, {ByMinID: true, MinID: batch.ID{Ms: 1040}, Approx: true}}
	for _, tr := range trims {
		t.Run(fmt.Sprintf("%+v", tr), func(t *testing.T) {
			cfg := testConfig(t, vfs.OS(), t.TempDir(), FsyncNever)
			direct, _ := openLog(t, cfg)
			fill(t, direct, 50, 10)
			if _, err := direct.Delete([]batch.ID{{Ms: 1049, Seq: 9}, {Ms: 1000, Seq: 3}}, 1, 0); err != nil {
				t.Fatal(err)
			}
			wantRemoved, err := direct.Trim(tr)
			if err != nil {
				t.Fatal(err)
			}
			cfg2 := testConfig(t, vfs.OS(), t.TempDir(), FsyncNever)
			l, _ := openLog(t, cfg2)
			fill(t, l, 50, 10)
			if _, del := l.Delete([]batch.ID{{Ms: 1049, Seq: 9}, {Ms: 1000, Seq: 3}}, 1, 0); del != nil {
				t.Fatal(del)
			}
			start, removed, err := l.PlanTrim(tr, l.LogEnd())
			if err != nil || removed != wantRemoved || start != direct.LogStart() {
				t.Fatalf("PlanTrim: start %d removed %d (err %v); Trim moved the start to %d and removed %d",
					start, removed, err, direct.LogStart(), wantRemoved)
			}
			if l.LogStart() != 0 {
				t.Fatalf("PlanTrim changed the log start to %d", l.LogStart())
			}
			got, err := l.TrimTo(start)
			if err != nil || got != removed || l.LogStart() != start {
				t.Fatalf("TrimTo(%d): removed %d (err %v), log start %d; want %d removed", start, got, err, l.LogStart(), removed)
			}
			st := l.StreamStats()
			if st.Added != 500 || st.Len != 498-removed || st.LastID != (batch.ID{Ms: 1049, Seq: 9}) {
				t.Fatalf("StreamStats after the trim: %+v; want 500 added, %d long, last id 1049-9", st, 498-removed)
			}
			// Capped by the commit point and the log end.
			for _, upTo := range []uint64{start + 7, l.LogEnd() + 10} {
				capped, _, err := l.PlanTrim(Trim{MaxLen: 0}, upTo)
				if want := min(upTo, l.LogEnd()); err != nil || capped != want {
					t.Fatalf("PlanTrim up to %d: start %d (err %v), want %d", upTo, capped, err, want)
				}
			}
		})
	}
}

func TestApproximateTrimRemovesWholeSegmentsOnly(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, cfg Config) {
		l, _ := openLog(t, cfg)
		fill(t, l, 50, 10)
		segments := len(l.segments)
		removed, err := l.Trim(Trim{MaxLen: 100, Approx: true})
		if err != nil || l.Len() < 100 || removed == 0 || l.Len()+removed != 500 {
			t.Fatalf("approx trim: removed %d, Len %d, err %v; want some removed and Len >= 100", removed, l.Len(), err)
		}
		if l.LogStart() != l.segments[0].baseOffset || len(l.segments) >= segments {
			t.Fatalf("log start %d is not a segment base %d, or no segment went (%d -> %d)",
				l.LogStart(), l.segments[0].baseOffset, segments, len(l.segments))
		}
		removed, err = l.Trim(Trim{ByMinID: true, MinID: batch.ID{Ms: 1045}, Approx: true})
		if err != nil || l.Len() < 50 || l.LogStart() != l.segments[0].baseOffset {
			t.Fatalf("approx minid: removed %d, Len %d, start %d, err %v", removed, l.Len(), l.LogStart(), err)
		}
	})
}

func TestRetention(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, cfg Config) {
		cfg.Retention = Retention{MaxBytes: 20 << 10}
		l, _ := openLog(t, cfg)
		fill(t, l, 100, 10) // ~ 30 KiB in 8 KiB segments, timestamps 10000+i
		if _, err := l.EnforceRetention(0); err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, s := range l.segments {
			total += s.size
		}
		if total < 20<<10-int64(cfg.SegmentBytes) || total > 20<<10+int64(cfg.SegmentBytes) {
			t.Fatalf("after bytes retention: %d bytes, want about %d", total, 20<<10)
		}
		l.cfg.Retention = Retention{MaxAge: time.Millisecond * 10}
		// Every record has a timestamp below 10100: at 10105 the ones below 10095 expire.
		if _, err := l.EnforceRetention(10105); err != nil {
			t.Fatal(err)
		}
		got := readAllFrom(t, l, l.LogStart())
		if len(got) == 0 || len(got) > 100 {
			t.Fatalf("after age retention %d records remain, want the last few batches", len(got))
		}
		l.cfg.Retention = Retention{MaxAge: time.Millisecond}
		if removed, err := l.EnforceRetention(1 << 40); err != nil || l.Len() != 0 || removed == 0 {
			t.Fatalf("everything expired: removed %d, Len %d, %v", removed, l.Len(), err)
		}
		a := appendDurably(t, l, autoBatch(t, 0, 1, 1<<40), 1, 1)
		if a.BaseOffset != 1000 || !(batch.ID{Ms: 1099, Seq: 9}).Less(a.FirstID) {
			t.Fatalf("append after full retention: %+v; offsets and ids must go on", a)
		}
	})
}

func TestSegmentRollsByAge(t *testing.T) {
	clock := &testClock{now: time.Unix(1000, 0)}
	cfg := testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways)
	cfg.SegmentAge, cfg.Now = time.Minute, clock.Now
	l, _ := openLog(t, cfg)
	appendDurably(t, l, autoBatch(t, 0, 1, 0), 1, 1)
	clock.now = clock.now.Add(59 * time.Second)
	appendDurably(t, l, autoBatch(t, 1, 1, 0), 1, 1)
	if len(l.segments) != 1 {
		t.Fatalf("%d segments before the age limit, want 1", len(l.segments))
	}
	clock.now = clock.now.Add(time.Second)
	appendDurably(t, l, autoBatch(t, 2, 1, 0), 1, 1)
	if len(l.segments) != 2 || l.segments[1].baseOffset != 2 {
		t.Fatalf("after a minute: %d segments, want a new one at offset 2", len(l.segments))
	}
}

// TestReplicaCopyIsByteIdentical copies a leader's batches to a follower with AppendReplica:
// the follower's files hold the same bytes.
func TestReplicaCopyIsByteIdentical(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, cfg Config) {
		leader, _ := openLog(t, cfg)
		fill(t, leader, 30, 4, 9)
		cfg2 := cfg
		cfg2.Dir = t.TempDir()
		follower, _ := openLog(t, cfg2)
		var leaderBytes []byte
		for from := uint64(0); from < leader.LogEnd(); {
			res, err := leader.Read(from, 1, leader.LogEnd(), nil)
			if err != nil {
				t.Fatal(err)
			}
			leaderBytes = append(leaderBytes, res.Data...)
			if _, err := follower.AppendReplica(append([]byte(nil), res.Data...)); err != nil {
				t.Fatalf("AppendReplica at %d: %v", from, err)
			}
			from = res.Next
		}
		res, _ := leader.Read(0, 1, leader.LogEnd(), nil)
		if _, err := follower.AppendReplica(append([]byte(nil), res.Data...)); !errors.Is(err, ErrOffsetMismatch) {
			t.Fatalf("replaying an old batch: %v, want ErrOffsetMismatch", err)
		}
		var followerBytes []byte
		for from := uint64(0); from < follower.LogEnd(); {
			res, err := follower.Read(from, 1, follower.LogEnd(), nil)
			if err != nil {
				t.Fatal(err)
			}
			followerBytes, from = append(followerBytes, res.Data...), res.Next
		}
		if string(followerBytes) != string(leaderBytes) || follower.LastID() != leader.LastID() {
			t.Fatalf("follower differs from leader (%d vs %d bytes)", len(followerBytes), len(leaderBytes))
		}
	})
}

func TestDurabilityReporting(t *testing.T) {
	forEachPolicy(t, func(t *testing.T, cfg Config) {
		reports := make(chan uint64, 1000)
		cfg.OnDurable = func(end uint64) { reports <- end }
		l, _ := openLog(t, cfg)
		a, err := l.Append(autoBatch(t, 0, 3, 0), 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Fsync != FsyncAlways && l.DurableEnd() != 3 {
			t.Fatalf("%v: DurableEnd %d right after the append, want 3", cfg.Fsync, l.DurableEnd())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.WaitDurable(ctx, a.NextOffset); err != nil {
			t.Fatal(err)
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		if l.SyncedEnd() != 3 {
			t.Fatalf("SyncedEnd %d after Sync, want 3", l.SyncedEnd())
		}
		select {
		case got := <-reports:
			if got != 3 {
				t.Fatalf("OnDurable(%d), want 3", got)
			}
		case <-ctx.Done():
			t.Fatal("OnDurable was not called")
		}
	})
}

func TestConfigValidation(t *testing.T) {
	err := Config{Fsync: Policy(9), SegmentBytes: -1, MaxKeyBytes: -5}.Validate()
	for _, want := range []string{"Dir is empty", "unknown fsync policy", "SegmentBytes", "negative limit"} {
		if err == nil || !containsString(err.Error(), want) {
			t.Errorf("Validate: %v; want a message about %q", err, want)
		}
	}
	if _, err := ParsePolicy("sometimes"); err == nil {
		t.Error("ParsePolicy accepted sometimes")
	}
	for _, p := range policies {
		if got, err := ParsePolicy(p.String()); err != nil || got != p {
			t.Errorf("ParsePolicy(%q) = %v, %v", p.String(), got, err)
		}
	}
}

func containsString(s, sub string) bool { return strings.Contains(s, sub) }

func ExampleLog() {
	dir, _ := osMkdirTemp()
	defer os.RemoveAll(dir)
	l, _, err := Open(Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	b := batch.NewBuilder(0)
	b.Reset(batch.Options{AutoID: true, ProducerID: batch.NoProducer})
	_ = b.Add(batch.ID{}, 1700000000000, []byte("k"), []byte("hello"), nil)
	data, _ := b.Finish()
	a, _ := l.Append(data, 1, 1700000000000)
	_ = l.WaitDurable(context.Background(), a.NextOffset)
	res, _ := l.Read(0, 1<<20, l.LogEnd(), nil)
	rs := res.Records()
	for rs.Next() {
		r := rs.Record()
		fmt.Println(r.Offset, r.ID, string(r.Value))
	}
	// Output: 0 1700000000000-0 hello
}

func TestOnDurableHearsSyncsMadeByTrim(t *testing.T) {
	cfg := testConfig(t, vfs.OS(), t.TempDir(), FsyncInterval)
	cfg.FsyncInterval = time.Hour // only the trim syncs
	var reported []uint64
	cfg.OnDurable = func(end uint64) { reported = append(reported, end) }
	l, _ := openLog(t, cfg)
	if _, err := l.Append(autoBatch(t, 0, 10, 1000), 1, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Trim(Trim{MaxLen: 5}); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if l.SyncedEnd() != 10 || !slices.Equal(reported, []uint64{10}) {
		t.Fatalf("SyncedEnd %d, OnDurable reports %v; want 10 and [10]", l.SyncedEnd(), reported)
	}
}

func TestOnFsyncReportsEachSync(t *testing.T) {
	cfg := testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways)
	var syncs atomic.Int64
	cfg.OnFsync = func(d time.Duration) {
		if d >= 0 {
			syncs.Add(1)
		}
	}
	l, _ := openLog(t, cfg)
	appendDurably(t, l, autoBatch(t, 0, 1, 0), 1, 1)
	if syncs.Load() == 0 {
		t.Fatal("OnFsync was not called for a durable append")
	}
}

func TestWaitDurableFailsForATruncatedBatch(t *testing.T) {
	cfg := testConfig(t, vfs.NewCrashFS(), "/p", FsyncAlways)
	l, _ := openLog(t, cfg)
	appendDurably(t, l, autoBatch(t, 0, 2, 0), 1, 1)
	a, err := l.Append(autoBatch(t, 2, 2, 0), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(2); err != nil {
		t.Fatal(err)
	}
	appendDurably(t, l, autoBatch(t, 2, 2, 0), 2, 3) // other data at the same offsets
	if err := l.WaitAppended(context.Background(), a); !errors.Is(err, ErrTruncated) {
		t.Fatalf("WaitDurable for a truncated batch: %v, want ErrTruncated", err)
	}
}

func TestBatchLargerThanASegmentGetsOneOfItsOwn(t *testing.T) {
	cfg := testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways)
	cfg.SegmentBytes = 256
	l, _ := openLog(t, cfg)
	fill(t, l, 3, 30) // each batch is well over 256 bytes
	if len(l.segments) != 3 {
		t.Fatalf("%d segments, want one per oversized batch", len(l.segments))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, _ := openLog(t, cfg)
	checkSequential(t, readAllFrom(t, l2, 0), 0, 90)
}

// TestSetID: XSETID raises the last id (later auto ids and explicit ids go above it), sets
// entries-added (which then goes on counting) and the max deleted id, survives a reopen, a
// crash-style reopen that rescans the log, and is undone by a truncation below it.
func TestSetID(t *testing.T) {
	cfg := testConfig(t, vfs.OS(), t.TempDir(), FsyncAlways)
	l, _ := openLog(t, cfg)
	fill(t, l, 2, 5) // ids 1000-0..4 and 1001-0..4
	if _, err := l.SetID(batch.SetIDValue{LastID: batch.ID{Ms: 1001, Seq: 3}, EntriesAdded: -1}, 1, 0); !errors.Is(err, ErrSetIDTooSmall) {
		t.Fatalf("XSETID below the last id: %v", err)
	}
	if _, err := l.SetID(batch.SetIDValue{LastID: batch.ID{Ms: 5000}, EntriesAdded: 3}, 1, 0); !errors.Is(err, ErrSetIDEntriesAdded) {
		t.Fatalf("XSETID entries-added below the length: %v", err)
	}
	cut := l.LogEnd()
	v := batch.SetIDValue{LastID: batch.ID{Ms: 5000, Seq: 7}, EntriesAdded: 100, MaxDeletedID: batch.ID{Ms: 4000}}
	if _, err := l.SetID(v, 1, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(explicitBatch(t, 0, batch.ID{Ms: 5000, Seq: 7}), 1, 1); !errors.Is(err, ErrIDNotIncreasing) {
		t.Fatalf("an explicit id equal to the set id: %v", err)
	}
	got, err := l.Append(autoBatch(t, 0, 1, 0), 1, 10) // the clock (10 ms) is far below the set id
	if err != nil || !(batch.ID{Ms: 5000, Seq: 7}).Less(got.FirstID) {
		t.Fatalf("auto id after XSETID: %v (err %v)", got.FirstID, err)
	}
	check := func(when string, l *Log) {
		t.Helper()
		st := l.StreamStats()
		if st.Added != 101 || st.SetMaxDeletedID != v.MaxDeletedID || !(batch.ID{Ms: 5000, Seq: 7}).Less(st.LastID) {
			t.Fatalf("%s: %+v; want 101 added, max deleted 4000-0, last id above 5000-7", when, st)
		}
	}
	check("after the append", l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, _ := openLog(t, cfg)
	check("after a reopen", l2)
	if err := l2.Truncate(cut); err != nil {
		t.Fatal(err)
	}
	if st := l2.StreamStats(); st.LastID != (batch.ID{Ms: 1001, Seq: 4}) || st.Added != 10 {
		t.Fatalf("after truncating the XSETID away: %+v; want last id 1001-4, 10 added", st)
	}
}
