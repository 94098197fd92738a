package batch

// Method: batches are built with the Builder, read back with Check and Iterate, and compared
// field by field with what was added; then single fields and bytes are damaged and Check must
// name the damage with ErrCorrupt or ErrShort, never panic.

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

type testRecord struct {
	id        ID
	timestamp int64
	key       []byte
	value     []byte
	headers   []HeaderPair
}

func build(t testing.TB, opts Options, records []testRecord) []byte {
	t.Helper()
	b := NewBuilder(0)
	b.Reset(opts)
	for _, r := range records {
		if err := b.Add(r.id, r.timestamp, r.key, r.value, r.headers); err != nil {
			t.Fatalf("Add(%v): %v", r.id, err)
		}
	}
	out, err := b.Finish()
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return bytes.Clone(out)
}

func dataRecords(n int, firstMs uint64) []testRecord {
	records := make([]testRecord, n)
	for i := range records {
		records[i] = testRecord{
			id:        ID{Ms: firstMs + uint64(i/3), Seq: uint64(i % 3)},
			timestamp: int64(1_700_000_000_000 + i*7 - (i%2)*20),
			key:       fmt.Appendf(nil, "key-%d", i),
			value:     bytes.Repeat([]byte{byte(i)}, i%50),
		}
		if i%4 == 0 {
			records[i].headers = []HeaderPair{{Field: []byte("f"), Value: []byte("v")}, {Field: []byte("g"), Value: nil}}
		}
	}
	return records
}

func readAll(t testing.TB, b []byte) (Header, []Record) {
	t.Helper()
	h, err := Check(b)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	var out []Record
	it := Iterate(b, h)
	for it.Next() {
		out = append(out, it.Record())
	}
	if err := it.Err(); err != nil {
		t.Fatalf("Iterate: %v", err)
	}
	return h, out
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		records []testRecord
	}{
		{"one record", Options{ProducerID: NoProducer}, []testRecord{{id: ID{5, 1}, timestamp: 10, key: []byte("k"), value: []byte("v")}}},
		{"null key and value", Options{ProducerID: NoProducer}, []testRecord{{id: ID{1, 0}, timestamp: 0}}},
		{"empty key and value", Options{ProducerID: NoProducer}, []testRecord{{id: ID{1, 0}, key: []byte{}, value: []byte{}}}},
		{"many records, ms and seq changes", Options{ProducerID: 42, BaseSequence: 7}, dataRecords(100, 1000)},
		{"large seq", Options{ProducerID: NoProducer}, []testRecord{{id: ID{1, 1 << 63}}, {id: ID{1, 1<<63 + 5}}, {id: ID{2, 3}}}},
		{"control", Options{Control: true, ProducerID: NoProducer}, []testRecord{{key: []byte("tombstone"), value: []byte{1, 2}}}},
		{"auto id", Options{AutoID: true, ProducerID: NoProducer}, []testRecord{{timestamp: 5, value: []byte("a")}, {timestamp: 6, value: []byte("b")}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := build(t, tc.opts, tc.records)
			h, got := readAll(t, b)
			if int(h.RecordCount) != len(tc.records) || len(got) != len(tc.records) {
				t.Fatalf("records: header %d, iterated %d, want %d", h.RecordCount, len(got), len(tc.records))
			}
			if h.ProducerID != tc.opts.ProducerID || h.BaseSequence != tc.opts.BaseSequence {
				t.Errorf("producer: got %d/%d, want %d/%d", h.ProducerID, h.BaseSequence, tc.opts.ProducerID, tc.opts.BaseSequence)
			}
			for i, want := range tc.records {
				compareRecord(t, i, got[i], want, tc.opts)
			}
		})
	}
}

