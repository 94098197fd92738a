package resp

import (
	"math"

	"github.com/shoalmq/shoal/protocol/batch"
)

// TrimStrategy is how XADD and XTRIM trim a stream.
type TrimStrategy uint8

// Trim strategies.
const (
	TrimNone   TrimStrategy = iota // no MAXLEN or MINID
	TrimMaxLen                     // MAXLEN: keep at most MaxLen entries
	TrimMinID                      // MINID: drop entries below MinID
)

// Trim is the trimming part of XADD and XTRIM.
type Trim struct {
	Strategy TrimStrategy
	Approx   bool     // "~": the backend may trim less, at whole-segment granularity
	MaxLen   int64    // TrimMaxLen: >= 0
	MinID    batch.ID // TrimMinID
	// Limit is LIMIT's argument (only with "~"); 0 when absent, and then Redis caps an
	// approximate trim at 100 * stream-node-max-entries entries.
	Limit int64
}

// XAddID is XADD's id argument.
type XAddID struct {
	Auto    bool     // "*": the backend picks ms and seq
	AutoSeq bool     // "<ms>-*": ID.Ms given, the backend picks the seq
	ID      batch.ID // explicit (or the ms of AutoSeq); never 0-0 when explicit
}

// XAdd is XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] id field value ...
type XAdd struct {
	Key        string
	NoMkStream bool
	Trim       Trim
	ID         XAddID
	// Fields holds field and value alternately (an even count, at least two), aliasing the
	// request's argument bytes.
	Fields [][]byte
}

// Name returns "xadd".
func (c *XAdd) Name() string { return "xadd" }

// Keys returns the stream key.
func (c *XAdd) Keys() []string { return []string{c.Key} }

// parseTrimOptions is streamParseAddOrTrimArgsOrReply: it parses options from args[2] and, for
// XADD, stops at the id, whose index it returns.
func parseTrimOptions(args [][]byte, xadd bool) (trim Trim, noMkStream bool, idIndex int, err error) {
	limitGiven := false
	i := 2
	for ; i < len(args); i++ {
		more := len(args) - 1 - i
		opt := args[i]
		switch {
		case xadd && len(opt) == 1 && opt[0] == '*':
			return finishTrim(trim, limitGiven, xadd, noMkStream, i)
		case is(opt, "maxlen") && more > 0, is(opt, "minid") && more > 0:
			if trim.Strategy != TrimNone {
				return trim, false, 0, ErrMaxLenAndMinID
			}
			trim.Approx = false
			if next := args[i+1]; more >= 2 && len(next) == 1 && (next[0] == '~' || next[0] == '=') {
				trim.Approx = next[0] == '~'
				i++
			}
			if is(opt, "maxlen") {
				if trim.MaxLen, err = parseInteger(args[i+1]); err != nil {
					return trim, false, 0, err
				}
				if trim.MaxLen < 0 {
					return trim, false, 0, ErrMaxLenNegative
				}
				trim.Strategy = TrimMaxLen
			} else {
				if trim.MinID, err = parseID(args[i+1], 0, idStrict); err != nil {
					return trim, false, 0, err
				}
				trim.Strategy = TrimMinID
			}
			i++
		case is(opt, "limit") && more > 0:
			if trim.Limit, err = parseInteger(args[i+1]); err != nil {
				return trim, false, 0, err
			}
			if trim.Limit < 0 {
				return trim, false, 0, ErrLimitNegative
			}
			limitGiven = true
			i++
		case xadd && is(opt, "nomkstream"):
			noMkStream = true
		case xadd:
			return finishTrim(trim, limitGiven, xadd, noMkStream, i)
		default:
			return trim, false, 0, ErrSyntax
		}
	}
	return finishTrim(trim, limitGiven, xadd, noMkStream, i)
}

func finishTrim(trim Trim, limitGiven, xadd, noMkStream bool, idIndex int) (Trim, bool, int, error) {
	switch {
	case trim.Limit != 0 && trim.Strategy == TrimNone:
		return trim, false, 0, ErrLimitNoStrategy
	case !xadd && trim.Strategy == TrimNone:
		return trim, false, 0, ErrXTrimNoStrategy
	case limitGiven && !trim.Approx:
		return trim, false, 0, ErrLimitNotApprox
	}
	return trim, noMkStream, idIndex, nil
}

