// Package transport carries Shoal's native protocol over TCP: the listener that serves it
// (Listen, Server) and the dialer that speaks it (Dial, Conn). It is the only protocol package
// that uses net or starts goroutines; frames, messages, limits and the error-code table live in
// package protocol.
//
// # Connections
//
// A connection opens with a handshake: the client's first frame is a protocol.TypeHandshake
// request carrying its version range and client id; the server answers with the highest version
// both speak and its node id, or with an error frame (protocol.CodeUnsupportedVersion, naming both
// ranges) and closes. No other request is served before the handshake.
//
// After it, requests are pipelined: a Conn may have many Calls in flight from many goroutines,
// each frame carries a request id, and the server answers each request as soon as its handler
// returns, so responses come back in any order and are matched by id.
//
// # Goroutines
//
// Each side runs one reader and one writer goroutine per connection; the server also runs one
// goroutine per request being served. The writer takes every frame queued for it, writes them
// through one bufio.Writer and flushes only when the queue is empty, so responses that finish
// together share a system call. Frames are encoded into pooled buffers; a large body is copied
// once into its frame (by msgpack) and is then written straight to the socket, and a large body
// read from the socket lands directly in its pooled buffer.
//
// # Bounds and backpressure
//
// A server connection serves at most ServerConfig.MaxInFlightPerConn requests at once, and holds
// at most ServerConfig.MaxInFlightBytesPerConn bytes of request bodies. Past either it stops
// reading that connection, so TCP pushes back on the client; nothing queues without bound. A
// frame body is never longer than protocol.MaxFrameBytes, and is read in chunks that grow as its
// bytes arrive, so a header that promises a large body costs memory only once the bytes come.
//
// # Bad bytes
//
// Bad bytes close one connection and nothing else: a malformed or oversized frame, a request
// carrying the response flag, a second handshake, or an undecodable handshake makes the server
// close that connection with one log line (reason, remote address). A Conn that receives a
// malformed frame closes itself and fails its pending Calls with an error wrapping ErrConnClosed.
//
// # Shutdown
//
// Server.Shutdown stops accepting, answers requests that arrive from then on with
// protocol.ErrShuttingDown (retriable: the client tries another node), lets the requests in
// flight finish and their responses be written, and then closes every connection; when its
// context ends first, it cancels the handlers' contexts and closes the connections at once. While
// it drains, a connection is still read, so a client that leaves cancels its handlers as usual.
// Conn.Close fails the pending Calls and stops the connection's goroutines. Neither leaves a
// goroutine behind.
package transport
