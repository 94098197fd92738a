package storage

// Method: the storage decoders must be total. FuzzRecoverSegment writes arbitrary bytes after a
// valid prefix of batches into the active segment (on the in-memory file system) and opens the
// log: no panic, the prefix intact, the log appendable. FuzzIndexFile and FuzzMetaFile feed
// arbitrary bytes to the index and meta decoders. FuzzIndexLookup compares the index lookups
// with a linear search over entries built from the input (a differential test against a naive
// model). The corpus in testdata/fuzz runs with every go test.

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"testing"

	"github.com/shoalmq/shoal/protocol/batch"
	"github.com/shoalmq/shoal/storage/vfs"
)

// validPrefix returns three stamped batches (offsets 0..5) as they would lie in a segment.
func validPrefix(t testing.TB) []byte {
	var out []byte
	for i := range 3 {
		b := autoBatch(t, 2*i, 2, int64(100+i))
		batch.Stamp(b, uint64(2*i), 1, batch.ID{Ms: uint64(10 + i)})
		out = append(out, b...)
	}
	return out
}

func FuzzRecoverSegment(f *testing.F) {
	prefix := validPrefix(f)
	f.Add([]byte{})
	f.Add(prefix[:50])
	next := autoBatch(f, 6, 3, 200)
	batch.Stamp(next, 6, 1, batch.ID{Ms: 20})
	f.Add(next)
	f.Add(next[:len(next)-1])
	f.Add(append(append([]byte(nil), next...), 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, tail []byte) {
		fsys := vfs.NewCrashFS()
		cfg := testConfig(t, fsys, "/p", FsyncNever)
		if err := fsys.MkdirAll("/p", 0o755); err != nil {
			t.Fatal(err)
		}
		file, err := fsys.OpenFile("/p/"+segmentName(0), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := file.Write(append(append([]byte(nil), prefix...), tail...)); err != nil {
			t.Fatal(err)
		}
		l, rec, err := Open(cfg)
		if err != nil {
			t.Fatalf("Open with a damaged tail: %v", err)
		}
		defer l.Close()
		if l.LogEnd() < 6 {
			t.Fatalf("the valid prefix was lost: end %d, cut %+v", l.LogEnd(), rec.Cut)
		}
		if got := readAllFrom(t, l, 0); len(got) != int(l.LogEnd()) {
			t.Fatalf("read %d records, log ends at %d", len(got), l.LogEnd())
		}
		if _, err := l.Append(autoBatch(t, 0, 1, 0), 1, 1<<40); err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
	})
}

func FuzzIndexFile(f *testing.F) {
	entries := []indexEntry{startEntry(100), {offset: 110, position: 500, dataRecordsBefore: 10, maxTimestampBefore: 7, lastIDBefore: batch.ID{Ms: 3}}}
	end := indexEntry{offset: 120, position: 900, dataRecordsBefore: 20, maxTimestampBefore: 9, lastIDBefore: batch.ID{Ms: 4}}
	f.Add(encodeIndex(entries, end), int64(900))
	f.Add([]byte("short"), int64(0))
	f.Fuzz(func(t *testing.T, data []byte, segmentBytes int64) {
		got, gotEnd, err := decodeIndex(data, 100, segmentBytes)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes.
		if again := encodeIndex(got, gotEnd); string(again) != string(data) {
			t.Fatalf("decode/encode differs: %d vs %d bytes", len(again), len(data))
		}
	})
}

func FuzzMetaFile(f *testing.F) {
	good := encodeMeta(partitionMeta{Version: metaVersion, Epochs: []EpochStart{{1, 0}, {3, 50}}, LogStart: 5, Tombstones: [][2]uint64{{6, 10}, {9, 12}}, TombstonesThrough: 60})
	f.Add(good[metaHeaderSize:], false)
	f.Add([]byte("SHMT"), true)
	f.Fuzz(func(t *testing.T, data []byte, raw bool) {
		if !raw {
			// Most inputs are JSON bodies given a valid header, so the fuzzer reaches the parser
			// and the checks behind the CRC.
			body := data
			data = binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, metaMagic), crc32.Checksum(body, castagnoli))
			data = append(data, body...)
		}
		m, err := decodeMeta(data)
		if err != nil {
			return
		}
		if err := m.check(); err != nil {
			t.Fatalf("decodeMeta accepted a meta that fails its check: %v", err)
		}
	})
}

// FuzzIndexLookup builds monotonic entries from the input and checks the binary searches
// against linear scans.
func FuzzIndexLookup(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, uint64(3), int64(2))
	f.Add([]byte{0, 0, 0, 9, 9, 9}, uint64(0), int64(-1))
	f.Fuzz(func(t *testing.T, steps []byte, target uint64, targetMs int64) {
		entries := []indexEntry{startEntry(0)}
		for i, step := range steps {
			p := entries[len(entries)-1]
			e := p
			e.offset += uint64(step)
			e.position += uint32(step) * 3
			if i%2 == 0 {
				e.maxTimestampBefore = max(p.maxTimestampBefore, int64(step)*int64(i))
			}
			e.lastIDBefore = batch.ID{Ms: p.lastIDBefore.Ms + uint64(step%3), Seq: uint64(i)}
			entries = append(entries, e)
		}
		id := batch.ID{Ms: target % 64, Seq: target / 64 % 16}
		if got, want := entryForOffset(entries, target), naiveLast(entries, func(e indexEntry) bool { return e.offset <= target }); got != want {
			t.Fatalf("entryForOffset(%d) = %+v, want %+v", target, got, want)
		}
		if got, want := entryForID(entries, id), naiveLast(entries, func(e indexEntry) bool { return e.lastIDBefore.Less(id) }); got != want {
			t.Fatalf("entryForID(%v) = %+v, want %+v", id, got, want)
		}
		if got, want := entryForTime(entries, targetMs), naiveLast(entries, func(e indexEntry) bool { return e.maxTimestampBefore < targetMs }); got != want {
			t.Fatalf("entryForTime(%d) = %+v, want %+v", targetMs, got, want)
		}
	})
}

// naiveLast is the linear model: the last entry that satisfies ok (which holds for a prefix),
// or the first entry.
func naiveLast(entries []indexEntry, ok func(indexEntry) bool) indexEntry {
	found := entries[0]
	for _, e := range entries {
		if ok(e) {
			found = e
		}
	}
	return found
}