func parseXAdd(args [][]byte) (Command, error) {
	trim, noMkStream, idIndex, err := parseTrimOptions(args, true)
	if err != nil {
		return nil, err
	}
	fieldCount := len(args) - idIndex - 1
	if idIndex >= len(args) || fieldCount < 2 || fieldCount%2 == 1 {
		return nil, ErrWrongArgs("xadd")
	}
	id, err := parseXAddID(args[idIndex])
	if err != nil {
		return nil, err
	}
	return &XAdd{Key: string(args[1]), NoMkStream: noMkStream, Trim: trim, ID: id, Fields: args[idIndex+1:]}, nil
}

func parseXAddID(b []byte) (XAddID, error) {
	if len(b) == 1 && b[0] == '*' {
		return XAddID{Auto: true}, nil
	}
	if ms, seq, ok := cutByte(b, '-'); ok && len(seq) == 1 && seq[0] == '*' && len(b) <= 127 {
		v, ok := parseUint64(ms)
		if !ok {
			return XAddID{}, ErrInvalidStreamID
		}
		return XAddID{AutoSeq: true, ID: batch.ID{Ms: v}}, nil
	}
	id, err := parseID(b, 0, idStrict)
	if err != nil {
		return XAddID{}, err
	}
	if id.IsZero() {
		return XAddID{}, ErrIDZero
	}
	return XAddID{ID: id}, nil
}

// XTrim is XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count].
type XTrim struct {
	Key  string
	Trim Trim // Strategy is never TrimNone
}

// Name returns "xtrim".
func (c *XTrim) Name() string { return "xtrim" }

// Keys returns the stream key.
func (c *XTrim) Keys() []string { return []string{c.Key} }

func parseXTrim(args [][]byte) (Command, error) {
	trim, _, _, err := parseTrimOptions(args, false)
	if err != nil {
		return nil, err
	}
	return &XTrim{Key: string(args[1]), Trim: trim}, nil
}

// XRange is XRANGE key start end [COUNT n], or XREVRANGE key end start [COUNT n] when Reverse.
// Start and End are inclusive ("(" bounds are already moved by one id).
type XRange struct {
	Key        string
	Start, End batch.ID
	Count      int64 // -1: no COUNT; 0: COUNT 0 or negative, the reply is a null array
	Reverse    bool
}

// Name returns "xrange" or "xrevrange".
func (c *XRange) Name() string {
	if c.Reverse {
		return "xrevrange"
	}
	return "xrange"
}

// Keys returns the stream key.
func (c *XRange) Keys() []string { return []string{c.Key} }

func parseXRange(args [][]byte, reverse bool) (Command, error) {
	startArg, endArg := args[2], args[3]
	if reverse {
		startArg, endArg = endArg, startArg
	}
	start, err := parseBound(startArg, true)
	if err != nil {
		return nil, err
	}
	end, err := parseBound(endArg, false)
	if err != nil {
		return nil, err
	}
	c := &XRange{Key: string(args[1]), Start: start, End: end, Count: -1, Reverse: reverse}
	for j := 4; j < len(args); j++ {
		if !is(args[j], "count") || j+1 >= len(args) {
			return nil, ErrSyntax
		}
		if c.Count, err = parseInteger(args[j+1]); err != nil {
			return nil, err
		}
		c.Count = max(c.Count, 0)
		j++
	}
	return c, nil
}

// ReadFrom says where XREAD or XREADGROUP starts in one stream.
type ReadFrom uint8

// Read positions.
const (
	ReadAfterID     ReadFrom = iota // entries after ID (XREADGROUP: this consumer's pending ones)
	ReadNew                         // "$": entries added after the command arrives (XREAD)
	ReadLastEntry                   // "+": the last entry, then like ReadAfterID (XREAD, Redis 7.4)
	ReadUndelivered                 // ">": entries never delivered to the group (XREADGROUP)
)

// ReadStream is one key of STREAMS with its position.
type ReadStream struct {
	Key  string
	From ReadFrom
	ID   batch.ID // ReadAfterID only
}

// XRead is XREAD [COUNT n] [BLOCK ms] STREAMS key ... id ...
type XRead struct {
	Count   int64 // 0: no limit
	Block   bool
	BlockMs int64 // with Block: 0 waits forever
	Streams []ReadStream
}

