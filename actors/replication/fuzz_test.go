package replication

// Fuzz targets of the core's decoders: config entries come from the log and from peers, so
// any bytes must give a config or an error, never a panic, and a decoded config must encode
// back to the same bytes.

import (
	"bytes"
	"testing"
)

func FuzzDecodeConfig(f *testing.F) {
	f.Add(EncodeConfig(Config{Voters: []NodeID{"n1", "n2", "n3"}}))
	f.Add(EncodeConfig(Config{Voters: []NodeID{"n1"}, Learners: []NodeID{"n4"}}))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeConfig(b)
		if err != nil {
			return
		}
		if again := EncodeConfig(c); !bytes.Equal(again, b) {
			t.Fatalf("decode(%x) = %v encodes to %x", b, c, again)
		}
	})
}

func FuzzSplitBatches(f *testing.F) {
	f.Add(dataBatch(0, 1, 3), uint64(0))
	f.Add(append(dataBatch(0, 1, 2), controlBatch(3, EncodeConfig(Config{Voters: []NodeID{"a"}}), 2, 1)...), uint64(0))
	f.Add([]byte{1, 2, 3}, uint64(5))
	f.Fuzz(func(t *testing.T, b []byte, index uint64) {
		spans, err := splitBatches(b, Offset(index))
		if err != nil {
			return
		}
		next := Offset(index)
		for _, s := range spans {
			if s.base != next || s.end <= s.base {
				t.Fatalf("span %d..%d after %d", s.base, s.end, next)
			}
			next = s.end
		}
	})
}
