package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/shoalmq/shoal/protocol"
)

// serverConn is one accepted connection. Its serve goroutine is the reader; it starts the writer
// goroutine and one goroutine per request.
//
// A request holds one slot from before its frame is read until its response has been written
// (the writer frees it), and its body's bytes in budget until its response is encoded. So at most
// cap(slots) responses are ever queued for the writer, and out never fills.
//
// Shutdown drains a connection: the reader keeps reading, so it notices a peer that leaves, but
// answers new requests with protocol.ErrShuttingDown at once; when the last handler that was
// running has finished, drained closes and a read deadline in the past stops the reader.
type serverConn struct {
	srv    *Server
	nc     net.Conn
	br     *bufio.Reader
	remote string
	logger *slog.Logger

	// ctx is every handler's context: cancelled when the connection ends or Shutdown runs out of
	// time.
	ctx    context.Context
	cancel context.CancelFunc

	slots    chan struct{} // a token per request in flight; cap = MaxInFlightPerConn
	budget   byteBudget
	out      chan *[]byte // encoded responses for the writer; cap = MaxInFlightPerConn
	handlers sync.WaitGroup

	clientID string // set by the handshake, read-only after

	// drained is closed once the connection is draining and no handler runs.
	drained chan struct{}
	// mu guards the drain state, and orders the reader's own changes of the read deadline
	// against the drain's.
	mu              sync.Mutex
	draining        bool
	handlersRunning int // Invariant: 0 <= handlersRunning <= cap(slots)
	drainedClosed   bool
}

func newServerConn(s *Server, nc net.Conn) *serverConn {
	ctx, cancel := context.WithCancel(s.handlerCtx)
	remote := nc.RemoteAddr().String()
	return &serverConn{
		srv:     s,
		nc:      nc,
		br:      bufio.NewReaderSize(nc, readBufferBytes),
		remote:  remote,
		logger:  s.logger.With("remote", remote),
		ctx:     ctx,
		cancel:  cancel,
		slots:   make(chan struct{}, s.cfg.MaxInFlightPerConn),
		budget:  newByteBudget(s.cfg.MaxInFlightBytesPerConn),
		out:     make(chan *[]byte, s.cfg.MaxInFlightPerConn),
		drained: make(chan struct{}),
	}
}

// serve runs the connection to its end: handshake, then requests until the peer leaves, breaks
// the protocol or the server drains it; then it waits for the handlers and the writer.
func (c *serverConn) serve() {
	defer c.srv.running.Done()
	defer c.srv.forget(c)
	defer c.cancel()
	if err := c.handshake(); err != nil {
		c.logClose(err, "handshake")
		_ = c.nc.Close()
		return
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		writeFrames(c.nc, c.out, nil, func() { <-c.slots }, func(error) { _ = c.nc.Close() })
	}()
	err := c.readLoop()
	if err != nil {
		c.abort() // the peer left or broke the protocol: nobody will read the responses
	}
	c.handlers.Wait()
	close(c.out) // the writer writes what is queued, then returns
	<-writerDone
	_ = c.nc.Close()
	c.logClose(err, "read")
}

// logClose writes the one line that says why a connection closed: WARN when the peer broke the
// protocol, DEBUG when it just went away.
func (c *serverConn) logClose(err error, during string) {
	switch {
	case err == nil:
		return
	case isViolation(err):
		c.logger.Warn("transport: closing connection: protocol violation", "during", during, "reason", err, "client_id", c.clientID)
	default:
		c.logger.Debug("transport: connection closed", "during", during, "reason", err, "client_id", c.clientID)
	}
}

// stopReading starts the drain (Shutdown): new requests are refused, and the reader stops once
// the running handlers have finished. Responses still get written.
func (c *serverConn) stopReading() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
	c.closeDrainedIfIdle()
}

// closeDrainedIfIdle closes drained, and wakes the reader with a read deadline in the past, once
// the connection drains and no handler runs. c.mu must be held.
func (c *serverConn) closeDrainedIfIdle() {
	if c.draining && c.handlersRunning == 0 && !c.drainedClosed {
		c.drainedClosed = true
		close(c.drained)
		_ = c.nc.SetReadDeadline(time.Unix(1, 0))
	}
}

// startHandler counts a handler about to start; false when the connection drains (refuse the
// request instead).
func (c *serverConn) startHandler() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.draining {
		return false
	}
	c.handlersRunning++
	c.handlers.Add(1)
	return true
}

// handlerDone undoes startHandler once the handler's response is queued (or it never ran).
func (c *serverConn) handlerDone() {
	c.mu.Lock()
	c.handlersRunning--
	if c.handlersRunning < 0 {
		panic(fmt.Sprintf("transport: %d handlers running on %s: handlerDone without startHandler", c.handlersRunning, c.remote))
	}
	c.closeDrainedIfIdle()
	c.mu.Unlock()
	c.handlers.Done()
}

