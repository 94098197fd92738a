package resp

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Limits of ParseReply.
const (
	// MaxReplyDepth bounds the nesting of a parsed reply.
	MaxReplyDepth = 32
	// maxReplyElems bounds one aggregate's claimed length before its elements are read.
	maxReplyElems = 1 << 24
)

// ErrBadReply is returned by ParseReply for bytes that are not one well-formed RESP reply.
var ErrBadReply = errors.New("resp: malformed reply")

// ParseReply decodes one RESP2 or RESP3 reply from the front of b and returns it with the bytes
// after it. The value aliases b. It is total: any input gives a value or an error wrapping
// ErrBadReply (io.ErrUnexpectedEOF-like truncation included), never a panic, and it allocates
// no more than the input's size justifies. Attributes (|) are not supported.
func ParseReply(b []byte) (Value, []byte, error) {
	return parseReply(b, 0)
}

func parseReply(b []byte, depth int) (Value, []byte, error) {
	if depth > MaxReplyDepth {
		return Value{}, nil, fmt.Errorf("%w: nested deeper than %d", ErrBadReply, MaxReplyDepth)
	}
	line, rest, err := replyLine(b)
	if err != nil {
		return Value{}, nil, err
	}
	prefix, text := line[0], line[1:]
	switch prefix {
	case '+':
		return SimpleString(string(text)), rest, nil
	case '-':
		return ErrorText(string(text)), rest, nil
	case ':':
		n, err := strconv.ParseInt(string(text), 10, 64)
		if err != nil {
			return Value{}, nil, fmt.Errorf("%w: integer %q", ErrBadReply, text)
		}
		return Int(n), rest, nil
	case '_':
		if len(text) != 0 {
			return Value{}, nil, fmt.Errorf("%w: null with text", ErrBadReply)
		}
		return Null, rest, nil
	case '#':
		switch string(text) {
		case "t":
			return Boolean(true), rest, nil
		case "f":
			return Boolean(false), rest, nil
		}
		return Value{}, nil, fmt.Errorf("%w: boolean %q", ErrBadReply, text)
	case ',':
		f, err := strconv.ParseFloat(string(text), 64)
		if err != nil {
			return Value{}, nil, fmt.Errorf("%w: double %q", ErrBadReply, text)
		}
		return Double(f), rest, nil
	case '$', '=':
		n, err := replyLength(text, len(rest))
		if err != nil {
			return Value{}, nil, err
		}
		if n < 0 {
			return Null, rest, nil
		}
		if len(rest) < n+2 || rest[n] != '\r' || rest[n+1] != '\n' {
			return Value{}, nil, fmt.Errorf("%w: bulk string of %d bytes is cut or unterminated", ErrBadReply, n)
		}
		data := rest[:n:n]
		if prefix == '=' {
			if n < 4 || data[3] != ':' {
				return Value{}, nil, fmt.Errorf("%w: verbatim string without a format", ErrBadReply)
			}
			return Verbatim(string(data[:3]), data[4:]), rest[n+2:], nil
		}
		return Bulk(data), rest[n+2:], nil
	case '*', '%', '~', '>':
		n, err := replyLength(text, len(rest))
		if err != nil {
			return Value{}, nil, err
		}
		if n < 0 {
			if prefix != '*' {
				return Value{}, nil, fmt.Errorf("%w: negative length", ErrBadReply)
			}
			return NullArray, rest, nil
		}
		count := n
		if prefix == '%' {
			count = 2 * n
		}
		elems := make([]Value, 0, min(count, len(rest)/3+1))
		for range count {
			var v Value
			if v, rest, err = parseReply(rest, depth+1); err != nil {
				return Value{}, nil, err
			}
			elems = append(elems, v)
		}
		switch prefix {
		case '%':
			return Map(elems...), rest, nil
		case '~':
			return Set(elems...), rest, nil
		case '>':
			return Push(elems...), rest, nil
		}
		return Array(elems...), rest, nil
	}
	return Value{}, nil, fmt.Errorf("%w: unknown type byte %q", ErrBadReply, prefix)
}

// replyLine returns the first CRLF-terminated line of b (without CRLF, at least one byte).
func replyLine(b []byte) (line, rest []byte, err error) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 1 {
		return nil, nil, fmt.Errorf("%w: no complete line", ErrBadReply)
	}
	return b[:i], b[i+2:], nil
}

// replyLength parses an aggregate or bulk length: -1 or 0..maxReplyElems, and no more than the
// bytes left could hold (every element takes at least 3 bytes; a bulk its length).
func replyLength(text []byte, left int) (int, error) {
	n, err := strconv.ParseInt(string(text), 10, 64)
	switch {
	case err != nil || n < -1:
		return 0, fmt.Errorf("%w: length %q", ErrBadReply, text)
	case n > maxReplyElems || n > int64(left):
		return 0, fmt.Errorf("%w: length %d is more than the %d bytes left", ErrBadReply, n, left)
	}
	return int(n), nil
}
