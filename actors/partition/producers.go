package partition

import (
	"math"

	"github.com/shoalmq/shoal/protocol"
	"github.com/shoalmq/shoal/protocol/batch"
)

// producerTable is the idempotence state of one partition: per producer, the next expected
// sequence and the results of its most recent batches. It is owned by the actor (no locks) and
// does no I/O, so it is tested as a plain value.
type producerTable struct {
	windowBatches int
	maxProducers  int
	byID          map[int64]*producerState
}

// producerState is what one producer has appended.
type producerState struct {
	// nextSequence is the BaseSequence the producer's next new batch must carry.
	nextSequence int32
	// recent holds the last batches, oldest first; len(recent) <= windowBatches.
	recent []producedBatch
}

// producedBatch is one remembered batch: its sequence range and where it landed.
type producedBatch struct {
	baseSequence int32
	records      uint32
	result       Produced
}

func newProducerTable(windowBatches, maxProducers int) producerTable {
	return producerTable{windowBatches: windowBatches, maxProducers: maxProducers, byID: map[int64]*producerState{}}
}

// check decides what to do with a batch whose header is h: append it (found false, err nil),
// answer it as a duplicate of a batch already appended (found true), or refuse it (err wraps
// protocol.ErrInvalidArgument). Batches without a producer are always appended.
func (t *producerTable) check(h batch.Header) (dup Produced, found bool, err error) {
	if h.ProducerID == batch.NoProducer {
		return Produced{}, false, nil
	}
	if h.ProducerID < 0 || h.BaseSequence < 0 {
		return Produced{}, false, protocol.Errorf(protocol.ErrInvalidArgument,
			"producer id %d, base sequence %d: both must be >= 0 (producer id %d means none)", h.ProducerID, h.BaseSequence, batch.NoProducer)
	}
	state, known := t.byID[h.ProducerID]
	if !known {
		// A new producer, or one whose batches are older than the rebuilt window: start from
		// whatever sequence it sends.
		return Produced{}, false, nil
	}
	for _, b := range state.recent {
		if b.baseSequence != h.BaseSequence {
			continue
		}
		if b.records != h.RecordCount {
			return Produced{}, false, protocol.Errorf(protocol.ErrInvalidArgument,
				"producer %d: sequence %d was a batch of %d records, the retry has %d: a retry must resend the same batch",
				h.ProducerID, h.BaseSequence, b.records, h.RecordCount)
		}
		dup = b.result
		dup.Duplicate = true
		return dup, true, nil
	}
	if h.BaseSequence != state.nextSequence {
		return Produced{}, false, protocol.Errorf(protocol.ErrInvalidArgument,
			"producer %d: out-of-order sequence %d, expected %d (a gap means batches were lost; a lower sequence is older than the last %d batches and cannot be deduplicated)",
			h.ProducerID, h.BaseSequence, state.nextSequence, t.windowBatches)
	}
	return Produced{}, false, nil
}

// record remembers a batch the log holds (appended now, or found by the scan at start).
func (t *producerTable) record(h batch.Header, result Produced) {
	if h.ProducerID == batch.NoProducer || h.ProducerID < 0 || h.BaseSequence < 0 || h.IsControl() {
		return
	}
	state, known := t.byID[h.ProducerID]
	if !known {
		if len(t.byID) >= t.maxProducers {
			t.evictOldest()
		}
		state = &producerState{}
		t.byID[h.ProducerID] = state
	}
	if len(state.recent) == t.windowBatches {
		copy(state.recent, state.recent[1:])
		state.recent = state.recent[:len(state.recent)-1]
	}
	state.recent = append(state.recent, producedBatch{baseSequence: h.BaseSequence, records: h.RecordCount, result: result})
	state.nextSequence = nextSequence(h.BaseSequence, h.RecordCount)
}

// evictOldest forgets the producer whose last batch is the oldest in the log.
func (t *producerTable) evictOldest() {
	oldestID, oldestOffset := int64(0), uint64(math.MaxUint64)
	for id, state := range t.byID {
		if last := state.recent[len(state.recent)-1].result.BaseOffset; last < oldestOffset {
			oldestID, oldestOffset = id, last
		}
	}
	delete(t.byID, oldestID)
}

// len returns the number of producers remembered.
func (t *producerTable) len() int { return len(t.byID) }

// nextSequence is the sequence after a batch of records starting at base. Sequences wrap from
// math.MaxInt32 to 0, as Kafka's do.
func nextSequence(base int32, records uint32) int32 {
	return int32((int64(base) + int64(records)) % (math.MaxInt32 + 1))
}
