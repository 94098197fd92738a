// Fuzz targets for the two decoders of this package: Parse over random arguments (seeded with
// real commands) must return a command or an Error and never panic; the RequestScanner must
// find the same request boundaries and the same first error however its input is split in two.
package resp

import (
	"bytes"
	"testing"
)

var seedRequests = []string{
	"XADD k * a b", "xadd k nomkstream maxlen ~ 10 limit 5 5-* a b", "xrange k (1-5 + count 3",
	"xread count 2 block 0 streams a b $ +", "xreadgroup group g c claim 100 noack streams a >",
	"xgroup create k g $ mkstream entriesread 5 maxdeliveries 3", "xpending k g idle 9 - + 10 c",
	"xclaim k g c 5 1 2-2 idle 7 force justid lastid 9", "xautoclaim k g c 5 0 count 7 justid",
	"xinfo stream k full count 0", "xsetid k 5 entriesadded 9 maxdeletedid 5", "scan 0 match * type stream",
	"xtrim k minid ~ 5 limit 3", "xack k g 1 2", "xdel k 1", "del a b", "keys *", "foo bar",
}

func FuzzParse(f *testing.F) {
	for _, s := range seedRequests {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		args := bytes.Split(data, []byte{' '})
		cmd, err := Parse(args)
		if err != nil {
			if _, ok := err.(Error); !ok {
				t.Fatalf("Parse returned a %T, want an Error: %v", err, err)
			}
			return
		}
		if cmd.Name() == "" {
			t.Fatal("command without a name")
		}
		_ = cmd.Keys()
	})
}

func encodeRequest(args ...string) []byte {
	var b []byte
	vals := make([]Value, len(args))
	for i, a := range args {
		vals[i] = BulkString(a)
	}
	return AppendValue(b, Array(vals...), 2)
}

func FuzzRequestScanner(f *testing.F) {
	f.Add(encodeRequest("XADD", "k", "*", "a", "b"), 3)
	f.Add(append(encodeRequest("PING"), encodeRequest("ECHO", "x")...), 7)
	f.Add([]byte("PING\r\nPING\n"), 2)
	f.Add([]byte("*2\r\n$3\r\nabc\r\n:1\r\n"), 5)
	f.Add([]byte("*99999999999\r\n"), 1)
	f.Add([]byte("*1\r\n$-5\r\n"), 4)
	limits := Limits{MaxArgs: 64, MaxBulkBytes: 256, MaxRequestBytes: 1024, MaxInlineBytes: 128}
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		whole := NewRequestScanner(limits)
		wantEnd, wantErr := whole.Scan(data)
		if cut < 0 {
			cut = -cut
		}
		if len(data) > 0 {
			cut %= len(data) + 1
		} else {
			cut = 0
		}
		split := NewRequestScanner(limits)
		gotEnd, gotErr := split.Scan(data[:cut])
		if gotErr == nil {
			var end2 int
			end2, gotErr = split.Scan(data[cut:])
			if end2 > 0 {
				gotEnd = cut + end2
			}
		}
		if gotEnd != wantEnd || (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("split at %d: got end %d err %v; whole: end %d err %v", cut, gotEnd, gotErr, wantEnd, wantErr)
		}
	})
}

func TestRequestScanner(t *testing.T) {
	limits := Limits{MaxArgs: 4, MaxBulkBytes: 8, MaxRequestBytes: 64, MaxInlineBytes: 16}
	cases := []struct {
		name    string
		input   string
		wantEnd int
		wantErr string
	}{
		{"one request", "*1\r\n$4\r\nPING\r\n", 14, ""},
		{"partial", "*1\r\n$4\r\nPI", 0, ""},
		{"inline", "PING\r\nEC", 6, ""},
		{"too many args", "*5\r\n", 0, "ERR Protocol error: invalid multibulk length"},
		{"bad count", "*x\r\n", 0, "ERR Protocol error: invalid multibulk length"},
		{"bulk too big", "*1\r\n$9\r\n", 0, "ERR Protocol error: invalid bulk length"},
		{"negative bulk", "*1\r\n$-1\r\n", 0, "ERR Protocol error: invalid bulk length"},
		{"not a bulk", "*1\r\n:1\r\n", 0, "ERR Protocol error: expected '$', got ':'"},
		{"inline too big", "PINGPINGPINGPINGPING", 0, "ERR Protocol error: too big inline request"},
		{"good then bad", "PING\r\n*0\r\n", 6, "ERR Protocol error: invalid multibulk length"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			end, err := NewRequestScanner(limits).Scan([]byte(tc.input))
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if end != tc.wantEnd || gotErr != tc.wantErr {
				t.Fatalf("got end %d err %q, want end %d err %q", end, gotErr, tc.wantEnd, tc.wantErr)
			}
		})
	}
}
