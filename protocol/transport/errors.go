package transport

import (
	"errors"

	"github.com/shoalmq/shoal/protocol"
)

// ErrConnClosed means the connection is gone: closed by Conn.Close, by the server, or broken.
// Every Call pending on a Conn when it closes, and every Call after, fails with an error wrapping
// it (and the cause, when there was one). A client should dial again, possibly another node.
var ErrConnClosed = errors.New("transport: connection closed")

// isViolation reports whether err means the peer broke the protocol (bad bytes, a bad handshake)
// rather than the connection ending or failing: those are logged at WARN.
func isViolation(err error) bool {
	return errors.Is(err, protocol.ErrBadFrame) || errors.Is(err, protocol.ErrMalformed) ||
		errors.Is(err, protocol.ErrUnsupportedVersion)
}
