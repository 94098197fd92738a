package group

// Fuzz targets for the two decoders of untrusted bytes. Method: seeded with real encodings (the
// entries and final snapshot of a random run), the decoders must never panic; whatever decodes
// must re-encode to the same bytes (the formats are canonical), and a decoded entry applied to a
// decoded snapshot must either apply or be refused whole, leaving the invariants intact.
// Crashers found land in testdata/fuzz and run as regular tests.

import (
	"bytes"
	"testing"
)

// seedEncodings runs a short scenario touching every op code and returns its entries and final
// snapshot.
func seedEncodings(f *testing.F) (entries [][]byte, snapshot []byte) {
	h := newHarness(f)
	h.stream.addMs(1, 2, 3, 4, 5)
	h.ok(CreateGroup{Key: "s", Group: "g", MaxDeliveries: 3})
	h.ok(CreateGroup{Key: "s", Group: "h", FromLast: true})
	h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "a", Count: 3, New: true})
	h.nowMs += 100
	h.ok(ReadGroup{Key: "s", Group: "g", Consumer: "b", New: true, Claim: true, ClaimMinIdleMs: 50})
	h.stream.del(id(2))
	h.ok(Claim{Key: "s", Group: "g", Consumer: "c", IDs: ids(1, 2, 5), Force: true, HasLastID: true, LastID: id(9)})
	h.ok(Ack{Key: "s", Group: "g", IDs: ids(1)})
	h.ok(SetGroupID{Key: "s", Group: "h", HasEntriesRead: true, EntriesRead: 0})
	h.ok(CreateConsumer{Key: "s", Group: "h", Consumer: "x"})
	h.ok(DeleteConsumer{Key: "s", Group: "g", Consumer: "b"})
	h.ok(SetMaxDeliveries{Key: "s", Group: "h", MaxDeliveries: 1})
	snapshot = h.state.MarshalSnapshot()
	h.ok(DestroyGroup{Key: "s", Group: "h"})
	return h.entries, snapshot
}

func FuzzUnmarshalEntry(f *testing.F) {
	entries, snapshot := seedEncodings(f)
	for _, e := range entries {
		f.Add(e, snapshot)
	}
	f.Fuzz(func(t *testing.T, raw, snap []byte) {
		e, err := UnmarshalEntry(raw)
		if err != nil {
			return
		}
		if got := e.Marshal(); !bytes.Equal(got, raw) {
			t.Fatalf("entry re-encodes differently:\n got %x\nwant %x", got, raw)
		}
		s, err := UnmarshalSnapshot(snap)
		if err != nil {
			s = NewState()
		}
		before := s.MarshalSnapshot()
		if err := s.Apply(e); err != nil && !bytes.Equal(s.MarshalSnapshot(), before) {
			t.Fatalf("a refused entry changed the state: %v", err)
		}
		if err := s.checkInvariants(); err != nil {
			t.Fatalf("after applying %+v: %v", e, err)
		}
	})
}

func FuzzUnmarshalSnapshot(f *testing.F) {
	_, snapshot := seedEncodings(f)
	f.Add(snapshot)
	f.Add(NewState().MarshalSnapshot())
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := UnmarshalSnapshot(raw)
		if err != nil {
			return
		}
		if err := s.checkInvariants(); err != nil {
			t.Fatalf("decoded snapshot breaks an invariant: %v", err)
		}
		if got := s.MarshalSnapshot(); !bytes.Equal(got, raw) {
			t.Fatalf("snapshot re-encodes differently:\n got %x\nwant %x", got, raw)
		}
	})
}
