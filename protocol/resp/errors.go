package resp

import (
	"strings"
)

// Error is a Redis error reply's whole text, code included ("ERR syntax error"). Parse returns
// only Errors; the server writes them as they are.
type Error string

func (e Error) Error() string { return string(e) }

// Redis's fixed error texts (Redis 7.0 shared.* objects and t_stream.c), append only.
const (
	ErrSyntax           Error = "ERR syntax error"
	ErrNotInteger       Error = "ERR value is not an integer or out of range"
	ErrInvalidStreamID  Error = "ERR Invalid stream ID specified as stream command argument"
	ErrIDZero           Error = "ERR The ID specified in XADD must be greater than 0-0"
	ErrInvalidStartID   Error = "ERR invalid start ID for the interval"
	ErrInvalidEndID     Error = "ERR invalid end ID for the interval"
	ErrMaxLenNegative   Error = "ERR The MAXLEN argument must be >= 0."
	ErrLimitNegative    Error = "ERR The LIMIT argument must be >= 0."
	ErrMaxLenAndMinID   Error = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
	ErrLimitNoStrategy  Error = "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
	ErrLimitNotApprox   Error = "ERR syntax error, LIMIT cannot be used without the special ~ option"
	ErrXTrimNoStrategy  Error = "ERR syntax error, XTRIM must be called with a trimming strategy"
	ErrTimeoutNotInt    Error = "ERR timeout is not an integer or out of range"
	ErrTimeoutNegative  Error = "ERR timeout is negative"
	ErrUnbalancedXRead  Error = "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."
	ErrGroupOnXRead     Error = "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."
	ErrNoAckOnXRead     Error = "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."
	ErrMissingGroup     Error = "ERR Missing GROUP option for XREADGROUP"
	ErrDollarInGroup    Error = "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."
	ErrPlusInGroup      Error = "ERR The + ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The + ID would just return an empty result set."
	ErrGreaterOnXRead   Error = "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."
	ErrEntriesRead      Error = "ERR value for ENTRIESREAD must be positive or -1"
	ErrEntriesAdded     Error = "ERR entries_added must be positive"
	ErrXSetIDMaxDeleted Error = "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"
	ErrXClaimMinIdle    Error = "ERR Invalid min-idle-time argument for XCLAIM"
	ErrXClaimIdle       Error = "ERR Invalid IDLE option argument for XCLAIM"
	ErrXClaimTime       Error = "ERR Invalid TIME option argument for XCLAIM"
	ErrXClaimRetryCount Error = "ERR Invalid RETRYCOUNT option argument for XCLAIM"
	ErrXAutoClaimIdle   Error = "ERR Invalid min-idle-time argument for XAUTOCLAIM"
	ErrCountPositive    Error = "ERR COUNT must be > 0"
	ErrInvalidCursor    Error = "ERR invalid cursor"
	// ErrClaimMinIdle is Shoal's text for a bad XREADGROUP CLAIM argument (Redis 8.4's text was
	// not checked against a server).
	ErrClaimMinIdle Error = "ERR Invalid min-idle-time argument for XREADGROUP CLAIM"
	// ErrMaxDeliveries is Shoal's text for a bad XGROUP CREATE MAXDELIVERIES argument.
	ErrMaxDeliveries Error = "ERR value for MAXDELIVERIES must be positive or 0"
)

// ErrWrongArgs returns Redis's arity error for a command's full name ("xadd", "xgroup|create").
func ErrWrongArgs(fullName string) Error {
	return Error("ERR wrong number of arguments for '" + fullName + "' command")
}

// ErrUnknownCommand returns Redis's error for an unknown command: the name (first 128 bytes)
// and the arguments quoted until 128 bytes of them are written, as Redis 7.0 does.
func ErrUnknownCommand(args [][]byte) Error {
	var b strings.Builder
	b.WriteString("ERR unknown command '")
	b.Write(truncate(args[0], 128))
	b.WriteString("', with args beginning with: ")
	written := 0
	for _, a := range args[1:] {
		if written >= 128 {
			break
		}
		part := truncate(a, 128-written)
		b.WriteByte('\'')
		b.Write(part)
		b.WriteString("' ")
		written += len(part) + 3
	}
	return Error(b.String())
}

// ErrUnknownSubcommand returns Redis's error for an unknown subcommand of a container command.
func ErrUnknownSubcommand(command, sub []byte) Error {
	return Error("ERR unknown subcommand '" + string(truncate(sub, 128)) + "'. Try " +
		strings.ToUpper(string(command)) + " HELP.")
}

// ErrSubcommandSyntax returns Redis's addReplySubcommandSyntaxError text.
func ErrSubcommandSyntax(command, sub []byte) Error {
	return Error("ERR unknown subcommand or wrong number of arguments for '" + string(truncate(sub, 128)) +
		"'. Try " + strings.ToUpper(string(command)) + " HELP.")
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// ErrorTextOf returns the reply text for err: an Error's text as it is; otherwise err's text,
// with "ERR " in front unless it starts with an upper-case code word followed by a space.
func ErrorTextOf(err error) string {
	if e, ok := err.(Error); ok {
		return string(e)
	}
	text := err.Error()
	if hasErrorCode(text) {
		return text
	}
	return "ERR " + text
}

func hasErrorCode(text string) bool {
	word, _, found := strings.Cut(text, " ")
	if !found || word == "" {
		return false
	}
	for i := 0; i < len(word); i++ {
		if word[i] < 'A' || word[i] > 'Z' {
			return false
		}
	}
	return true
}