// isDrained reports whether drained is closed: the reader's deadline is then in the past.
func (c *serverConn) isDrained() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.drainedClosed
}

// setReadDeadline sets the read deadline unless the connection is draining (then it reports
// false, and leaves the deadline alone).
func (c *serverConn) setReadDeadline(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.draining {
		return false
	}
	_ = c.nc.SetReadDeadline(t)
	return true
}

// abort ends the connection at once: handlers' contexts are cancelled and the socket is closed,
// which stops the reader and makes the writer drop what is left.
func (c *serverConn) abort() {
	c.cancel()
	_ = c.nc.Close()
}

// errDraining ends the handshake of a connection accepted just as Shutdown began.
var errDraining = errors.New("server shutting down")

// handshake reads the client's handshake and answers it. An error means the connection must be
// closed (an answer has been written when one helps the client: a refused version, a bad body).
func (c *serverConn) handshake() error {
	timeout := c.srv.cfg.HandshakeTimeout
	if !c.setReadDeadline(time.Now().Add(timeout)) {
		return errDraining
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	var scratch [protocol.FrameHeaderBytes]byte
	h, err := readFrameHeader(c.br, &scratch)
	if err != nil {
		return err
	}
	switch {
	case h.Type != protocol.TypeHandshake:
		err := protocol.Errorf(protocol.ErrMalformed, "first frame is a %s request: a connection starts with a handshake", h.Type)
		c.writeDirect(h, nil, err)
		return err
	case h.Flags != 0:
		return fmt.Errorf("%w: handshake with flags %#x", protocol.ErrBadFrame, uint16(h.Flags))
	case h.BodyLength > maxHandshakeBytes:
		return fmt.Errorf("%w: handshake body of %d bytes above the limit of %d", protocol.ErrBadFrame, h.BodyLength, maxHandshakeBytes)
	}
	body := make([]byte, h.BodyLength)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return err
	}
	var hs protocol.Handshake
	if err := protocol.Unmarshal(body, &hs); err != nil {
		err = fmt.Errorf("handshake: %w", err)
		c.writeDirect(h, nil, err)
		return err
	}
	version, err := negotiate(hs)
	if err != nil {
		c.writeDirect(h, nil, err)
		return err
	}
	if err := c.writeDirect(h, protocol.HandshakeResponse{Version: version, NodeID: c.srv.cfg.NodeID}, nil); err != nil {
		return err
	}
	c.clientID = hs.ClientID
	_ = c.nc.SetWriteDeadline(time.Time{})
	if !c.setReadDeadline(time.Time{}) {
		return errDraining
	}
	return nil
}

// negotiate picks the highest version both sides speak, or refuses naming both ranges.
func negotiate(hs protocol.Handshake) (uint16, error) {
	low, high := max(hs.VersionMin, protocol.VersionMin), min(hs.VersionMax, protocol.VersionMax)
	if hs.VersionMin > hs.VersionMax || low > high {
		return 0, protocol.Errorf(protocol.ErrUnsupportedVersion,
			"client speaks protocol versions %d..%d, this server speaks %d..%d: upgrade the older side",
			hs.VersionMin, hs.VersionMax, protocol.VersionMin, protocol.VersionMax)
	}
	return high, nil
}

// writeDirect writes the response to request h (resp, or err as an error frame) straight to the
// socket: only before the writer goroutine runs.
func (c *serverConn) writeDirect(h protocol.FrameHeader, resp any, err error) error {
	p := encodeResponse(h, resp, err, c.logger)
	defer putFrameBuffer(p)
	_, werr := c.nc.Write(*p)
	return werr
}

