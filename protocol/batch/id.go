package batch

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// ID is a Redis-style stream id, <ms>-<seq>. Ids are strictly increasing inside a partition.
type ID struct {
	Ms  uint64
	Seq uint64
}

// MaxID is the largest id, written "18446744073709551615-18446744073709551615".
var MaxID = ID{Ms: math.MaxUint64, Seq: math.MaxUint64}

var (
	// ErrIDNotIncreasing is Redis's error for an explicit id that is not above the stream's last id.
	ErrIDNotIncreasing = errors.New("ERR The ID specified in XADD is equal or smaller than the target stream top item")
	// ErrIDZero is Redis's error for the explicit id 0-0.
	ErrIDZero = errors.New("ERR The ID specified in XADD must be greater than 0-0")
	// ErrInvalidID is Redis's error for an id that does not parse.
	ErrInvalidID = errors.New("ERR Invalid stream ID specified as stream command argument")
	// ErrIDSpaceExhausted is returned when no id above the last one exists (the last is MaxID).
	ErrIDSpaceExhausted = errors.New("ERR The stream has exhausted the last possible ID, unable to add more items")
)

// String formats the id as Redis does: "<ms>-<seq>".
func (id ID) String() string {
	var buf [41]byte
	return string(id.AppendTo(buf[:0]))
}

// AppendTo appends the text form of the id to dst.
func (id ID) AppendTo(dst []byte) []byte {
	dst = strconv.AppendUint(dst, id.Ms, 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, id.Seq, 10)
}

// IsZero reports whether the id is 0-0.
func (id ID) IsZero() bool { return id.Ms == 0 && id.Seq == 0 }

// Compare returns -1, 0 or +1 as id is below, equal to or above other.
func (id ID) Compare(other ID) int {
	switch {
	case id.Ms < other.Ms:
		return -1
	case id.Ms > other.Ms:
		return 1
	case id.Seq < other.Seq:
		return -1
	case id.Seq > other.Seq:
		return 1
	}
	return 0
}

// Less reports whether id sorts before other.
func (id ID) Less(other ID) bool { return id.Compare(other) < 0 }

// ParseID parses "<ms>-<seq>" or "<ms>"; a missing seq takes defaultSeq (Redis uses 0 for range
// starts and XADD, and the largest seq for range ends). Anything else is ErrInvalidID.
func ParseID(s string, defaultSeq uint64) (ID, error) {
	msText, seqText, hasSeq := strings.Cut(s, "-")
	ms, err := parseDecimal(msText)
	if err != nil {
		return ID{}, ErrInvalidID
	}
	if !hasSeq {
		return ID{Ms: ms, Seq: defaultSeq}, nil
	}
	seq, err := parseDecimal(seqText)
	if err != nil {
		return ID{}, ErrInvalidID
	}
	return ID{Ms: ms, Seq: seq}, nil
}

// parseDecimal accepts only plain decimal digits (no sign, no spaces), as Redis does.
func parseDecimal(s string) (uint64, error) {
	if s == "" || s[0] == '+' {
		return 0, ErrInvalidID
	}
	return strconv.ParseUint(s, 10, 64)
}

// NextAutoIDs returns the first of n consecutive ids generated from the clock: the ms part is
// nowMs, or last.Ms when the clock went backwards (ids never go backwards), and the seq part
// continues last.Seq within the same ms. The n ids are first, first+1 seq, ..., all in first.Ms.
func NextAutoIDs(last ID, nowMs uint64, n uint32) (ID, error) {
	if n == 0 {
		return ID{}, errors.New("batch: NextAutoIDs of zero records")
	}
	if nowMs > last.Ms {
		return ID{Ms: nowMs}, nil
	}
	// Same ms (or the clock went backwards): continue the sequence, or move to the next ms when
	// the sequence would overflow.
	if last.Seq <= math.MaxUint64-uint64(n) {
		return ID{Ms: last.Ms, Seq: last.Seq + 1}, nil
	}
	if last.Ms == math.MaxUint64 {
		return ID{}, ErrIDSpaceExhausted
	}
	return ID{Ms: last.Ms + 1}, nil
}

// CheckExplicitID returns the Redis error for an explicit id that may not follow last.
func CheckExplicitID(last, id ID) error {
	if id.IsZero() {
		return ErrIDZero
	}
	if id.Compare(last) <= 0 {
		return ErrIDNotIncreasing
	}
	return nil
}
