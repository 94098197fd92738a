package batch

// Method: the decoders must be total. The fuzz targets feed arbitrary bytes to Check, to the
// iterator over a header that ReadHeader accepted, and to a stream reader that gets its input in
// two chunks; none may panic, and the chunked reader must find exactly the batches that the
// whole input holds. The corpus in testdata/fuzz runs with every `go test`.

import (
	"bytes"
	"errors"
	"testing"
)

func seedBatches(f *testing.F) [][]byte {
	seeds := [][]byte{
		build(f, Options{ProducerID: NoProducer}, dataRecords(3, 10)),
		build(f, Options{Control: true, ProducerID: NoProducer}, []testRecord{{key: []byte("t"), value: []byte("x")}}),
		build(f, Options{AutoID: true, ProducerID: 1}, []testRecord{{value: []byte("a")}, {value: []byte("b")}}),
	}
	for _, s := range seeds {
		f.Add(s, uint16(len(s)/2))
	}
	f.Add(append(bytes.Clone(seeds[0]), seeds[1]...), uint16(len(seeds[0])+3))
	f.Add([]byte{}, uint16(0))
	return seeds
}

func FuzzCheck(f *testing.F) {
	seedBatches(f)
	f.Fuzz(func(t *testing.T, data []byte, _ uint16) {
		h, err := Check(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrShort) {
				t.Fatalf("Check error %v is neither ErrCorrupt nor ErrShort", err)
			}
			return
		}
		// A batch that passed Check iterates without error and as many records as it says.
		it := Iterate(data, h)
		n := uint32(0)
		for it.Next() {
			n++
		}
		if it.Err() != nil || n != h.RecordCount {
			t.Fatalf("checked batch: iterated %d of %d records, err %v", n, h.RecordCount, it.Err())
		}
	})
}

func FuzzIterate(f *testing.F) {
	seedBatches(f)
	f.Fuzz(func(t *testing.T, data []byte, _ uint16) {
		h, err := ReadHeader(data)
		if err != nil {
			return
		}
		// The CRC is not checked here on purpose: the iterator must survive any record bytes.
		it := Iterate(data, h)
		for it.Next() {
			r := it.Record()
			hi := r.Headers()
			for hi.Next() {
			}
		}
	})
}

// FuzzSplitStream decodes a stream of batches twice: whole, and as it would arrive from a socket
// or a file read in two chunks (stop at ErrShort, append the second chunk, go on).
func FuzzSplitStream(f *testing.F) {
	seedBatches(f)
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		whole, wholeErr := splitAll(data)
		at := min(int(cut), len(data))
		pending := bytes.Clone(data[:at])
		var chunked [][]byte
		var err error
		for _, next := range [][]byte{data[at:], nil} {
			var got [][]byte
			got, pending, err = splitAvailable(pending)
			chunked = append(chunked, got...)
			if err != nil {
				break
			}
			pending = append(pending, next...)
		}
		if err == nil && len(pending) > 0 {
			err = ErrShort
		}
		if len(chunked) != len(whole) {
			t.Fatalf("chunked reader found %d batches, whole found %d", len(chunked), len(whole))
		}
		for i := range whole {
			if !bytes.Equal(chunked[i], whole[i]) {
				t.Fatalf("batch %d differs between chunked and whole reading", i)
			}
		}
		if (err == nil) != (wholeErr == nil) {
			t.Fatalf("chunked error %v, whole error %v", err, wholeErr)
		}
	})
}

// splitAll returns the whole batches at the start of data, and the error that stopped it
// (ErrShort for a cut-off tail, nil when data ends at a batch boundary).
func splitAll(data []byte) ([][]byte, error) {
	got, rest, err := splitAvailable(data)
	if err == nil && len(rest) > 0 {
		err = ErrShort
	}
	return got, err
}

// splitAvailable returns the whole batches at the start of data and the bytes after them; it
// stops without error at a batch that needs more bytes.
func splitAvailable(data []byte) (batches [][]byte, rest []byte, err error) {
	rest = data
	for len(rest) > 0 {
		b, next, _, err := Split(rest)
		if errors.Is(err, ErrShort) {
			return batches, rest, nil
		}
		if err != nil {
			return batches, rest, err
		}
		batches = append(batches, b)
		rest = next
	}
	return batches, rest, nil
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"1-2", "7", "", "-", "18446744073709551615-18446744073709551615", "1-2-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s, 0)
		if err != nil {
			return
		}
		// Whatever parses must print back to an id that parses to the same value.
		again, err := ParseID(id.String(), 0)
		if err != nil || again != id {
			t.Fatalf("ParseID(%q) = %v, but its String %q parses to %v, %v", s, id, id.String(), again, err)
		}
	})
}
