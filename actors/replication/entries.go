package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shoalmq/shoal/protocol/batch"
)

// Config is a partition's replica set. Voters are in ring order (the order promotion uses);
// learners receive the log but neither promise nor count toward the commit point.
type Config struct {
	Voters   []NodeID `msgpack:"v"`
	Learners []NodeID `msgpack:"l,omitempty"`
}

func (c Config) String() string {
	s := fmt.Sprintf("voters=%v", c.Voters)
	if len(c.Learners) > 0 {
		s += fmt.Sprintf(" learners=%v", c.Learners)
	}
	return s
}

// IsVoter reports whether id votes in c.
func (c Config) IsVoter(id NodeID) bool { return slices.Contains(c.Voters, id) }

// Has reports whether id is a voter or learner of c.
func (c Config) Has(id NodeID) bool { return c.IsVoter(id) || slices.Contains(c.Learners, id) }

// Members returns voters then learners.
func (c Config) Members() []NodeID { return append(slices.Clone(c.Voters), c.Learners...) }

func (c Config) clone() Config {
	return Config{Voters: slices.Clone(c.Voters), Learners: slices.Clone(c.Learners)}
}

// ConfigAt is a config entry and the offset it sits at in the log.
type ConfigAt struct {
	Offset Offset `json:"offset"`
	Config Config `json:"config"`
}

// errBadEntry reports a control entry that does not decode.
var errBadEntry = errors.New("replication: malformed control entry")

// EncodeConfig returns the value of a config entry.
func EncodeConfig(c Config) []byte {
	var b []byte
	for _, ids := range [][]NodeID{c.Voters, c.Learners} {
		b = binary.AppendUvarint(b, uint64(len(ids)))
		for _, id := range ids {
			b = binary.AppendUvarint(b, uint64(len(id)))
			b = append(b, id...)
		}
	}
	return b
}

// DecodeConfig decodes the value of a config entry; it never panics.
func DecodeConfig(b []byte) (Config, error) {
	whole := b
	var lists [2][]NodeID
	for i := range lists {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)) {
			return Config{}, errBadEntry
		}
		b = b[k:]
		for range n {
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) {
				return Config{}, errBadEntry
			}
			lists[i] = append(lists[i], NodeID(b[k:k+int(l)]))
			b = b[k+int(l):]
		}
	}
	if len(b) != 0 {
		return Config{}, errBadEntry
	}
	c := Config{Voters: lists[0], Learners: lists[1]}
	if !bytes.Equal(EncodeConfig(c), whole) {
		return Config{}, errBadEntry // a non-minimal varint: one config, one encoding
	}
	return c, nil
}

// controlBatch builds a one-record control batch stamped at (offset, epoch).
func controlBatch(kind byte, value []byte, offset Offset, epoch Epoch) []byte {
	bld := batch.NewBuilder(batch.HeaderSize + 64 + len(value))
	bld.Reset(batch.Options{Control: true, ProducerID: batch.NoProducer})
	if err := bld.Add(batch.ID{}, 0, []byte{kind}, value, nil); err != nil {
		panic(fmt.Sprintf("replication: control entry: %v", err))
	}
	b, err := bld.Finish()
	if err != nil {
		panic(fmt.Sprintf("replication: control entry: %v", err))
	}
	out := slices.Clone(b)
	batch.Stamp(out, uint64(offset), uint64(epoch), batch.ID{})
	return out
}

// span is one stored batch of a message, and the config entries it holds.
type span struct {
	base, end Offset
	epoch     Epoch
	bytes     []byte
	configs   []Config
}

// splitBatches cuts data into its batches and checks that they are contiguous from index.
func splitBatches(data []byte, index Offset) ([]span, error) {
	var out []span
	next := index
	for len(data) > 0 {
		b, rest, h, err := batch.Split(data)
		if err != nil {
			return nil, fmt.Errorf("replication: batch at %d: %w", next, err)
		}
		if Offset(h.BaseOffset) != next {
			return nil, fmt.Errorf("replication: batch at %d, expected %d", h.BaseOffset, next)
		}
		s := span{base: next, end: next + Offset(h.RecordCount), epoch: Epoch(h.LeaderEpoch), bytes: b}
		if h.IsControl() {
			if s.configs, err = configsIn(b, h); err != nil {
				return nil, err
			}
		}
		out = append(out, s)
		next, data = s.end, rest
	}
	return out, nil
}

func configsIn(b []byte, h batch.Header) ([]Config, error) {
	var out []Config
	it := batch.Iterate(b, h)
	for it.Next() {
		r := it.Record()
		if len(r.Key) == 1 && r.Key[0] == batch.ControlConfig {
			c, err := DecodeConfig(r.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, it.Err()
}

// describeBatches renders batches for golden output: offsets:epoch, control entries marked.
func describeBatches(data []byte) string {
	if len(data) == 0 {
		return "[]"
	}
	var parts []string
	for len(data) > 0 {
		b, rest, h, err := batch.Split(data)
		if err != nil {
			parts = append(parts, "bad:"+err.Error())
			break
		}
		p := fmt.Sprintf("%d-%d:e%d", h.BaseOffset, h.BaseOffset+uint64(h.RecordCount)-1, h.LeaderEpoch)
		if h.IsControl() {
			p += controlNames(b, h)
		}
		parts = append(parts, p)
		data = rest
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func controlNames(b []byte, h batch.Header) string {
	it := batch.Iterate(b, h)
	var s string
	for it.Next() {
		r := it.Record()
		switch {
		case len(r.Key) == 1 && r.Key[0] == batch.ControlEpochStart:
			s += "(start " + string(r.Value) + ")"
		case len(r.Key) == 1 && r.Key[0] == batch.ControlConfig:
			c, _ := DecodeConfig(r.Value)
			s += "(config " + c.String() + ")"
		default:
			s += "(control)"
		}
	}
	return s
}