// Name returns "xread".
func (c *XRead) Name() string { return "xread" }

// Keys returns the stream keys.
func (c *XRead) Keys() []string { return streamKeys(c.Streams) }

// XReadGroup is XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [CLAIM min-idle-ms] [NOACK]
// STREAMS key ... id ...
type XReadGroup struct {
	Group, Consumer string
	Count           int64 // 0: no limit
	Block           bool
	BlockMs         int64 // with Block: 0 waits forever
	NoAck           bool
	// ClaimMinIdleMs is CLAIM's argument (Redis 8.4): also deliver pending entries idle at
	// least this long; -1 when absent.
	ClaimMinIdleMs int64
	Streams        []ReadStream
}

// Name returns "xreadgroup".
func (c *XReadGroup) Name() string { return "xreadgroup" }

// Keys returns the stream keys.
func (c *XReadGroup) Keys() []string { return streamKeys(c.Streams) }

func streamKeys(streams []ReadStream) []string {
	keys := make([]string, len(streams))
	for i, s := range streams {
		keys[i] = s.Key
	}
	return keys
}

// parseXRead is xreadCommand's argument parsing, for both commands.
func parseXRead(args [][]byte, group bool) (Command, error) {
	g := &XReadGroup{ClaimMinIdleMs: -1}
	groupGiven, streamsAt := false, 0
	for i := 1; i < len(args) && streamsAt == 0; i++ {
		more := len(args) - 1 - i
		opt := args[i]
		switch {
		case is(opt, "block") && more > 0:
			i++
			ms, ok := parseInt64(args[i])
			if !ok {
				return nil, ErrTimeoutNotInt
			}
			if ms < 0 {
				return nil, ErrTimeoutNegative
			}
			g.Block, g.BlockMs = true, ms
		case is(opt, "count") && more > 0:
			i++
			n, err := parseInteger(args[i])
			if err != nil {
				return nil, err
			}
			g.Count = max(n, 0)
		case is(opt, "streams") && more > 0:
			streamsAt = i + 1
			if (len(args)-streamsAt)%2 != 0 {
				return nil, ErrUnbalancedXRead
			}
		case is(opt, "group") && more >= 2:
			if !group {
				return nil, ErrGroupOnXRead
			}
			g.Group, g.Consumer, groupGiven = string(args[i+1]), string(args[i+2]), true
			i += 2
		case is(opt, "noack"):
			if !group {
				return nil, ErrNoAckOnXRead
			}
			g.NoAck = true
		case group && is(opt, "claim") && more > 0:
			i++
			ms, ok := parseInt64(args[i])
			if !ok || ms < 0 {
				return nil, ErrClaimMinIdle
			}
			g.ClaimMinIdleMs = ms
		default:
			return nil, ErrSyntax
		}
	}
	if streamsAt == 0 {
		return nil, ErrSyntax
	}
	if group && !groupGiven {
		return nil, ErrMissingGroup
	}
	streams, err := parseReadStreams(args[streamsAt:], group)
	if err != nil {
		return nil, err
	}
	g.Streams = streams
	if group {
		return g, nil
	}
	return &XRead{Count: g.Count, Block: g.Block, BlockMs: g.BlockMs, Streams: streams}, nil
}

func parseReadStreams(rest [][]byte, group bool) ([]ReadStream, error) {
	n := len(rest) / 2
	streams := make([]ReadStream, n)
	for i := range n {
		s := ReadStream{Key: string(rest[i])}
		idArg := rest[n+i]
		switch {
		case len(idArg) == 1 && idArg[0] == '$':
			if group {
				return nil, ErrDollarInGroup
			}
			s.From = ReadNew
		case len(idArg) == 1 && idArg[0] == '+':
			if group {
				return nil, ErrPlusInGroup
			}
			s.From = ReadLastEntry
		case len(idArg) == 1 && idArg[0] == '>':
			if !group {
				return nil, ErrGreaterOnXRead
			}
			s.From = ReadUndelivered
		default:
			id, err := parseID(idArg, 0, idStrict)
			if err != nil {
				return nil, err
			}
			s.ID = id
		}
		streams[i] = s
	}
	return streams, nil
}

// XLen is XLEN key.
type XLen struct{ Key string }

// Name returns "xlen".
func (c *XLen) Name() string { return "xlen" }

