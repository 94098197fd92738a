package batch

import (
	"errors"
	"math"
	"testing"
)

func TestParseID(t *testing.T) {
	cases := []struct {
		in         string
		defaultSeq uint64
		want       ID
		err        error
	}{
		{"1-2", 0, ID{1, 2}, nil},
		{"1526919030474-55", 0, ID{1526919030474, 55}, nil},
		{"7", 0, ID{7, 0}, nil},
		{"7", math.MaxUint64, ID{7, math.MaxUint64}, nil},
		{"18446744073709551615-18446744073709551615", 0, MaxID, nil},
		{"18446744073709551616-0", 0, ID{}, ErrInvalidID},
		{"", 0, ID{}, ErrInvalidID},
		{"-", 0, ID{}, ErrInvalidID},
		{"1-", 0, ID{}, ErrInvalidID},
		{"-1", 0, ID{}, ErrInvalidID},
		{"+1-2", 0, ID{}, ErrInvalidID},
		{"1-+2", 0, ID{}, ErrInvalidID},
		{"1-2-3", 0, ID{}, ErrInvalidID},
		{"a-b", 0, ID{}, ErrInvalidID},
		{" 1-2", 0, ID{}, ErrInvalidID},
	}
	for _, tc := range cases {
		got, err := ParseID(tc.in, tc.defaultSeq)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("ParseID(%q) = %v, %v; want %v, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestIDStringRoundTrip(t *testing.T) {
	for _, id := range []ID{{}, {1, 2}, MaxID, {1526919030474, 55}} {
		got, err := ParseID(id.String(), 0)
		if err != nil || got != id {
			t.Errorf("ParseID(%q) = %v, %v; want %v", id.String(), got, err, id)
		}
	}
}

func TestNextAutoIDs(t *testing.T) {
	cases := []struct {
		name  string
		last  ID
		nowMs uint64
		n     uint32
		want  ID
		err   error
	}{
		{"clock ahead", ID{100, 7}, 200, 1, ID{200, 0}, nil},
		{"same ms continues seq", ID{200, 7}, 200, 3, ID{200, 8}, nil},
		{"clock went backwards", ID{300, 7}, 200, 2, ID{300, 8}, nil},
		{"seq would overflow: next ms", ID{300, math.MaxUint64 - 1}, 300, 2, ID{301, 0}, nil},
		{"seq exactly fits", ID{300, math.MaxUint64 - 2}, 300, 2, ID{300, math.MaxUint64 - 1}, nil},
		{"exhausted", MaxID, 5, 1, ID{}, ErrIDSpaceExhausted},
		{"empty stream", ID{}, 0, 1, ID{0, 1}, nil},
	}
	for _, tc := range cases {
		got, err := NextAutoIDs(tc.last, tc.nowMs, tc.n)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("%s: NextAutoIDs(%v, %d, %d) = %v, %v; want %v, %v", tc.name, tc.last, tc.nowMs, tc.n, got, err, tc.want, tc.err)
		}
		if err == nil && !tc.last.Less(got) {
			t.Errorf("%s: %v is not above %v", tc.name, got, tc.last)
		}
	}
}

func TestCheckExplicitID(t *testing.T) {
	if err := CheckExplicitID(ID{5, 5}, ID{5, 5}); err == nil || err.Error() != "ERR The ID specified in XADD is equal or smaller than the target stream top item" {
		t.Errorf("equal id: got %v", err)
	}
	if err := CheckExplicitID(ID{5, 5}, ID{5, 4}); !errors.Is(err, ErrIDNotIncreasing) {
		t.Errorf("smaller id: got %v", err)
	}
	if err := CheckExplicitID(ID{}, ID{}); !errors.Is(err, ErrIDZero) {
		t.Errorf("0-0: got %v", err)
	}
	if err := CheckExplicitID(ID{5, 5}, ID{5, 6}); err != nil {
		t.Errorf("greater id: got %v", err)
	}
}
