package resp

import (
	"github.com/shoalmq/shoal/protocol/batch"
)

// Command is one parsed data command. Name is its lower-case full name as Redis spells it in
// errors ("xadd", "xgroup|create"); Keys are the stream keys it touches, in argument order.
// Commands are plain values: the Backend may read them from any goroutine.
type Command interface {
	Name() string
	Keys() []string
}

// Blocking reports whether cmd may wait for data (XREAD or XREADGROUP with BLOCK): the server
// answers the commands before it first, and watches the connection while it waits.
func Blocking(cmd Command) bool {
	switch c := cmd.(type) {
	case *XRead:
		return c.Block
	case *XReadGroup:
		return c.Block
	}
	return false
}

// commandSpec is one row of the command table: Redis's arity (negative: at least -arity
// arguments, command name included) and the parser, which sees a slice of the right length.
type commandSpec struct {
	arity int
	parse func(args [][]byte) (Command, error)
}

// commands is Parse's table, by lower-case name. Containers (XGROUP, XINFO) check their
// subcommand's arity themselves.
var commands = map[string]commandSpec{
	"xadd":       {-5, parseXAdd},
	"xrange":     {-4, func(a [][]byte) (Command, error) { return parseXRange(a, false) }},
	"xrevrange":  {-4, func(a [][]byte) (Command, error) { return parseXRange(a, true) }},
	"xread":      {-4, func(a [][]byte) (Command, error) { return parseXRead(a, false) }},
	"xreadgroup": {-7, func(a [][]byte) (Command, error) { return parseXRead(a, true) }},
	"xlen":       {2, func(a [][]byte) (Command, error) { return &XLen{Key: string(a[1])}, nil }},
	"xdel":       {-3, parseXDel},
	"xtrim":      {-4, parseXTrim},
	"xsetid":     {-3, parseXSetID},
	"xgroup":     {-2, parseXGroup},
	"xack":       {-4, parseXAck},
	"xpending":   {-3, parseXPending},
	"xclaim":     {-6, parseXClaim},
	"xautoclaim": {-6, parseXAutoClaim},
	"xinfo":      {-2, parseXInfo},
	"del":        {-2, func(a [][]byte) (Command, error) { return &Del{KeyList: toStrings(a[1:])}, nil }},
	"unlink":     {-2, func(a [][]byte) (Command, error) { return &Del{KeyList: toStrings(a[1:]), Unlink: true}, nil }},
	"exists":     {-2, func(a [][]byte) (Command, error) { return &Exists{KeyList: toStrings(a[1:])}, nil }},
	"type":       {2, func(a [][]byte) (Command, error) { return &Type{Key: string(a[1])}, nil }},
	"keys":       {2, func(a [][]byte) (Command, error) { return &Keys{Pattern: string(a[1])}, nil }},
	"scan":       {-2, parseScan},
}

// IsDataCommand reports whether name (any case) is a command Parse knows.
func IsDataCommand(name []byte) bool {
	_, ok := commands[lower(name)]
	return ok
}

// Parse parses one request: args[0] is the command name (any case), the rest its arguments.
// It returns the typed command, or an Error with Redis's text: unknown command, wrong number
// of arguments, syntax and value errors, in the order Redis checks them. Parse never panics;
// it keeps field values aliased (see the package comment) and copies names.
func Parse(args [][]byte) (Command, error) {
	if len(args) == 0 {
		return nil, ErrSyntax
	}
	spec, ok := commands[lower(args[0])]
	if !ok {
		return nil, ErrUnknownCommand(args)
	}
	if !arityOK(spec.arity, len(args)) {
		return nil, ErrWrongArgs(lower(args[0]))
	}
	return spec.parse(args)
}

func arityOK(arity, n int) bool {
	if arity < 0 {
		return n >= -arity
	}
	return n == arity
}

// lower returns b in ASCII lower case (as a new string; command names are short).
func lower(b []byte) string {
	var buf [32]byte
	out := buf[:0]
	if len(b) > len(buf) {
		out = make([]byte, 0, len(b))
	}
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out = append(out, c)
	}
	return string(out)
}

// is reports whether arg equals the lower-case word w, ignoring ASCII case (strcasecmp).
func is(arg []byte, w string) bool {
	if len(arg) != len(w) {
		return false
	}
	for i := range len(arg) {
		c := arg[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}

func toStrings(args [][]byte) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = string(a)
	}
	return out
}

func parseIDs(args [][]byte) ([]batch.ID, error) {
	ids := make([]batch.ID, len(args))
	for i, a := range args {
		id, err := parseID(a, 0, idStrict)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

// Help is a HELP subcommand (XGROUP HELP, XINFO HELP): the protocol layer answers it itself
// with Reply, without a Backend.
type Help struct {
	Command string   // upper-case container name, "XGROUP"
	Lines   []string // the help text, without Redis's header and footer lines
}

// Name returns "xgroup|help" or "xinfo|help".
func (h *Help) Name() string { return lower([]byte(h.Command)) + "|help" }

// Keys returns nothing: HELP touches no key.
func (h *Help) Keys() []string { return nil }

// Reply returns Redis's addReplyHelp reply: a header, the lines, and the HELP line.
func (h *Help) Reply() Value {
	elems := make([]Value, 0, len(h.Lines)+3)
	elems = append(elems, SimpleString(h.Command+" <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"))
	for _, l := range h.Lines {
		elems = append(elems, SimpleString(l))
	}
	elems = append(elems, SimpleString("HELP"), SimpleString("    Prints this help."))
	return Array(elems...)
}