// Keys returns the stream key.
func (c *XLen) Keys() []string { return []string{c.Key} }

// XDel is XDEL key id ...
type XDel struct {
	Key string
	IDs []batch.ID
}

// Name returns "xdel".
func (c *XDel) Name() string { return "xdel" }

// Keys returns the stream key.
func (c *XDel) Keys() []string { return []string{c.Key} }

func parseXDel(args [][]byte) (Command, error) {
	ids, err := parseIDs(args[2:])
	if err != nil {
		return nil, err
	}
	return &XDel{Key: string(args[1]), IDs: ids}, nil
}

// XSetID is XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id].
type XSetID struct {
	Key          string
	LastID       batch.ID
	EntriesAdded int64 // -1 when absent
	// MaxDeletedID is MAXDELETEDID's id (0-0 when absent); never above LastID.
	MaxDeletedID batch.ID
}

// Name returns "xsetid".
func (c *XSetID) Name() string { return "xsetid" }

// Keys returns the stream key.
func (c *XSetID) Keys() []string { return []string{c.Key} }

func parseXSetID(args [][]byte) (Command, error) {
	id, err := parseID(args[2], 0, idStrict)
	if err != nil {
		return nil, err
	}
	c := &XSetID{Key: string(args[1]), LastID: id, EntriesAdded: -1}
	for i := 3; i < len(args); i += 2 {
		more := len(args) - 1 - i
		switch {
		case is(args[i], "entriesadded") && more > 0:
			if c.EntriesAdded, err = parseInteger(args[i+1]); err != nil {
				return nil, err
			}
			if c.EntriesAdded < 0 {
				return nil, ErrEntriesAdded
			}
		case is(args[i], "maxdeletedid") && more > 0:
			if c.MaxDeletedID, err = parseID(args[i+1], 0, idStrict); err != nil {
				return nil, err
			}
			if c.LastID.Less(c.MaxDeletedID) {
				return nil, ErrXSetIDMaxDeleted
			}
		default:
			return nil, ErrSyntax
		}
	}
	return c, nil
}

// XAck is XACK key group id ...
type XAck struct {
	Key, Group string
	IDs        []batch.ID
}

// Name returns "xack".
func (c *XAck) Name() string { return "xack" }

// Keys returns the stream key.
func (c *XAck) Keys() []string { return []string{c.Key} }

func parseXAck(args [][]byte) (Command, error) {
	ids, err := parseIDs(args[3:])
	if err != nil {
		return nil, err
	}
	return &XAck{Key: string(args[1]), Group: string(args[2]), IDs: ids}, nil
}

// XPending is XPENDING key group [[IDLE ms] start end count [consumer]].
type XPending struct {
	Key, Group string
	// Extended is false for the summary form (no start, end, count).
	Extended    bool
	MinIdleMs   int64    // IDLE's argument, 0 when absent
	Start, End  batch.ID // inclusive
	Count       int64    // >= 0
	Consumer    string
	HasConsumer bool
}

// Name returns "xpending".
func (c *XPending) Name() string { return "xpending" }

// Keys returns the stream key.
func (c *XPending) Keys() []string { return []string{c.Key} }

func parseXPending(args [][]byte) (Command, error) {
	c := &XPending{Key: string(args[1]), Group: string(args[2])}
	if len(args) == 3 {
		return c, nil
	}
	if len(args) < 6 || len(args) > 9 {
		return nil, ErrSyntax
	}
	c.Extended = true
	at := 3
	var err error
	if is(args[3], "idle") {
		if c.MinIdleMs, err = parseInteger(args[4]); err != nil {
			return nil, err
		}
		if len(args) < 8 {
			return nil, ErrSyntax
		}
		at += 2
	}
	if c.Count, err = parseInteger(args[at+2]); err != nil {
		return nil, err
	}
	c.Count = max(c.Count, 0)
	if c.Start, err = parseBound(args[at], true); err != nil {
		return nil, err
	}
	if c.End, err = parseBound(args[at+1], false); err != nil {
		return nil, err
	}
	if at+3 < len(args) {
		c.Consumer, c.HasConsumer = string(args[at+3]), true
	}
	return c, nil
}

