package group

// Test helpers: a naive in-memory stream (fakeStream) and a harness that runs each command the
// way the shell will (Plan, Marshal, UnmarshalEntry, Apply) and checks, on every step, that Plan
// did not mutate the state, that the entry survives its encoding, and that the state invariants
// hold.

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/shoalmq/shoal/protocol/batch"
)

// fakeStream is a stream with Redis 7.0's metadata rules for XADD, XDEL and trimming.
type fakeStream struct {
	live       []batch.ID // ascending
	lastID     batch.ID
	added      int64
	maxDeleted batch.ID
}

func (f *fakeStream) add(id batch.ID) {
	if !f.lastID.Less(id) {
		panic("fakeStream.add: id not above last " + id.String())
	}
	f.live = append(f.live, id)
	f.lastID = id
	f.added++
}

func (f *fakeStream) addMs(ms ...uint64) {
	for _, m := range ms {
		f.add(batch.ID{Ms: m})
	}
}

// del is XDEL of one id.
func (f *fakeStream) del(id batch.ID) bool {
	i, ok := slices.BinarySearchFunc(f.live, id, batch.ID.Compare)
	if !ok {
		return false
	}
	f.live = slices.Delete(f.live, i, i+1)
	if f.maxDeleted.Less(id) {
		f.maxDeleted = id
	}
	return true
}

// trim drops the n oldest entries (XTRIM MAXLEN): no tombstone.
func (f *fakeStream) trim(n int) {
	f.live = f.live[min(n, len(f.live)):]
}

func (f *fakeStream) Info() StreamInfo {
	info := StreamInfo{LastID: f.lastID, EntriesAdded: f.added, MaxDeletedID: f.maxDeleted, Length: int64(len(f.live))}
	if len(f.live) > 0 {
		info.FirstID = f.live[0]
	}
	return info
}

func (f *fakeStream) After(after batch.ID, count int) []batch.ID {
	if count <= 0 {
		count = MaxCount
	}
	i, found := slices.BinarySearchFunc(f.live, after, batch.ID.Compare)
	if found {
		i++
	}
	return slices.Clone(f.live[i:min(len(f.live), i+count)])
}

func (f *fakeStream) Exists(id batch.ID) bool {
	_, ok := slices.BinarySearchFunc(f.live, id, batch.ID.Compare)
	return ok
}

// harness drives one State over one fakeStream with a manual clock.
type harness struct {
	t       testing.TB
	state   *State
	stream  *fakeStream
	nowMs   int64
	entries [][]byte // every applied entry, encoded
}

func newHarness(t testing.TB) *harness {
	return &harness{t: t, state: NewState(), stream: &fakeStream{}, nowMs: 1_000_000}
}

// do runs one command through Plan, the entry codec and Apply.
func (h *harness) do(cmd Command) (Result, *Entry, error) {
	h.t.Helper()
	before := h.state.MarshalSnapshot()
	plan, err := h.state.Plan(cmd, h.stream, h.nowMs)
	if after := h.state.MarshalSnapshot(); !bytes.Equal(before, after) {
		h.t.Fatalf("Plan(%#v) mutated the state", cmd)
	}
	if err != nil {
		return nil, nil, err
	}
	if plan.Entry != nil {
		raw := plan.Entry.Marshal()
		decoded, derr := UnmarshalEntry(raw)
		if derr != nil {
			h.t.Fatalf("UnmarshalEntry(Marshal(%+v)): %v", plan.Entry, derr)
		}
		if !bytes.Equal(decoded.Marshal(), raw) {
			h.t.Fatalf("entry %+v does not survive its encoding: got %+v", plan.Entry, decoded)
		}
		if aerr := h.state.Apply(decoded); aerr != nil {
			h.t.Fatalf("Apply(%+v): %v", decoded, aerr)
		}
		h.entries = append(h.entries, raw)
	}
	if ierr := h.state.checkInvariants(); ierr != nil {
		h.t.Fatalf("after %#v: %v", cmd, ierr)
	}
	return plan.Result, plan.Entry, nil
}

// ok runs a command that must succeed and returns its result.
func (h *harness) ok(cmd Command) Result {
	h.t.Helper()
	res, _, err := h.do(cmd)
	if err != nil {
		h.t.Fatalf("%#v: unexpected error %v", cmd, err)
	}
	return res
}

// fails runs a command that must fail with exactly the given text and kind.
func (h *harness) fails(cmd Command, kind error, text string) {
	h.t.Helper()
	_, _, err := h.do(cmd)
	if err == nil {
		h.t.Fatalf("%#v: got no error, want %q", cmd, text)
	}
	if err.Error() != text || !errors.Is(err, kind) {
		h.t.Fatalf("%#v: got error %q (is %v: %v), want %q", cmd, err, kind, errors.Is(err, kind), text)
	}
}

func id(ms uint64) batch.ID { return batch.ID{Ms: ms} }

func ids(ms ...uint64) []batch.ID {
	out := make([]batch.ID, len(ms))
	for i, m := range ms {
		out[i] = id(m)
	}
	return out
}

// deliveredIDs lists the ids of a read result; a deleted entry shows as "id:nil".
func deliveredIDs(r Result) []string {
	var out []string
	for _, d := range r.(*ReadResult).Entries {
		s := d.ID.String()
		if !d.Exists {
			s += ":nil"
		}
		out = append(out, s)
	}
	return out
}

func claimedIDs(entries []ClaimedEntry) []string {
	var out []string
	for _, c := range entries {
		out = append(out, c.ID.String())
	}
	return out
}

func idStrings(list []batch.ID) []string {
	var out []string
	for _, id := range list {
		out = append(out, id.String())
	}
	return out
}

func (h *harness) pendingRange(group string) []PendingEntry {
	h.t.Helper()
	res := h.ok(PendingRange{Key: "s", Group: group, Start: batch.ID{}, End: batch.MaxID, Count: MaxCount})
	return res.(PendingRangeResult).Entries
}

func (h *harness) groupInfo(name string) GroupInfo {
	h.t.Helper()
	for _, g := range h.ok(InfoGroups{Key: "s"}).(GroupsResult).Groups {
		if g.Name == name {
			return g
		}
	}
	h.t.Fatalf("no group %q", name)
	return GroupInfo{}
}
