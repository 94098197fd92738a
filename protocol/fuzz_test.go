package protocol

// Method: the frame decoder and the message decoders must be total. FuzzSplitFrames reads a
// stream of frames whole and in two chunks (as a socket delivers it) and both must agree;
// FuzzUnmarshal feeds any bytes to every message type.

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func FuzzSplitFrames(f *testing.F) {
	var stream []byte
	for i, msg := range sampleMessages() {
		body, _ := Marshal(msg)
		stream = AppendFrame(stream, FrameHeader{Type: TypeProduce, RequestID: uint64(i)}, body)
	}
	f.Add(stream, uint16(37))
	f.Add(AppendFrame(nil, FrameHeader{Type: TypeFetch}, nil), uint16(3))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0}, uint16(2))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		whole, wholeErr := splitFrames(data)
		at := min(int(cut), len(data))
		pending := bytes.Clone(data[:at])
		var chunked [][]byte
		var err error
		for _, next := range [][]byte{data[at:], nil} {
			var got [][]byte
			got, pending, err = availableFrames(pending)
			chunked = append(chunked, got...)
			if err != nil {
				break
			}
			pending = append(pending, next...)
		}
		if err == nil && len(pending) > 0 {
			err = ErrShortFrame
		}
		if len(chunked) != len(whole) || (err == nil) != (wholeErr == nil) {
			t.Fatalf("chunked: %d frames, err %v; whole: %d frames, err %v", len(chunked), err, len(whole), wholeErr)
		}
		for i := range whole {
			if !bytes.Equal(whole[i], chunked[i]) {
				t.Fatalf("frame %d differs", i)
			}
		}
	})
}

func splitFrames(data []byte) ([][]byte, error) {
	got, rest, err := availableFrames(data)
	if err == nil && len(rest) > 0 {
		err = ErrShortFrame
	}
	return got, err
}

// availableFrames returns the bodies of the whole frames at the start of data and what follows;
// it stops without error at a frame that needs more bytes.
func availableFrames(data []byte) (bodies [][]byte, rest []byte, err error) {
	rest = data
	for len(rest) > 0 {
		_, body, next, err := SplitFrame(rest)
		if errors.Is(err, ErrShortFrame) {
			return bodies, rest, nil
		}
		if err != nil {
			return bodies, rest, err
		}
		bodies, rest = append(bodies, body), next
	}
	return bodies, rest, nil
}

func FuzzUnmarshal(f *testing.F) {
	samples := sampleMessages()
	for i, msg := range samples {
		body, _ := Marshal(msg)
		f.Add(body, uint8(i))
	}
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		msg := samples[int(which)%len(samples)]
		v := reflect.New(reflect.TypeOf(msg).Elem()).Interface()
		if err := Unmarshal(body, v); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("Unmarshal error %v does not wrap ErrMalformed", err)
		}
	})
}

// FuzzCheckShape compares the in-place shape walk with msgpack's own decoder: whatever the walk
// accepts, the decoder skips whole, to the last byte.
func FuzzCheckShape(f *testing.F) {
	for _, msg := range sampleMessages() {
		body, _ := Marshal(msg)
		f.Add(body)
	}
	f.Add([]byte{0xd8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17})
	f.Fuzz(func(t *testing.T, body []byte) {
		if checkShape(body) != nil {
			return
		}
		dec := msgpack.NewDecoder(bytes.NewReader(body))
		if err := dec.Skip(); err != nil {
			t.Fatalf("checkShape accepted % x but msgpack cannot skip it: %v", body, err)
		}
		if _, err := dec.PeekCode(); err == nil {
			t.Fatalf("checkShape accepted % x with bytes after the value", body)
		}
	})
}
