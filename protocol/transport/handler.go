package transport

import (
	"context"

	"github.com/shoalmq/shoal/protocol"
)

// Handler serves one request. It runs on its own goroutine, may block (a long-poll fetch waits
// for data), and must respect ctx, which is cancelled when the connection closes or when the
// server's Shutdown runs out of time; a handler that ignores ctx keeps Shutdown waiting.
//
// req.Body is valid only until Handle returns, with one allowance: the response value is encoded
// before the body's buffer is reused, so a response may alias slices of req.Body. Handle returns
// the response value (encoded with protocol.AppendMarshal; nil encodes as msgpack nil) or an error,
// sent as a protocol.FlagError frame with protocol.ErrorBodyOf(err), so wrap a protocol sentinel
// (protocol.ErrNotLeader, protocol.ErrBusy...) for the client to see it with errors.Is.
//
// A panic in Handle is a programmer error and is not recovered.
type Handler interface {
	Handle(ctx context.Context, req Request) (any, error)
}

// Admitter is an optional interface of a Handler, for requests whose order on a connection
// matters (a pipelining producer's batches for one partition). Admit runs on the connection's
// reader goroutine, in the order the requests arrive, before the next request is read: it does
// the ordered part (decode, hand the batches to their partitions) without waiting for results,
// and returns the rest, which runs on the request's own goroutine like Handle. req.Body stays
// valid until that function returns. While Admit runs the connection is not read, so it must not
// wait long.
type Admitter interface {
	Admit(ctx context.Context, req Request) func(ctx context.Context) (any, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req Request) (any, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, req Request) (any, error) { return f(ctx, req) }

// Request is one request as the server read it.
type Request struct {
	// Type is the frame's message type; never protocol.TypeHandshake (the server answers
	// handshakes itself).
	Type protocol.MessageType
	// Body is the msgpack body, to decode with protocol.Unmarshal. The server owns it: see
	// Handler for how long it stays valid.
	Body []byte
	// ClientID is what the client sent in its handshake (may be empty).
	ClientID string
	// Remote is the peer's address, for logs.
	Remote string
}
