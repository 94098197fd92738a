package resp

import (
	"math"

	"github.com/shoalmq/shoal/protocol/batch"
)

// parseInt64 is Redis's string2ll: an optional '-', then digits without a leading zero (a lone
// "0" is fine), fitting in an int64; nothing else (no '+', no spaces).
func parseInt64(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	negative := b[0] == '-'
	digits := b
	if negative {
		digits = b[1:]
	}
	if len(digits) == 0 || digits[0] < '1' || digits[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (math.MaxUint64-uint64(c-'0'))/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if negative {
		if v > uint64(math.MaxInt64)+1 {
			return 0, false
		}
		return int64(-v), true //nolint:gosec // two's complement of at most 2^63 is MinInt64
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// parseUint64 is Redis's string2ull: string2ll if that succeeds (a negative value fails), else
// C's strtoull over the whole text: leading white space, an optional sign ('-' negates modulo
// 2^64), at least one digit, no overflow, nothing after.
func parseUint64(b []byte) (uint64, bool) {
	if v, ok := parseInt64(b); ok {
		if v < 0 {
			return 0, false
		}
		return uint64(v), true
	}
	i := 0
	for i < len(b) && isCSpace(b[i]) {
		i++
	}
	negative := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		negative = b[i] == '-'
		i++
	}
	if i == len(b) {
		return 0, false
	}
	var v uint64
	for ; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (math.MaxUint64-uint64(c-'0'))/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if negative {
		v = -v
	}
	return v, true
}

func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// parseInteger parses a getLongLongFromObjectOrReply argument; failure is ErrNotInteger.
func parseInteger(b []byte) (int64, error) {
	v, ok := parseInt64(b)
	if !ok {
		return 0, ErrNotInteger
	}
	return v, nil
}

// idMode says which special ids an argument position accepts.
type idMode uint8

const (
	idStrict idMode = iota // "<ms>[-<seq>]" only (streamParseStrictIDOrReply)
	idRange                // also "-" and "+" (streamParseIDOrReply)
)

// parseID is Redis's streamGenericParseIDOrReply without the "<ms>-*" form: missingSeq fills
// an absent seq.
func parseID(b []byte, missingSeq uint64, mode idMode) (batch.ID, error) {
	if len(b) > 127 {
		return batch.ID{}, ErrInvalidStreamID
	}
	if mode == idRange && len(b) == 1 {
		switch b[0] {
		case '-':
			return batch.ID{}, nil
		case '+':
			return batch.MaxID, nil
		}
	}
	msText, seqText, hasSeq := cutByte(b, '-')
	ms, ok := parseUint64(msText)
	if !ok {
		return batch.ID{}, ErrInvalidStreamID
	}
	if !hasSeq {
		return batch.ID{Ms: ms, Seq: missingSeq}, nil
	}
	seq, ok := parseUint64(seqText)
	if !ok {
		return batch.ID{}, ErrInvalidStreamID
	}
	return batch.ID{Ms: ms, Seq: seq}, nil
}

// parseBound parses a range bound: "(" makes it exclusive (then only strict ids), turned into
// the next id for a start or the previous one for an end, with Redis's errors at the edges.
func parseBound(b []byte, isStart bool) (batch.ID, error) {
	missingSeq := uint64(0)
	if !isStart {
		missingSeq = math.MaxUint64
	}
	if len(b) > 1 && b[0] == '(' {
		id, err := parseID(b[1:], missingSeq, idStrict)
		if err != nil {
			return id, err
		}
		if isStart {
			return incrID(id)
		}
		return decrID(id)
	}
	return parseID(b, missingSeq, idRange)
}

func incrID(id batch.ID) (batch.ID, error) {
	switch {
	case id.Seq < math.MaxUint64:
		id.Seq++
	case id.Ms < math.MaxUint64:
		id.Ms, id.Seq = id.Ms+1, 0
	default:
		return id, ErrInvalidStartID
	}
	return id, nil
}

func decrID(id batch.ID) (batch.ID, error) {
	switch {
	case id.Seq > 0:
		id.Seq--
	case id.Ms > 0:
		id.Ms, id.Seq = id.Ms-1, math.MaxUint64
	default:
		return id, ErrInvalidEndID
	}
	return id, nil
}

func cutByte(b []byte, sep byte) (before, after []byte, found bool) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}
