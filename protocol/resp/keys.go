package resp

// Del is DEL key ..., or UNLINK key ... when Unlink (the same thing for streams).
type Del struct {
	KeyList []string
	Unlink  bool
}

// Name returns "del" or "unlink".
func (c *Del) Name() string {
	if c.Unlink {
		return "unlink"
	}
	return "del"
}

// Keys returns the keys.
func (c *Del) Keys() []string { return c.KeyList }

// Exists is EXISTS key ... (a key named twice counts twice).
type Exists struct{ KeyList []string }

// Name returns "exists".
func (c *Exists) Name() string { return "exists" }

// Keys returns the keys.
func (c *Exists) Keys() []string { return c.KeyList }

// Type is TYPE key: "stream" or "none".
type Type struct{ Key string }

// Name returns "type".
func (c *Type) Name() string { return "type" }

// Keys returns the key.
func (c *Type) Keys() []string { return []string{c.Key} }

// Keys is KEYS pattern; match names with Match.
type Keys struct{ Pattern string }

// Name returns "keys".
func (c *Keys) Name() string { return "keys" }

// Keys returns nothing: the pattern is not a key.
func (c *Keys) Keys() []string { return nil }

// Scan is SCAN cursor [MATCH pattern] [COUNT n] [TYPE type].
type Scan struct {
	Cursor   uint64
	Match    string
	HasMatch bool
	Count    int64  // >= 1, default 10
	TypeName string // "" when absent; any name but "stream" matches nothing in Shoal
}

// Name returns "scan".
func (c *Scan) Name() string { return "scan" }

// Keys returns nothing.
func (c *Scan) Keys() []string { return nil }

func parseScan(args [][]byte) (Command, error) {
	cursor, ok := parseUint64(args[1])
	if !ok {
		return nil, ErrInvalidCursor
	}
	c := &Scan{Cursor: cursor, Count: 10}
	for i := 2; i < len(args); i += 2 {
		more := len(args) - 1 - i
		switch {
		case is(args[i], "count") && more > 0:
			n, err := parseInteger(args[i+1])
			if err != nil {
				return nil, err
			}
			if n < 1 {
				return nil, ErrSyntax
			}
			c.Count = n
		case is(args[i], "match") && more > 0:
			c.Match, c.HasMatch = string(args[i+1]), true
		case is(args[i], "type") && more > 0:
			c.TypeName = string(args[i+1])
		default:
			return nil, ErrSyntax
		}
	}
	return c, nil
}