// readLoop reads requests and starts a goroutine for each, until the connection ends (the error
// says why) or has drained (nil). It takes a slot before reading each frame, so with
// MaxInFlightPerConn requests in flight it stops reading.
func (c *serverConn) readLoop() error {
	var scratch [protocol.FrameHeaderBytes]byte
	for {
		select {
		case c.slots <- struct{}{}:
		case <-c.drained:
			return nil
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
		h, err := readFrameHeader(c.br, &scratch)
		if err == nil {
			err = checkRequest(h)
		}
		if err == nil {
			if c.startHandler() {
				err = c.readRequest(h)
			} else {
				err = c.refuse(h)
			}
		}
		if err != nil {
			<-c.slots
			if c.isDrained() { // the error is the drain's deadline
				return nil
			}
			return err
		}
	}
}

// readRequest reads the body of request h and starts its handler; startHandler has counted it,
// and on error it is uncounted here.
func (c *serverConn) readRequest(h protocol.FrameHeader) error {
	if !c.budget.acquire(int(h.BodyLength), c.ctx.Done()) {
		c.handlerDone()
		return c.ctx.Err()
	}
	p := getFrameBuffer()
	body, err := readBody(c.br, *p, int(h.BodyLength))
	*p = body
	if err != nil {
		putFrameBuffer(p)
		c.budget.release(int(h.BodyLength))
		c.handlerDone()
		return err
	}
	req := Request{Type: h.Type, Body: body[:len(body):len(body)], ClientID: c.clientID, Remote: c.remote}
	run := func(ctx context.Context) (any, error) { return c.srv.cfg.Handler.Handle(ctx, req) }
	if a, ok := c.srv.cfg.Handler.(Admitter); ok {
		run = a.Admit(c.ctx, req)
	}
	go c.serveRequest(h, p, run)
	return nil
}

// refuse skips the body of a request that arrived while the connection drains and answers it
// with protocol.ErrShuttingDown (retriable: the client tries another node). The answer holds the
// slot the reader took.
func (c *serverConn) refuse(h protocol.FrameHeader) error {
	if _, err := io.CopyN(io.Discard, c.br, int64(h.BodyLength)); err != nil {
		return err
	}
	c.out <- encodeResponse(h, nil, protocol.Errorf(protocol.ErrShuttingDown,
		"node %s is shutting down: retry on another node", c.srv.cfg.NodeID), c.logger)
	return nil
}

// checkRequest refuses frames a client may not send after the handshake.
func checkRequest(h protocol.FrameHeader) error {
	switch {
	case h.Flags&protocol.FlagResponse != 0:
		return fmt.Errorf("%w: a %s frame with the response flag from a client", protocol.ErrBadFrame, h.Type)
	case h.Type == protocol.TypeHandshake:
		return fmt.Errorf("%w: a second handshake", protocol.ErrBadFrame)
	}
	return nil
}

// serveRequest runs the handler for one request and queues its response. The request's slot is
// freed by the writer once the response is written.
func (c *serverConn) serveRequest(h protocol.FrameHeader, p *[]byte, run func(context.Context) (any, error)) {
	resp, err := run(c.ctx)
	frame := encodeResponse(h, resp, err, c.logger) // before the body is reused: resp may alias it
	putFrameBuffer(p)
	c.budget.release(int(h.BodyLength))
	c.out <- frame // never blocks: this request holds one of cap(out) slots
	c.handlerDone()
}

// encodeResponse encodes the response to request h: resp, or err as an error frame. A response
// that cannot be encoded becomes an error frame saying so (and a log line: a handler bug).
func encodeResponse(h protocol.FrameHeader, resp any, err error, logger *slog.Logger) *[]byte {
	rh := protocol.FrameHeader{Type: h.Type, Flags: protocol.FlagResponse, RequestID: h.RequestID}
	if err == nil {
		p, encErr := encodeFrame(rh, resp)
		if encErr == nil {
			return p
		}
		logger.Error("transport: cannot encode a response; answering with an error", "type", h.Type, "err", encErr)
		err = fmt.Errorf("server could not encode its %s response: %w", h.Type, encErr)
	}
	rh.Flags |= protocol.FlagError
	p, encErr := encodeFrame(rh, protocol.ErrorBodyOf(err))
	if encErr != nil { // an ErrorBody always encodes, unless its message is absurdly long
		p, _ = encodeFrame(rh, protocol.ErrorBody{Code: protocol.CodeOf(err), Message: "error message too long to send"})
	}
	return p
}

// byteBudget bounds the request-body bytes a connection holds. Only the reader acquires; handlers
// release. One request may always proceed when nothing else is held, whatever its size.
type byteBudget struct {
	mu        sync.Mutex
	heldBytes int // Invariant: 0 <= heldBytes
	maxBytes  int
	freed     chan struct{} // cap 1: a release wakes the waiting reader
}

func newByteBudget(maxBytes int) byteBudget {
	return byteBudget{maxBytes: maxBytes, freed: make(chan struct{}, 1)}
}

// acquire takes n bytes, waiting for releases while the budget is full; false if done closes
// first.
func (b *byteBudget) acquire(n int, done <-chan struct{}) bool {
	for {
		b.mu.Lock()
		if b.heldBytes == 0 || b.heldBytes+n <= b.maxBytes {
			b.heldBytes += n
			b.mu.Unlock()
			return true
		}
		b.mu.Unlock()
		select {
		case <-b.freed:
		case <-done:
			return false
		}
	}
}

func (b *byteBudget) release(n int) {
	b.mu.Lock()
	b.heldBytes -= n
	if b.heldBytes < 0 {
		panic(fmt.Sprintf("transport: byte budget released below zero (held %d after releasing %d): a release without its acquire", b.heldBytes, n))
	}
	b.mu.Unlock()
	select {
	case b.freed <- struct{}{}:
	default:
	}
}
