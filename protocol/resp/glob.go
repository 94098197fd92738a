package resp

// Match reports whether s matches the glob pattern as Redis's stringmatchlen does (case
// sensitive): '*' any run, '?' one byte, '[...]' a class with '^' negation and 'a-z' ranges,
// '\' escaping the next byte. Its work is bounded: Redis's nesting limit makes a pathological
// pattern fail rather than take exponential time.
func Match(pattern, s string) bool {
	skipLongerMatches := false
	return matchGlob(pattern, s, &skipLongerMatches, 0)
}

// matchGlob is stringmatchlen_impl. skip is set once a '*' could not match the rest even
// with all of s: no longer match of an outer '*' can succeed then.
func matchGlob(p, s string, skip *bool, nesting int) bool {
	if nesting > 1000 {
		return false
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if matchGlob(p[1:], s, skip, nesting+1) {
					return true
				}
				if *skip {
					return false
				}
				s = s[1:]
			}
			*skip = true
			return false
		case '?':
			s = s[1:]
		case '[':
			var ok bool
			if p, ok = matchClass(p, s[0]); !ok {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		p = p[1:]
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}

// matchClass matches c against the class that starts p ("[...]"); it returns p at the class's
// last byte (the ']' or the pattern's last byte), as Redis leaves its pointer.
func matchClass(p string, c byte) (string, bool) {
	p = p[1:]
	not := len(p) > 0 && p[0] == '^'
	if not {
		p = p[1:]
	}
	match := false
	for {
		switch {
		case len(p) == 0:
			// Redis steps back onto the last byte when the class is not closed.
			return "x", match != not
		case p[0] == '\\' && len(p) >= 2:
			p = p[1:]
			if p[0] == c {
				match = true
			}
		case p[0] == ']':
			return p, match != not
		case len(p) >= 3 && p[1] == '-':
			start, end := p[0], p[2]
			if start > end {
				start, end = end, start
			}
			p = p[2:]
			if c >= start && c <= end {
				match = true
			}
		default:
			if p[0] == c {
				match = true
			}
		}
		if len(p) == 1 {
			return p, match != not
		}
		p = p[1:]
	}
}
