package group

import (
	"errors"
	"fmt"
)

// Sentinel kinds of the errors Plan returns; test them with errors.Is. The Error() text of a
// returned error is Redis's reply text (without the leading '-'), to be sent to Redis clients
// verbatim.
var (
	// ErrNoGroup: the group does not exist (Redis's NOGROUP texts, which differ per command).
	ErrNoGroup = errors.New("NOGROUP No such consumer group")
	// ErrBusyGroup is XGROUP CREATE's error for an existing group name.
	ErrBusyGroup = errors.New("BUSYGROUP Consumer Group name already exists")
	// ErrEntriesRead is XGROUP CREATE/SETID's error for ENTRIESREAD below -1.
	ErrEntriesRead = errors.New("ERR value for ENTRIESREAD must be positive or -1")
	// ErrAutoClaimCount is XAUTOCLAIM's error for COUNT below 1.
	ErrAutoClaimCount = errors.New("ERR COUNT must be > 0")
	// ErrLimit: a Shoal limit of limits.go was exceeded; the text names the limit.
	ErrLimit = errors.New("ERR limit exceeded")
	// ErrPendingFull: the group's pending entries list holds MaxPendingPerGroup entries.
	ErrPendingFull = errors.New("ERR consumer group pending entries list is full: acknowledge entries first")
	// ErrInvalidArgument: a Shoal extension argument is out of range (e.g. negative MaxDeliveries).
	ErrInvalidArgument = errors.New("ERR invalid argument")
	// ErrKeyMissing is Redis's XGROUP error when the stream does not exist. Plan does not know
	// whether a key exists (the shell does); it is here so that the text lives with the others.
	//lint:ignore ST1005 Redis's reply text, sent verbatim
	ErrKeyMissing = errors.New("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")
)

// commandError is an error with Redis's exact text whose kind is a sentinel above.
type commandError struct {
	kind error
	text string
}

func (e *commandError) Error() string { return e.text }
func (e *commandError) Unwrap() error { return e.kind }

// noGroupRead is XREADGROUP's NOGROUP text.
func noGroupRead(key, group string) error {
	return &commandError{ErrNoGroup, fmt.Sprintf("NOGROUP No such key '%s' or consumer group '%s' in XREADGROUP with GROUP option", key, group)}
}

// noGroupKeyOrGroup is the NOGROUP text of XPENDING, XCLAIM and XAUTOCLAIM.
func noGroupKeyOrGroup(key, group string) error {
	return &commandError{ErrNoGroup, fmt.Sprintf("NOGROUP No such key '%s' or consumer group '%s'", key, group)}
}

// noGroupForKey is the NOGROUP text of XGROUP SETID/CREATECONSUMER/DELCONSUMER and XINFO
// CONSUMERS.
func noGroupForKey(key, group string) error {
	return &commandError{ErrNoGroup, fmt.Sprintf("NOGROUP No such consumer group '%s' for key name '%s'", group, key)}
}

func limitError(format string, args ...any) error {
	return &commandError{ErrLimit, "ERR " + fmt.Sprintf(format, args...)}
}

func invalidArgument(format string, args ...any) error {
	return &commandError{ErrInvalidArgument, "ERR " + fmt.Sprintf(format, args...)}
}
