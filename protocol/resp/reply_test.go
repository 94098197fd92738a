package resp

import (
	"bytes"
	"errors"
	"testing"

	"github.com/shoalmq/shoal/protocol/batch"
)

func sampleReplies() []Value {
	return []Value{
		OK, ErrorText("NOGROUP No such key 'k'"), Int(-42), BulkString("héllo"), Bulk([]byte{}), BulkID(batch.ID{Ms: 17, Seq: 3}),
		Null, NullArray, Array(), Array(BulkString("a"), Array(Int(1), Null)),
		Map(BulkString("name"), BulkString("g"), BulkString("lag"), Null), Set(Int(1)), Double(1.5), Boolean(true),
		Verbatim("txt", []byte("some text")), Push(BulkString("x")),
	}
}

// TestParseReplyRoundTrip: what AppendValue writes, ParseReply reads back, and writing that
// again gives the same bytes, in both protocol versions.
func TestParseReplyRoundTrip(t *testing.T) {
	for _, proto := range []int{2, 3} {
		for _, v := range sampleReplies() {
			enc := AppendValue(nil, v, proto)
			got, rest, err := ParseReply(append(enc, "+next\r\n"...))
			if err != nil || string(rest) != "+next\r\n" {
				t.Fatalf("RESP%d ParseReply(%q): %v, rest %q", proto, enc, err, rest)
			}
			if again := AppendValue(nil, got, proto); !bytes.Equal(again, enc) {
				t.Errorf("RESP%d: %q parsed and written again is %q", proto, enc, again)
			}
		}
	}
}

func TestParseReplyRefusesMalformed(t *testing.T) {
	for _, in := range []string{"", "+", "+OK", ":x\r\n", "$5\r\nab\r\n", "$-2\r\n", "*2\r\n:1\r\n", "*99999999\r\n",
		"%1\r\n:1\r\n", "?\r\n", "#x\r\n", "=3\r\nabc\r\n", "*-1x\r\n", "$3\r\nabcXY"} {
		if _, _, err := ParseReply([]byte(in)); !errors.Is(err, ErrBadReply) {
			t.Errorf("ParseReply(%q): %v, want ErrBadReply", in, err)
		}
	}
	deep := bytes.Repeat([]byte("*1\r\n"), MaxReplyDepth+2)
	if _, _, err := ParseReply(append(deep, ":1\r\n"...)); !errors.Is(err, ErrBadReply) {
		t.Errorf("a reply nested %d deep: %v", MaxReplyDepth+2, err)
	}
}

// FuzzParseReply: any bytes give a value or ErrBadReply; a parsed value re-encodes to bytes that
// parse to the same encoding.
func FuzzParseReply(f *testing.F) {
	for _, v := range sampleReplies() {
		f.Add(AppendValue(nil, v, 3))
		f.Add(AppendValue(nil, v, 2))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, rest, err := ParseReply(in)
		if err != nil {
			if !errors.Is(err, ErrBadReply) {
				t.Fatalf("ParseReply(%q): %v", in, err)
			}
			return
		}
		if len(rest) > len(in) {
			t.Fatalf("rest longer than the input")
		}
		enc := AppendValue(nil, v, 3)
		v2, _, err := ParseReply(enc)
		if err != nil || !bytes.Equal(AppendValue(nil, v2, 3), enc) {
			t.Fatalf("%q re-encoded as %q does not parse back the same: %v", in, enc, err)
		}
	})
}
