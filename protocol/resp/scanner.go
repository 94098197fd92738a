package resp

// Limits bound one request on the wire; the zero value of a field takes its default.
type Limits struct {
	MaxArgs         int // arguments in one request, command name included; default 1<<20
	MaxBulkBytes    int // bytes of one argument; default 16 MiB
	MaxRequestBytes int // bytes of one whole request on the wire; default 64 MiB
	MaxInlineBytes  int // bytes of an inline (telnet) request or a length line; default 64 KiB
}

// Default limits.
const (
	DefaultMaxArgs         = 1 << 20
	DefaultMaxBulkBytes    = 16 << 20
	DefaultMaxRequestBytes = 64 << 20
	DefaultMaxInlineBytes  = 64 << 10
)

func (l Limits) withDefaults() Limits {
	if l.MaxArgs <= 0 {
		l.MaxArgs = DefaultMaxArgs
	}
	if l.MaxBulkBytes <= 0 {
		l.MaxBulkBytes = DefaultMaxBulkBytes
	}
	if l.MaxRequestBytes <= 0 {
		l.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if l.MaxInlineBytes <= 0 {
		l.MaxInlineBytes = DefaultMaxInlineBytes
	}
	return l
}

// Protocol errors of the request framing, with Redis's texts. The server writes one and closes
// the connection.
const (
	ErrProtoMultibulkLength Error = "ERR Protocol error: invalid multibulk length"
	ErrProtoBulkLength      Error = "ERR Protocol error: invalid bulk length"
	ErrProtoBigInline       Error = "ERR Protocol error: too big inline request"
	ErrProtoBigMultibulk    Error = "ERR Protocol error: too big mbulk count string"
	ErrProtoBigBulkCount    Error = "ERR Protocol error: too big bulk count string"
	// ErrProtoRequestTooLarge is Shoal's: Redis closes such a client without a reply.
	ErrProtoRequestTooLarge Error = "ERR Protocol error: request exceeds the server's limit"
)

// scanState is where RequestScanner is inside a request.
type scanState uint8

const (
	scanStart      scanState = iota // before a request
	scanInline                      // in an inline request, until '\n'
	scanCount                       // in "*<count>\r\n", after the '*'
	scanBulkPrefix                  // expecting '$'
	scanBulkLength                  // in "$<length>\r\n", after the '$'
	scanBulkBody                    // in an argument's bytes and its "\r\n"
)

// RequestScanner checks the framing of a stream of RESP requests as it arrives, in any split,
// without keeping the bytes: it finds where complete requests end and rejects, before any
// parser buffers it, a request that breaks Limits or the framing rules Redis enforces. It is
// the guard in front of redcon's reader, whose parser has no limits. The zero value is not
// ready: use NewRequestScanner. It is not safe for concurrent use.
type RequestScanner struct {
	limits       Limits
	state        scanState
	line         []byte // the current length line, without '*' or '$'
	argsLeft     int    // arguments still to come in this request
	bodyLeft     int    // argument bytes plus CRLF still to come
	requestBytes int    // bytes of the current request so far
	err          error  // sticky
}

// NewRequestScanner returns a scanner enforcing limits (zero fields take the defaults).
func NewRequestScanner(limits Limits) *RequestScanner {
	return &RequestScanner{limits: limits.withDefaults()}
}

// Scan consumes the next bytes of the stream. It returns the offset in p just after the last
// request that p completes (0 when p completes none), and the first framing error, after
// which the scanner only returns that error. On an error, complete still reports the requests
// completed before the bad one, so the caller can run them and then answer the error.
func (s *RequestScanner) Scan(p []byte) (complete int, err error) {
	if s.err != nil {
		return 0, s.err
	}
	for i := 0; i < len(p); {
		if s.state == scanBulkBody {
			step := min(s.bodyLeft, len(p)-i)
			i, s.bodyLeft, s.requestBytes = i+step, s.bodyLeft-step, s.requestBytes+step
			if s.requestBytes > s.limits.MaxRequestBytes {
				return complete, s.fail(ErrProtoRequestTooLarge)
			}
			if s.bodyLeft == 0 {
				s.state = scanBulkPrefix
				if s.argsLeft == 0 {
					s.state, s.requestBytes, complete = scanStart, 0, i
				}
			}
			continue
		}
		s.requestBytes++
		if s.requestBytes > s.limits.MaxRequestBytes {
			return complete, s.fail(ErrProtoRequestTooLarge)
		}
		done, err := s.step(p[i])
		if err != nil {
			return complete, s.fail(err)
		}
		i++
		if done {
			s.state, s.requestBytes, complete = scanStart, 0, i
		}
	}
	return complete, nil
}

func (s *RequestScanner) fail(err error) error {
	s.err = err
	return err
}

// step consumes one byte outside an argument's body; done reports a completed request.
func (s *RequestScanner) step(c byte) (done bool, err error) {
	switch s.state {
	case scanStart:
		switch c {
		case '*':
			s.state, s.line = scanCount, s.line[:0]
		case '\n':
			s.requestBytes = 0 // an empty inline line is skipped, as in Redis
		default:
			s.state, s.line = scanInline, s.line[:0]
			s.requestBytes = 1
		}
		return false, nil
	case scanInline:
		if c == '\n' {
			return true, nil
		}
		if s.requestBytes > s.limits.MaxInlineBytes {
			return false, ErrProtoBigInline
		}
		return false, nil
	case scanBulkPrefix:
		if c != '$' {
			return false, Error("ERR Protocol error: expected '$', got '" + string([]byte{c}) + "'")
		}
		s.state, s.line = scanBulkLength, s.line[:0]
		return false, nil
	}
	return s.lengthLine(c)
}

// lengthLine consumes a byte of "*<count>\r\n" or "$<length>\r\n".
func (s *RequestScanner) lengthLine(c byte) (done bool, err error) {
	tooBig, invalid := ErrProtoBigMultibulk, ErrProtoMultibulkLength
	if s.state == scanBulkLength {
		tooBig, invalid = ErrProtoBigBulkCount, ErrProtoBulkLength
	}
	if c != '\n' {
		if len(s.line) >= s.limits.MaxInlineBytes {
			return false, tooBig
		}
		s.line = append(s.line, c)
		return false, nil
	}
	if len(s.line) == 0 || s.line[len(s.line)-1] != '\r' {
		return false, invalid
	}
	n, ok := parseInt64(s.line[:len(s.line)-1])
	if s.state == scanCount {
		// NB(resp): Redis skips an empty multibulk (*0, *-1); redcon rejects it, so we do too.
		if !ok || n <= 0 || n > int64(s.limits.MaxArgs) {
			return false, invalid
		}
		s.state, s.argsLeft = scanBulkPrefix, int(n)
		return false, nil
	}
	if !ok || n < 0 || n > int64(s.limits.MaxBulkBytes) {
		return false, invalid
	}
	s.state, s.argsLeft, s.bodyLeft = scanBulkBody, s.argsLeft-1, int(n)+2
	return false, nil
}

// NewLimits returns limits with every zero field set to its default.
func NewLimits(l Limits) Limits { return l.withDefaults() }
