package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/shoalmq/shoal/protocol/batch"
)

// snapshotVersion is the first byte of an encoded snapshot. Append only.
const snapshotVersion = 1

// ErrCorruptSnapshot is returned (wrapped) by UnmarshalSnapshot for bytes that are not a snapshot.
var ErrCorruptSnapshot = errors.New("group: corrupt snapshot")

// MarshalSnapshot encodes the whole state. The bytes are deterministic: equal states give equal
// bytes (groups and consumers in name order, pending entries in id order), so replicas can
// compare them. The bytes belong to the caller.
//
// Layout: version; group count; per group: name, last-delivered id, entries-read,
// max-deliveries, consumer count, per consumer: name, seen ms, active ms; pending count, per
// pending entry: id, owner (index into the group's consumers), delivery ms, delivery count.
func (s *State) MarshalSnapshot() []byte {
	b := []byte{snapshotVersion}
	names := s.groupNames()
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, name := range names {
		g := s.groups[name]
		b = appendString(b, g.name)
		b = appendID(b, g.lastDelivered)
		b = binary.AppendVarint(b, g.entriesRead)
		b = binary.AppendVarint(b, g.maxDeliveries)
		consumers := g.consumerNames()
		index := make(map[*consumer]uint64, len(consumers))
		b = binary.AppendUvarint(b, uint64(len(consumers)))
		for i, cname := range consumers {
			c := g.consumers[cname]
			index[c] = uint64(i)
			b = appendString(b, c.name)
			b = binary.AppendVarint(b, c.seenMs)
			b = binary.AppendVarint(b, c.activeMs)
		}
		b = binary.AppendUvarint(b, uint64(g.pending.len()))
		g.pending.ascend(batch.ID{}, func(id batch.ID, e *pendingEntry) bool {
			b = appendID(b, id)
			b = binary.AppendUvarint(b, index[e.owner])
			b = binary.AppendVarint(b, e.deliveryMs)
			b = binary.AppendVarint(b, e.deliveryCount)
			return true
		})
	}
	return b
}

// UnmarshalSnapshot decodes a snapshot made by MarshalSnapshot. It is total: any input gives a
// State or an error wrapping ErrCorruptSnapshot, never a panic, and allocates in proportion to
// len(b). It accepts only the canonical form (names strictly ascending, ids strictly
// ascending), so a decoded snapshot re-encodes to the same bytes. It does not enforce the
// policy limits of limits.go, so that lowering a limit never makes a stored snapshot unreadable.
func UnmarshalSnapshot(b []byte) (*State, error) {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrCorruptSnapshot, v, snapshotVersion)
	}
	s := NewState()
	n := d.count(6, math.MaxInt32) // a group takes at least 6 bytes
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		g := d.group()
		if d.err == nil && i > 0 && g.name <= prev {
			d.fail("group %q after %q: not in ascending order", g.name, prev)
		}
		if d.err == nil {
			prev = g.name
			s.groups[g.name] = g
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptSnapshot, d.err)
	}
	return s, nil
}

// group decodes one group of a snapshot.
func (d *decoder) group() *group {
	g := &group{name: d.name(), lastDelivered: d.id(), entriesRead: d.varint(), maxDeliveries: d.varint(), consumers: map[string]*consumer{}}
	if d.err == nil && (g.entriesRead < EntriesReadUnknown || g.maxDeliveries < 0) {
		d.fail("group %q: entries read %d, max deliveries %d", g.name, g.entriesRead, g.maxDeliveries)
	}
	nc := d.count(3, math.MaxInt32) // a consumer takes at least 3 bytes
	byIndex := make([]*consumer, 0, nc)
	for i := 0; i < nc && d.err == nil; i++ {
		c := &consumer{name: d.name(), seenMs: d.varint(), activeMs: d.varint()}
		if d.err == nil && i > 0 && c.name <= byIndex[i-1].name {
			d.fail("group %q: consumer %q after %q: not in ascending order", g.name, c.name, byIndex[i-1].name)
		}
		byIndex = append(byIndex, c)
		g.consumers[c.name] = c
	}
	np := d.count(5, math.MaxInt32) // a pending entry takes at least 5 bytes
	var prev batch.ID
	for i := 0; i < np && d.err == nil; i++ {
		id, owner := d.id(), d.uvarint()
		e := &pendingEntry{deliveryMs: d.varint(), deliveryCount: d.varint()}
		switch {
		case d.err != nil:
		case i > 0 && !prev.Less(id):
			d.fail("group %q: pending id %s after %s: not in ascending order", g.name, id, prev)
		case owner >= uint64(len(byIndex)):
			d.fail("group %q: pending id %s owned by consumer %d of %d", g.name, id, owner, len(byIndex))
		case e.deliveryCount < 0:
			d.fail("group %q: pending id %s delivery count %d", g.name, id, e.deliveryCount)
		default:
			e.owner = byIndex[owner]
			g.pending.put(id, e)
			e.owner.pending.put(id, e)
			prev = id
		}
	}
	return g
}
