package resp

import (
	"math"
	"strconv"

	"github.com/shoalmq/shoal/protocol/batch"
)

// Kind is the type of a reply Value.
type Kind uint8

// Reply kinds. RESP2 has no map, set, double, boolean, verbatim or push type: AppendValue
// writes them as Redis 7.0 does for a RESP2 client (see AppendValue).
const (
	KindSimpleString Kind = iota + 1 // +OK
	KindError                        // -ERR ...
	KindInteger                      // :1
	KindBulk                         // $3\r\nfoo
	KindBulkID                       // a stream id as a bulk string, formatted while encoding
	KindNull                         // a null bulk string: $-1 in RESP2, _ in RESP3
	KindNullArray                    // a null array: *-1 in RESP2, _ in RESP3
	KindArray                        // *n
	KindMap                          // %n in RESP3, a flat array of 2n in RESP2
	KindSet                          // ~n in RESP3, *n in RESP2
	KindDouble                       // ,1.5 in RESP3, a bulk string in RESP2
	KindBoolean                      // #t in RESP3, :1 in RESP2
	KindVerbatim                     // =n\r\ntxt:... in RESP3, a bulk string in RESP2
	KindPush                         // >n in RESP3, *n in RESP2
)

// Value is one RESP reply, possibly a tree. The zero Value is invalid; build values with the
// constructors below. A Value holds its byte slices without copying them: whoever builds it
// must not change them until it is encoded.
type Value struct {
	kind  Kind
	num   uint64 // Integer (as int64 bits), Boolean, Double (float bits), BulkID.Ms
	seq   uint64 // BulkID.Seq
	str   string // SimpleString, Error, Verbatim format
	bytes []byte // Bulk, Verbatim text
	elems []Value
}

// Preallocated common replies.
var (
	OK        = SimpleString("OK")
	Null      = Value{kind: KindNull}
	NullArray = Value{kind: KindNullArray}
)

// SimpleString returns a simple string reply (+s). Line breaks in s are written as spaces.
func SimpleString(s string) Value { return Value{kind: KindSimpleString, str: s} }

// ErrorText returns an error reply. text is the whole error, code included ("ERR syntax
// error", "NOGROUP No such key..."); line breaks are written as spaces.
func ErrorText(text string) Value { return Value{kind: KindError, str: text} }

// ErrorValue returns the error reply for err: an Error as it is, another error with "ERR "
// in front unless its text starts with an upper-case code word (as batch.ErrIDZero does).
func ErrorValue(err error) Value { return ErrorText(ErrorTextOf(err)) }

// Int returns an integer reply.
func Int(n int64) Value { return Value{kind: KindInteger, num: uint64(n)} }

// Bulk returns a bulk string reply holding b (not copied). A nil b is an empty string, not null.
func Bulk(b []byte) Value { return Value{kind: KindBulk, bytes: b} }

// BulkString returns a bulk string reply holding s.
func BulkString(s string) Value { return Value{kind: KindBulk, bytes: []byte(s)} }

// BulkID returns a stream id as a bulk string ("1700000000000-0"), formatted while encoding,
// without allocating: XADD's reply.
func BulkID(id batch.ID) Value { return Value{kind: KindBulkID, num: id.Ms, seq: id.Seq} }

// Array returns an array reply of elems (not copied).
func Array(elems ...Value) Value { return Value{kind: KindArray, elems: nonNil(elems)} }

// Map returns a map reply; kv holds keys and values alternately (len(kv) must be even).
func Map(kv ...Value) Value {
	if len(kv)%2 != 0 {
		panic("resp: Map needs keys and values in pairs, got " + strconv.Itoa(len(kv)) + " values")
	}
	return Value{kind: KindMap, elems: nonNil(kv)}
}

// Set returns a set reply of elems.
func Set(elems ...Value) Value { return Value{kind: KindSet, elems: nonNil(elems)} }

// Push returns a push reply of elems (out-of-band data in RESP3).
func Push(elems ...Value) Value { return Value{kind: KindPush, elems: nonNil(elems)} }

// Double returns a double reply.
func Double(f float64) Value { return Value{kind: KindDouble, num: math.Float64bits(f)} }

// Boolean returns a boolean reply.
func Boolean(b bool) Value {
	v := Value{kind: KindBoolean}
	if b {
		v.num = 1
	}
	return v
}

// Verbatim returns a verbatim string reply; format is three bytes such as "txt" or "mkd".
func Verbatim(format string, text []byte) Value {
	return Value{kind: KindVerbatim, str: format, bytes: text}
}

func nonNil(elems []Value) []Value {
	if elems == nil {
		return []Value{}
	}
	return elems
}

// Kind returns the value's kind (0 for the zero Value).
func (v Value) Kind() Kind { return v.kind }

// Int returns an Integer's or Boolean's number.
func (v Value) Int() int64 { return int64(v.num) }

// Float returns a Double's number.
func (v Value) Float() float64 { return math.Float64frombits(v.num) }

// Text returns a SimpleString's or Error's text, or a Verbatim's format.
func (v Value) Text() string { return v.str }

