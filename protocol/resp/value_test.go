// AppendValue scenarios: each reply kind encoded for RESP2 and RESP3, compared with the bytes
// redis-server 7.0 writes for the same kind of reply.
package resp

import (
	"errors"
	"math"
	"testing"

	"github.com/shoalmq/shoal/protocol/batch"
)

func TestAppendValue(t *testing.T) {
	cases := []struct {
		name         string
		v            Value
		resp2, resp3 string
	}{
		{"simple", OK, "+OK\r\n", "+OK\r\n"},
		{"simple with newline", SimpleString("a\r\nb"), "+a  b\r\n", "+a  b\r\n"},
		{"error", ErrorValue(ErrSyntax), "-ERR syntax error\r\n", "-ERR syntax error\r\n"},
		{"error with code", ErrorValue(batch.ErrIDZero), "-ERR The ID specified in XADD must be greater than 0-0\r\n", "-ERR The ID specified in XADD must be greater than 0-0\r\n"},
		{"plain error", ErrorValue(errors.New("boom")), "-ERR boom\r\n", "-ERR boom\r\n"},
		{"integer", Int(-7), ":-7\r\n", ":-7\r\n"},
		{"bulk", BulkString("hi"), "$2\r\nhi\r\n", "$2\r\nhi\r\n"},
		{"empty bulk", Bulk(nil), "$0\r\n\r\n", "$0\r\n\r\n"},
		{"bulk id", BulkID(batch.ID{Ms: 1700000000000, Seq: 3}), "$15\r\n1700000000000-3\r\n", "$15\r\n1700000000000-3\r\n"},
		{"null", Null, "$-1\r\n", "_\r\n"},
		{"null array", NullArray, "*-1\r\n", "_\r\n"},
		{"array", Array(Int(1), BulkString("a")), "*2\r\n:1\r\n$1\r\na\r\n", "*2\r\n:1\r\n$1\r\na\r\n"},
		{"empty array", Array(), "*0\r\n", "*0\r\n"},
		{"map", Map(BulkString("k"), Int(1)), "*2\r\n$1\r\nk\r\n:1\r\n", "%1\r\n$1\r\nk\r\n:1\r\n"},
		{"set", Set(Int(1)), "*1\r\n:1\r\n", "~1\r\n:1\r\n"},
		{"push", Push(BulkString("m")), "*1\r\n$1\r\nm\r\n", ">1\r\n$1\r\nm\r\n"},
		{"double", Double(1.5), "$3\r\n1.5\r\n", ",1.5\r\n"},
		{"double inf", Double(math.Inf(-1)), "$4\r\n-inf\r\n", ",-inf\r\n"},
		{"boolean", Boolean(true), ":1\r\n", "#t\r\n"},
		{"verbatim", Verbatim("txt", []byte("x")), "$1\r\nx\r\n", "=5\r\ntxt:x\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(AppendValue(nil, tc.v, 2)); got != tc.resp2 {
				t.Errorf("RESP2: got %q, want %q", got, tc.resp2)
			}
			if got := string(AppendValue(nil, tc.v, 3)); got != tc.resp3 {
				t.Errorf("RESP3: got %q, want %q", got, tc.resp3)
			}
		})
	}
}

func TestAppendValueCommonRepliesDoNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 256)
	id := BulkID(batch.ID{Ms: 1700000000000, Seq: 3})
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendValue(buf[:0], id, 2)
		buf = AppendValue(buf, Int(42), 3)
		buf = AppendValue(buf, OK, 2)
	})
	if allocs != 0 {
		t.Fatalf("got %v allocations per run, want 0", allocs)
	}
}

func BenchmarkAppendBulkID(b *testing.B) {
	buf := make([]byte, 0, 64)
	v := BulkID(batch.ID{Ms: 1700000000000, Seq: 3})
	for b.Loop() {
		buf = AppendValue(buf[:0], v, 2)
	}
}