// DeliveryTime is XCLAIM's IDLE or TIME option (the last one given wins).
type DeliveryTime struct {
	Set bool
	// Idle: Ms is an idle time (IDLE), else a Unix time in ms (TIME). The backend resolves it
	// against its clock, and a negative or future time becomes now, as in Redis.
	Idle bool
	Ms   int64
}

// XClaim is XCLAIM key group consumer min-idle-ms id ... [IDLE ms] [TIME ms] [RETRYCOUNT n]
// [FORCE] [JUSTID] [LASTID id].
type XClaim struct {
	Key, Group, Consumer string
	MinIdleMs            int64 // >= 0
	IDs                  []batch.ID
	Delivery             DeliveryTime
	RetryCount           int64 // -1 when absent
	Force, JustID        bool
	LastID               batch.ID // 0-0 when absent
}

// Name returns "xclaim".
func (c *XClaim) Name() string { return "xclaim" }

// Keys returns the stream key.
func (c *XClaim) Keys() []string { return []string{c.Key} }

func parseXClaim(args [][]byte) (Command, error) {
	minIdle, ok := parseInt64(args[4])
	if !ok {
		return nil, ErrXClaimMinIdle
	}
	c := &XClaim{Key: string(args[1]), Group: string(args[2]), Consumer: string(args[3]),
		MinIdleMs: max(minIdle, 0), RetryCount: -1}
	j := 5
	for ; j < len(args); j++ {
		id, err := parseID(args[j], 0, idStrict)
		if err != nil {
			break
		}
		c.IDs = append(c.IDs, id)
	}
	for ; j < len(args); j++ {
		if err := c.parseOption(args, &j); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *XClaim) parseOption(args [][]byte, j *int) error {
	opt, more := args[*j], len(args)-1-*j
	var ok bool
	var err error
	switch {
	case is(opt, "force"):
		c.Force = true
	case is(opt, "justid"):
		c.JustID = true
	case (is(opt, "idle") || is(opt, "time")) && more > 0:
		*j++
		if c.Delivery.Ms, ok = parseInt64(args[*j]); !ok {
			if is(opt, "idle") {
				return ErrXClaimIdle
			}
			return ErrXClaimTime
		}
		c.Delivery.Set, c.Delivery.Idle = true, is(opt, "idle")
	case is(opt, "retrycount") && more > 0:
		*j++
		if c.RetryCount, ok = parseInt64(args[*j]); !ok {
			return ErrXClaimRetryCount
		}
	case is(opt, "lastid") && more > 0:
		*j++
		if c.LastID, err = parseID(args[*j], 0, idStrict); err != nil {
			return err
		}
	default:
		return Error("ERR Unrecognized XCLAIM option '" + string(opt) + "'")
	}
	return nil
}

// XAutoClaim is XAUTOCLAIM key group consumer min-idle-ms start [COUNT n] [JUSTID].
type XAutoClaim struct {
	Key, Group, Consumer string
	MinIdleMs            int64    // >= 0
	Start                batch.ID // inclusive
	Count                int64    // 1 .. MaxAutoClaimCount, default 100
	JustID               bool
}

// MaxAutoClaimCount is XAUTOCLAIM's largest COUNT (Redis: LONG_MAX / 16).
const MaxAutoClaimCount = math.MaxInt64 / 16

// Name returns "xautoclaim".
func (c *XAutoClaim) Name() string { return "xautoclaim" }

// Keys returns the stream key.
func (c *XAutoClaim) Keys() []string { return []string{c.Key} }

func parseXAutoClaim(args [][]byte) (Command, error) {
	minIdle, ok := parseInt64(args[4])
	if !ok {
		return nil, ErrXAutoClaimIdle
	}
	start, err := parseBound(args[5], true)
	if err != nil {
		return nil, err
	}
	c := &XAutoClaim{Key: string(args[1]), Group: string(args[2]), Consumer: string(args[3]),
		MinIdleMs: max(minIdle, 0), Start: start, Count: 100}
	for j := 6; j < len(args); j++ {
		switch more := len(args) - 1 - j; {
		case is(args[j], "count") && more > 0:
			n, ok := parseInt64(args[j+1])
			if !ok || n < 1 || n > MaxAutoClaimCount { // Redis gives one text for both
				return nil, ErrCountPositive
			}
			c.Count = n
			j++
		case is(args[j], "justid"):
			c.JustID = true
		default:
			return nil, ErrSyntax
		}
	}
	return c, nil
}