func compareRecord(t *testing.T, i int, got Record, want testRecord, opts Options) {
	t.Helper()
	wantID := want.id
	if opts.AutoID {
		wantID = ID{Seq: uint64(i)}
	}
	if got.Offset != uint64(i) || got.ID != wantID || got.Timestamp != want.timestamp {
		t.Errorf("record %d: offset %d id %v ts %d, want %d %v %d", i, got.Offset, got.ID, got.Timestamp, i, wantID, want.timestamp)
	}
	if !sameNullable(got.Key, want.key) || !sameNullable(got.Value, want.value) {
		t.Errorf("record %d: key %q value %q, want %q %q", i, got.Key, got.Value, want.key, want.value)
	}
	hi := got.Headers()
	for j, wh := range want.headers {
		if !hi.Next() || !bytes.Equal(hi.Field(), wh.Field) || !bytes.Equal(hi.Value(), wh.Value) {
			t.Errorf("record %d header %d: got %q=%q, want %q=%q", i, j, hi.Field(), hi.Value(), wh.Field, wh.Value)
		}
	}
	if hi.Next() || got.HeaderCount != len(want.headers) {
		t.Errorf("record %d: %d headers, want %d", i, got.HeaderCount, len(want.headers))
	}
}

func sameNullable(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func TestStampAssignsOffsetsEpochAndAutoIDs(t *testing.T) {
	b := build(t, Options{AutoID: true, ProducerID: NoProducer}, []testRecord{{value: []byte("a")}, {value: []byte("b")}, {value: []byte("c")}})
	Stamp(b, 100, 7, ID{Ms: 1234, Seq: 5})
	h, got := readAll(t, b)
	if h.BaseOffset != 100 || h.LeaderEpoch != 7 || h.Attributes&AttrAutoID != 0 {
		t.Fatalf("header after Stamp: %+v", h)
	}
	if h.FirstID != (ID{1234, 5}) || h.LastID != (ID{1234, 7}) {
		t.Fatalf("ids: %v..%v, want 1234-5..1234-7", h.FirstID, h.LastID)
	}
	for i, r := range got {
		if want := (ID{1234, 5 + uint64(i)}); r.ID != want || r.Offset != 100+uint64(i) {
			t.Errorf("record %d: id %v offset %d, want %v %d", i, r.ID, r.Offset, want, 100+i)
		}
	}
}

func TestStampKeepsExplicitIDs(t *testing.T) {
	b := build(t, Options{ProducerID: NoProducer}, []testRecord{{id: ID{9, 9}}})
	Stamp(b, 3, 1, ID{Ms: 1})
	h, got := readAll(t, b)
	if h.FirstID != (ID{9, 9}) || got[0].ID != (ID{9, 9}) || got[0].Offset != 3 {
		t.Fatalf("got %+v %+v", h, got[0])
	}
}

func TestBuilderRejects(t *testing.T) {
	cases := []struct {
		name  string
		opts  Options
		first ID
		next  ID
	}{
		{"id not increasing", Options{}, ID{5, 5}, ID{5, 5}},
		{"id going back", Options{}, ID{5, 5}, ID{4, 9}},
		{"zero id in data batch", Options{}, ID{1, 1}, ID{}},
		{"id in auto-id batch", Options{AutoID: true}, ID{}, ID{1, 1}},
		{"id in control batch", Options{Control: true}, ID{}, ID{1, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder(0)
			b.Reset(tc.opts)
			if err := b.Add(tc.first, 0, nil, nil, nil); err != nil {
				t.Fatalf("first Add: %v", err)
			}
			if err := b.Add(tc.next, 0, nil, nil, nil); !errors.Is(err, ErrBuild) {
				t.Fatalf("second Add: got %v, want ErrBuild", err)
			}
		})
	}
	if _, err := NewBuilder(0).Finish(); !errors.Is(err, ErrBuild) {
		t.Fatalf("Finish of empty batch: got %v, want ErrBuild", err)
	}
}

// TestCheckDetectsEveryFlippedByte flips each byte of a batch in turn: every flip must be caught
// (the CRC covers everything after it; length and CRC themselves are checked against the bytes).
func TestCheckDetectsEveryFlippedByte(t *testing.T) {
	b := build(t, Options{ProducerID: NoProducer}, dataRecords(20, 50))
	for i := range b {
		damaged := bytes.Clone(b)
		damaged[i] ^= 0x40
		_, err := Check(damaged)
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrShort) {
			t.Fatalf("flip at byte %d: got %v, want ErrCorrupt or ErrShort", i, err)
		}
	}
}

