// The producer table without an actor or a log: a scenario table of batches (producer,
// sequence, record count) and what each one must get: appended, answered as a duplicate of an
// earlier one, or refused.
package partition

import (
	"errors"
	"math"
	"testing"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
)

func header(producer int64, seq int32, records uint32) batch.Header {
	return batch.Header{ProducerID: producer, BaseSequence: seq, RecordCount: records}
}

func TestProducerTableScenarios(t *testing.T) {
	type step struct {
		h       batch.Header
		want    string // "append", "dup@<base offset>", "refuse"
		comment string
	}
	steps := []step{
		{header(batch.NoProducer, 0, 5), "append", "no producer: always appended"},
		{header(batch.NoProducer, 0, 5), "append", "no producer: no deduplication"},
		{header(1, 7, 2), "append", "an unknown producer may start anywhere"},
		{header(1, 9, 3), "append", "the next sequence"},
		{header(1, 7, 2), "dup@10", "a retry of an earlier batch in the window"},
		{header(1, 9, 3), "dup@12", "a retry of the last batch"},
		{header(1, 9, 4), "refuse", "a retry with another record count"},
		{header(1, 20, 1), "refuse", "a gap"},
		{header(1, 3, 1), "refuse", "older than the window"},
		{header(1, 12, 1), "append", "the next sequence after refusals"},
		{header(2, 0, 1), "append", "a second producer is independent"},
		{header(-7, 0, 1), "refuse", "a negative producer id"},
	}
	table := newProducerTable(4, 100)
	nextOffset := uint64(0)
	for i, s := range steps {
		dup, found, err := table.check(s.h)
		var got string
		switch {
		case err != nil:
			got = "refuse"
			if !errors.Is(err, protocol.ErrInvalidArgument) {
				t.Errorf("step %d (%s): error %v does not wrap ErrInvalidArgument", i, s.comment, err)
			}
		case found:
			got = "dup@" + itoa(dup.BaseOffset)
		default:
			got = "append"
			table.record(s.h, Produced{BaseOffset: nextOffset, NextOffset: nextOffset + uint64(s.h.RecordCount)})
			nextOffset += uint64(s.h.RecordCount)
		}
		if got != s.want {
			t.Errorf("step %d (%s): got %s, want %s", i, s.comment, got, s.want)
		}
	}
}

func itoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v /= 10 {
		b = append([]byte{byte('0' + v%10)}, b...)
	}
	return string(b)
}

func TestProducerTableWindowAndBound(t *testing.T) {
	table := newProducerTable(2, 2)
	for seq := int32(0); seq < 4; seq++ {
		table.record(header(1, seq, 1), Produced{BaseOffset: uint64(seq)})
	}
	if _, found, _ := table.check(header(1, 1, 1)); found {
		t.Fatal("a batch older than the window was still deduplicated")
	}
	if dup, found, _ := table.check(header(1, 3, 1)); !found || dup.BaseOffset != 3 {
		t.Fatalf("the last batch: found %v at %d", found, dup.BaseOffset)
	}
	table.record(header(2, 0, 1), Produced{BaseOffset: 10})
	table.record(header(3, 0, 1), Produced{BaseOffset: 11}) // evicts producer 1 (oldest offset)
	if table.len() != 2 {
		t.Fatalf("%d producers, want the bound 2", table.len())
	}
	if _, found, err := table.check(header(1, 3, 1)); found || err != nil {
		t.Fatalf("an evicted producer: found %v, err %v; want a fresh start", found, err)
	}
}

func TestNextSequenceWraps(t *testing.T) {
	for _, tc := range []struct {
		base    int32
		records uint32
		want    int32
	}{
		{0, 1, 1},
		{10, 5, 15},
		{math.MaxInt32, 1, 0},
		{math.MaxInt32 - 1, 3, 1},
	} {
		if got := nextSequence(tc.base, tc.records); got != tc.want {
			t.Errorf("nextSequence(%d, %d) = %d, want %d", tc.base, tc.records, got, tc.want)
		}
	}
}