// Bytes returns a Bulk's or Verbatim's bytes (not a copy), or a BulkID formatted.
func (v Value) Bytes() []byte {
	if v.kind == KindBulkID {
		return batch.ID{Ms: v.num, Seq: v.seq}.AppendTo(nil)
	}
	return v.bytes
}

// Elems returns the elements of an Array, Set or Push, or a Map's keys and values alternately
// (not a copy).
func (v Value) Elems() []Value { return v.elems }

// IsError reports whether v is an error reply.
func (v Value) IsError() bool { return v.kind == KindError }

// AppendValue appends v encoded for protocol version proto (2 or 3; anything but 3 is RESP2)
// to dst and returns the extended slice. RESP2 encodes as Redis 7.0 does for a RESP2 client:
// a map as a flat array of keys and values, a set and a push as an array, a double as a bulk
// string, a boolean as 0 or 1, a verbatim string as a bulk string of its text, and the two
// nulls as $-1 and *-1. The zero Value is a programmer error and panics.
func AppendValue(dst []byte, v Value, proto int) []byte {
	resp3 := proto == 3
	switch v.kind {
	case KindBulkID:
		return appendBulkID(dst, v.num, v.seq)
	case KindInteger:
		return appendLine(dst, ':', int64(v.num))
	case KindBulk:
		dst = appendLine(dst, '$', int64(len(v.bytes)))
		dst = append(dst, v.bytes...)
		return append(dst, '\r', '\n')
	case KindSimpleString:
		return appendSimple(dst, '+', v.str)
	case KindError:
		return appendSimple(dst, '-', v.str)
	case KindNull, KindNullArray:
		return appendNull(dst, v.kind, resp3)
	case KindArray, KindSet, KindPush, KindMap:
		return appendAggregate(dst, v, proto)
	case KindDouble:
		return appendDouble(dst, v.Float(), resp3)
	case KindBoolean:
		return appendBoolean(dst, v.num == 1, resp3)
	case KindVerbatim:
		return appendVerbatim(dst, v, resp3)
	}
	panic("resp: AppendValue of an invalid Value (kind " + strconv.Itoa(int(v.kind)) + "); build values with the constructors")
}

func appendNull(dst []byte, kind Kind, resp3 bool) []byte {
	switch {
	case resp3:
		return append(dst, '_', '\r', '\n')
	case kind == KindNullArray:
		return append(dst, "*-1\r\n"...)
	}
	return append(dst, "$-1\r\n"...)
}

func appendAggregate(dst []byte, v Value, proto int) []byte {
	n := int64(len(v.elems))
	prefix := byte('*')
	if proto == 3 {
		switch v.kind {
		case KindMap:
			prefix, n = '%', n/2
		case KindSet:
			prefix = '~'
		case KindPush:
			prefix = '>'
		}
	}
	dst = appendLine(dst, prefix, n)
	for _, e := range v.elems {
		dst = AppendValue(dst, e, proto)
	}
	return dst
}

func appendDouble(dst []byte, f float64, resp3 bool) []byte {
	var buf [32]byte
	text := formatDouble(buf[:0], f)
	if resp3 {
		dst = append(dst, ',')
		dst = append(dst, text...)
		return append(dst, '\r', '\n')
	}
	dst = appendLine(dst, '$', int64(len(text)))
	dst = append(dst, text...)
	return append(dst, '\r', '\n')
}

// formatDouble writes f as Redis does: "inf", "-inf", "nan", else %.17g.
func formatDouble(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	case math.IsNaN(f):
		return append(dst, "nan"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

func appendBoolean(dst []byte, b, resp3 bool) []byte {
	switch {
	case resp3 && b:
		return append(dst, "#t\r\n"...)
	case resp3:
		return append(dst, "#f\r\n"...)
	case b:
		return append(dst, ":1\r\n"...)
	}
	return append(dst, ":0\r\n"...)
}

func appendVerbatim(dst []byte, v Value, resp3 bool) []byte {
	if !resp3 {
		dst = appendLine(dst, '$', int64(len(v.bytes)))
	} else {
		dst = appendLine(dst, '=', int64(len(v.bytes)+4))
		dst = append(dst, v.str...)
		dst = append(dst, ':')
	}
	dst = append(dst, v.bytes...)
	return append(dst, '\r', '\n')
}

func appendLine(dst []byte, prefix byte, n int64) []byte {
	dst = append(dst, prefix)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, '\r', '\n')
}

func appendBulkID(dst []byte, ms, seq uint64) []byte {
	var buf [41]byte
	id := strconv.AppendUint(buf[:0], ms, 10)
	id = append(id, '-')
	id = strconv.AppendUint(id, seq, 10)
	dst = appendLine(dst, '$', int64(len(id)))
	dst = append(dst, id...)
	return append(dst, '\r', '\n')
}

// appendSimple writes a one-line reply; '\r' and '\n' become spaces as in Redis, so a reply
// can never break the framing.
func appendSimple(dst []byte, prefix byte, s string) []byte {
	dst = append(dst, prefix)
	start := len(dst)
	dst = append(dst, s...)
	for i := start; i < len(dst); i++ {
		if dst[i] == '\r' || dst[i] == '\n' {
			dst[i] = ' '
		}
	}
	return append(dst, '\r', '\n')
}