func TestCheckTruncated(t *testing.T) {
	b := build(t, Options{ProducerID: NoProducer}, dataRecords(5, 50))
	for n := 0; n < len(b); n++ {
		if _, err := Check(b[:n]); !errors.Is(err, ErrShort) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: got %v", n, err)
		}
		if _, _, _, err := Split(b[:n]); !errors.Is(err, ErrShort) {
			t.Fatalf("Split of %d bytes: got %v, want ErrShort", n, err)
		}
	}
}

// TestCheckRejectsInconsistentRecords rebuilds batches whose CRC is right but whose content
// contradicts the header, which only the record walk can see.
func TestCheckRejectsInconsistentRecords(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(b []byte)
	}{
		{"record count too high", func(b []byte) { putUint32(b, posRecordCount, 3) }},
		{"max timestamp wrong", func(b []byte) { putUint64(b, posMaxTimestamp, 1) }},
		{"last id wrong", func(b []byte) { putUint64(b, posLastIDSeq, 99) }},
		{"first id wrong", func(b []byte) { putUint64(b, posFirstIDSeq, 0) }},
		{"unknown attribute", func(b []byte) { putUint16(b, posAttributes, 1<<9) }},
		{"auto id with ids", func(b []byte) { putUint16(b, posAttributes, AttrAutoID) }},
		{"bad magic", func(b []byte) { b[posMagic] = 2 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := build(t, Options{ProducerID: NoProducer}, []testRecord{{id: ID{2, 1}, timestamp: 5}, {id: ID{2, 2}, timestamp: 9}})
			tc.mutate(b)
			resum(b)
			if _, err := Check(b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestSplitWalksConcatenatedBatches(t *testing.T) {
	var stream []byte
	for i := range 5 {
		b := build(t, Options{ProducerID: NoProducer}, dataRecords(i+1, uint64(100*(i+1))))
		stream = append(stream, b...)
	}
	count := 0
	for rest := stream; len(rest) > 0; count++ {
		var err error
		if _, rest, _, err = Split(rest); err != nil {
			t.Fatalf("batch %d: %v", count, err)
		}
	}
	if count != 5 {
		t.Fatalf("walked %d batches, want 5", count)
	}
}

func TestIterateAllocatesNothing(t *testing.T) {
	b := build(t, Options{ProducerID: NoProducer}, dataRecords(100, 1))
	h, _ := readAll(t, b)
	allocs := testing.AllocsPerRun(100, func() {
		it := Iterate(b, h)
		for it.Next() {
		}
	})
	if allocs != 0 {
		t.Fatalf("Iterate: %v allocs per run, want 0", allocs)
	}
}

func TestBuilderReuseAllocatesNothing(t *testing.T) {
	b := NewBuilder(64 << 10)
	value := make([]byte, 100)
	allocs := testing.AllocsPerRun(50, func() {
		b.Reset(Options{AutoID: true, ProducerID: NoProducer})
		for range 100 {
			_ = b.Add(ID{}, 1, nil, value, nil)
		}
		_, _ = b.Finish()
	})
	if allocs != 0 {
		t.Fatalf("Builder: %v allocs per batch, want 0", allocs)
	}
}

func TestCheckLimits(t *testing.T) {
	b := build(t, Options{ProducerID: NoProducer}, []testRecord{
		{id: ID{1, 1}, key: []byte("kk"), value: []byte("12345")},
		{id: ID{1, 2}, key: []byte("k"), value: []byte("1"), headers: []HeaderPair{{Field: []byte("f"), Value: []byte("vvvv")}}},
	})
	cases := []struct {
		limits Limits
		want   error
	}{
		{Limits{}, nil},
		{Limits{MaxKeyBytes: 2, MaxRecordBytes: 9}, nil},
		{Limits{MaxKeyBytes: 1}, ErrLimit},
		{Limits{MaxRecordBytes: 6}, ErrLimit}, // record 0 is 7 bytes
		{Limits{MaxRecordBytes: 8}, ErrLimit}, // record 1 is 2 + 7 header bytes
	}
	for _, tc := range cases {
		if _, err := CheckLimits(b, tc.limits); !errors.Is(err, tc.want) && (tc.want != nil || err != nil) {
			t.Errorf("CheckLimits(%+v) = %v, want %v", tc.limits, err, tc.want)
		}
	}
}
