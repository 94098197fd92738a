package replication

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/shoalmq/shoal/protocol/batch"
)

// memLog is a replica's log in memory for the scenario tests: stored batches, how many of them
// are synced (a crash loses the rest when asked to), and the promised epoch (always durable).
type memLog struct {
	batches  [][]byte
	bases    []Offset
	end      Offset
	synced   int // batches[:synced] are on "disk"
	promised Epoch
}

func (l *memLog) Read(from Offset, maxBytes int) ([]byte, error) {
	i := sort.Search(len(l.bases), func(i int) bool { return l.bases[i] >= from })
	if i == len(l.bases) || l.bases[i] != from {
		return nil, fmt.Errorf("memlog: no batch starts at %d", from)
	}
	var out []byte
	for ; i < len(l.batches); i++ {
		if len(out) > 0 && len(out)+len(l.batches[i]) > maxBytes {
			break
		}
		out = append(out, l.batches[i]...)
	}
	return out, nil
}

func (l *memLog) apply(w LogWrite) error {
	if w.Truncate {
		i := sort.Search(len(l.bases), func(i int) bool { return l.bases[i] >= w.To })
		if i < len(l.bases) && l.bases[i] != w.To {
			return fmt.Errorf("memlog: truncate to %d inside a batch", w.To)
		}
		l.batches, l.bases, l.end = l.batches[:i], l.bases[:i], w.To
		l.synced = min(l.synced, i)
		return nil
	}
	h, err := batch.Check(w.Batch)
	if err != nil {
		return err
	}
	if Offset(h.BaseOffset) != l.end {
		return fmt.Errorf("memlog: batch at %d, end %d", h.BaseOffset, l.end)
	}
	l.batches = append(l.batches, slices.Clone(w.Batch))
	l.bases = append(l.bases, l.end)
	l.end += Offset(h.RecordCount)
	return nil
}

// syncedEnd is the end of the synced batches.
func (l *memLog) syncedEnd() Offset {
	if l.synced == 0 {
		return 0
	}
	h, _ := batch.ReadHeader(l.batches[l.synced-1])
	return Offset(h.BaseOffset) + Offset(h.RecordCount)
}

// history and configs rebuild what a shell reads from storage on open.
func (l *memLog) history() History {
	var h History
	for _, b := range l.batches {
		hd, _ := batch.ReadHeader(b)
		h = h.withBatch(Epoch(hd.LeaderEpoch), Offset(hd.BaseOffset))
	}
	return h
}

func (l *memLog) configs() []ConfigAt {
	var out []ConfigAt
	for _, b := range l.batches {
		spans, _ := splitBatches(b, Offset(mustHeader(b).BaseOffset))
		for _, c := range spans[0].configs {
			out = append(out, ConfigAt{Offset: spans[0].base, Config: c})
		}
	}
	return out
}

func mustHeader(b []byte) batch.Header {
	h, err := batch.ReadHeader(b)
	if err != nil {
		panic(err)
	}
	return h
}

func (l *memLog) describe() string {
	var parts []string
	for _, b := range l.batches {
		parts = append(parts, strings.Trim(describeBatches(b), "[]"))
	}
	return strings.Join(parts, " ")
}

// dataBatch builds a leader's data batch of n records at offset base in epoch e, with ids
// base+1.. so every record is unique.
func dataBatch(base Offset, e Epoch, n int) []byte {
	bld := batch.NewBuilder(256)
	bld.Reset(batch.Options{ProducerID: batch.NoProducer})
	for i := range n {
		v := fmt.Appendf(nil, "v%d", int(base)+i)
		if err := bld.Add(batch.ID{Ms: uint64(base) + uint64(i) + 1}, 0, nil, v, nil); err != nil {
			panic(err)
		}
	}
	b, err := bld.Finish()
	if err != nil {
		panic(err)
	}
	out := slices.Clone(b)
	batch.Stamp(out, uint64(base), uint64(e), batch.ID{Ms: uint64(base) + 1})
	return out
}
