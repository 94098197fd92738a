// Match scenarios, taken from Redis's own stringmatchlen tests and KEYS documentation, plus a
// pathological pattern that must finish quickly.
package resp

import (
	gostrings "strings"
	"testing"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "anything", true}, {"h?llo", "hello", true}, {"h?llo", "hllo", false},
		{"h*llo", "heeeello", true}, {"h[ae]llo", "hallo", true}, {"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true}, {"h[^e]llo", "hello", false}, {"h[a-b]llo", "hbllo", true},
		{"h[b-a]llo", "hallo", true}, {`h\*llo`, "h*llo", true}, {`h\*llo`, "hello", false},
		{"a*", "", false}, {"", "", true}, {"[", "[", false}, {"[a", "a", true},
		{"a[", "a", false}, {"ab*", "ab", true}, {"k*", "key1", true}, {"*1", "key1", true},
		{"[]", "]", false}, {`[\]]`, "]", true},
	}
	for _, tc := range cases {
		if got := Match(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestMatchPathological(t *testing.T) {
	pattern := gostrings.Repeat("a*", 40) + "b"
	if Match(pattern, gostrings.Repeat("a", 200)) {
		t.Fatal("matched, want no match")
	}
}
