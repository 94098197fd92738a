package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoalmq/shoal/protocol"
)

// DefaultDialTimeout bounds Dial (connect and handshake) when DialOptions.Timeout is zero.
const DefaultDialTimeout = 10 * time.Second

// sendQueueFrames bounds the requests encoded and waiting for a Conn's writer; a Call past it
// waits (or gives up with its ctx).
const sendQueueFrames = 256

// DialOptions configures Dial.
type DialOptions struct {
	// ClientID is sent in the handshake; the server logs it and hands it to its handler.
	ClientID string
	// Timeout bounds connecting and the handshake together (default 10s); ctx may end it sooner.
	Timeout time.Duration
	// Logger receives connection events (nil: slog.Default()).
	Logger *slog.Logger
}

// Conn is a client connection to one node. Its methods are safe for concurrent use: many Calls
// may be in flight at once from many goroutines (pipelining), matched to their responses by
// request id. A Conn that breaks stays broken: Done is closed, Err says why, and Calls fail with
// an error wrapping ErrConnClosed; dial again.
type Conn struct {
	nc      net.Conn
	addr    string
	nodeID  string
	version uint16
	logger  *slog.Logger

	lastRequestID atomic.Uint64
	out           chan *[]byte  // encoded requests for the writer
	done          chan struct{} // closed when the connection closes or breaks
	loops         sync.WaitGroup

	mu      sync.Mutex
	pending map[uint64]pendingCall // nil once closed
	err     error                  // why it closed, wrapping ErrConnClosed; set before done closes
}

// pendingCall is a Call waiting for its response.
type pendingCall struct {
	t      protocol.MessageType
	result chan callResult // cap 1: the reader never blocks on it
}

// callResult is a response frame (body in a pooled buffer the receiver puts back) or the error
// that ended the connection.
type callResult struct {
	flags protocol.Flags
	body  *[]byte
	err   error
}

// Dial connects to the node at addr and performs the handshake. A refused connection gives an
// error saying so ("cannot reach ADDR: is a node running? ..."); a server that speaks none of this
// build's versions gives one wrapping protocol.ErrUnsupportedVersion. When ctx ends first, the
// error wraps ctx's error; when opts.Timeout passes first, it wraps os.ErrDeadlineExceeded (a
// timeout of the connection, not of the caller).
func Dial(ctx context.Context, addr string, opts DialOptions) (*Conn, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultDialTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// Our own timeout is a connection failure, not the caller giving up: its cause wraps
	// os.ErrDeadlineExceeded (a net timeout), not context.DeadlineExceeded.
	ctx, cancel := context.WithTimeoutCause(ctx, opts.Timeout,
		fmt.Errorf("no answer within the dial timeout of %v: %w", opts.Timeout, os.ErrDeadlineExceeded))
	defer cancel()
	var dialer net.Dialer
	nc, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		err = orContextErr(ctx, err)
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("transport: cannot reach %s: is a node running? start one with make run: %w", addr, err)
		}
		return nil, fmt.Errorf("transport: cannot reach %s: %w", addr, err)
	}
	resp, err := clientHandshake(ctx, nc, opts.ClientID)
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("transport: handshake with %s: %w", addr, err)
	}
	c := &Conn{
		nc:      nc,
		addr:    addr,
		nodeID:  resp.NodeID,
		version: resp.Version,
		logger:  opts.Logger.With("addr", addr, "node_id", resp.NodeID),
		out:     make(chan *[]byte, sendQueueFrames),
		done:    make(chan struct{}),
		pending: make(map[uint64]pendingCall),
	}
	c.lastRequestID.Store(handshakeRequestID)
	c.loops.Add(2)
	go c.readLoop(bufio.NewReaderSize(nc, readBufferBytes))
	go func() {
		defer c.loops.Done()
		writeFrames(nc, c.out, c.done, nil, func(err error) { c.fail(fmt.Errorf("write: %w", err)) })
	}()
	return c, nil
}

// handshakeRequestID is the request id of the handshake; Calls count up from it.
const handshakeRequestID = 1

// clientHandshake sends the handshake on nc and reads the answer, bounded by ctx.
func clientHandshake(ctx context.Context, nc net.Conn, clientID string) (protocol.HandshakeResponse, error) {
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	h := protocol.FrameHeader{Type: protocol.TypeHandshake, RequestID: handshakeRequestID}
	p, err := encodeFrame(h, protocol.Handshake{VersionMin: protocol.VersionMin, VersionMax: protocol.VersionMax, ClientID: clientID})
	if err != nil {
		return protocol.HandshakeResponse{}, err
	}
	_, err = nc.Write(*p)
	putFrameBuffer(p)
	if err != nil {
		return protocol.HandshakeResponse{}, orContextErr(ctx, err)
	}
	var scratch [protocol.FrameHeaderBytes]byte
	rh, err := readFrameHeader(nc, &scratch)
	if err != nil {
		return protocol.HandshakeResponse{}, orContextErr(ctx, err)
	}
	if rh.Type != protocol.TypeHandshake || rh.Flags&protocol.FlagResponse == 0 || rh.RequestID != handshakeRequestID {
		return protocol.HandshakeResponse{}, fmt.Errorf("%w: answer to the handshake is a %s frame (flags %#x, request id %d)",
			protocol.ErrBadFrame, rh.Type, uint16(rh.Flags), rh.RequestID)
	}
	if rh.BodyLength > maxHandshakeBytes {
		return protocol.HandshakeResponse{}, fmt.Errorf("%w: handshake answer of %d bytes above the limit of %d",
			protocol.ErrBadFrame, rh.BodyLength, maxHandshakeBytes)
	}
	body := make([]byte, rh.BodyLength)
	if _, err := io.ReadFull(nc, body); err != nil {
		return protocol.HandshakeResponse{}, orContextErr(ctx, err)
	}
	if rh.Flags&protocol.FlagError != 0 {
		return protocol.HandshakeResponse{}, decodeErrorBody(body)
	}
	var resp protocol.HandshakeResponse
	if err := protocol.Unmarshal(body, &resp); err != nil {
		return resp, err
	}
	if resp.Version < protocol.VersionMin || resp.Version > protocol.VersionMax {
		return resp, protocol.Errorf(protocol.ErrUnsupportedVersion, "server chose version %d, outside this client's %d..%d",
			resp.Version, protocol.VersionMin, protocol.VersionMax)
	}
	if !stop() {
		return resp, context.Cause(ctx) // the deadline is already in the past
	}
	return resp, nil
}

// orContextErr prefers the reason ctx ended (the caller's cancellation or deadline, or Dial's own
// timeout) to the I/O error it caused.
func orContextErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", context.Cause(ctx), err)
	}
	return err
}

// decodeErrorBody turns an error frame's body into the error it describes.
func decodeErrorBody(body []byte) error {
	var eb protocol.ErrorBody
	if err := protocol.Unmarshal(body, &eb); err != nil {
		return fmt.Errorf("error response: %w", err)
	}
	if eb.Code == protocol.CodeOK {
		return protocol.Errorf(protocol.ErrMalformed, "error response with code 0 (%q)", eb.Message)
	}
	return eb.Err()
}

// NodeID returns the node id the server gave in the handshake.
func (c *Conn) NodeID() string { return c.nodeID }

// Version returns the protocol version the handshake chose.
func (c *Conn) Version() uint16 { return c.version }

// Addr returns the address the Conn was dialled with.
func (c *Conn) Addr() string { return c.addr }

// Done is closed when the connection has closed or broken; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns nil while the connection is open, then an error wrapping ErrConnClosed.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Call sends a request of type t with body req (encoded with msgpack) and waits for its response,
// which it decodes into resp (a pointer; nil to ignore the body). It may be called from many
// goroutines at once.
//
// An error response returns the server's error: errors.Is(err, protocol.ErrBusy) and the like
// work. When ctx ends first, Call returns its error at once and the response, if it comes, is
// dropped; the request may still have been served. When the connection closes or breaks, Call
// returns an error wrapping ErrConnClosed. req and resp are not retained after Call returns.
func (c *Conn) Call(ctx context.Context, t protocol.MessageType, req any, resp any) error {
	if t == protocol.TypeHandshake {
		return fmt.Errorf("transport: %w: the handshake is Dial's, not a Call", protocol.ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("transport: %s call to %s: %w", t, c.addr, err)
	}
	id := c.lastRequestID.Add(1)
	p, err := encodeFrame(protocol.FrameHeader{Type: t, RequestID: id}, req)
	if err != nil {
		return fmt.Errorf("transport: %s call to %s: %w", t, c.addr, err)
	}
	result := make(chan callResult, 1)
	if err := c.register(id, pendingCall{t: t, result: result}); err != nil {
		putFrameBuffer(p)
		return err
	}
	select {
	case c.out <- p:
	case <-ctx.Done():
		putFrameBuffer(p)
		c.abandon(id, result)
		return fmt.Errorf("transport: %s call to %s: %w", t, c.addr, ctx.Err())
	case <-c.done:
		putFrameBuffer(p)
		return c.Err()
	}
	select {
	case r := <-result:
		return finishCall(t, r, resp)
	case <-ctx.Done():
		c.abandon(id, result)
		return fmt.Errorf("transport: %s call to %s: %w", t, c.addr, ctx.Err())
	}
}

// register records a Call waiting for the response to request id.
func (c *Conn) register(id uint64, pc pendingCall) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		return c.err
	}
	c.pending[id] = pc
	return nil
}

// abandon forgets a Call whose ctx ended; a response already delivered to it is put back.
func (c *Conn) abandon(id uint64, result chan callResult) {
	c.mu.Lock()
	_, waiting := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if !waiting { // the reader (or fail) took it: a result is in the channel, or about to be
		if r := <-result; r.body != nil {
			putFrameBuffer(r.body)
		}
	}
}

// finishCall turns a Call's result into its return value, decoding into resp.
func finishCall(t protocol.MessageType, r callResult, resp any) error {
	if r.err != nil {
		return r.err
	}
	defer putFrameBuffer(r.body)
	body := *r.body
	if r.flags&protocol.FlagError != 0 {
		return decodeErrorBody(body)
	}
	if resp == nil {
		return nil
	}
	if err := protocol.Unmarshal(body, resp); err != nil { // copies what it keeps: the buffer may be reused
		return fmt.Errorf("transport: %s response: %w", t, err)
	}
	return nil
}

// Close closes the connection: pending Calls fail with an error wrapping ErrConnClosed, and the
// connection's goroutines have ended when it returns. Closing again does nothing.
func (c *Conn) Close() error {
	c.fail(nil)
	c.loops.Wait()
	return nil
}

// fail closes the connection for cause (nil: Close), once, and fails every pending Call.
func (c *Conn) fail(cause error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	if cause == nil {
		c.err = fmt.Errorf("%w (to %s)", ErrConnClosed, c.addr)
	} else {
		c.err = fmt.Errorf("%w (to %s): %w", ErrConnClosed, c.addr, cause)
	}
	pending := c.pending
	c.pending = nil
	close(c.done)
	c.mu.Unlock()

	_ = c.nc.Close()
	switch { // before the Calls return, so the line precedes whatever their callers log
	case cause == nil:
	case isViolation(cause):
		c.logger.Warn("transport: closing connection: protocol violation by the server", "reason", cause, "pending_calls", len(pending))
	default:
		c.logger.Debug("transport: connection closed", "reason", cause, "pending_calls", len(pending))
	}
	for _, pc := range pending {
		pc.result <- callResult{err: c.err}
	}
}

// readLoop reads responses and hands each to its Call, until the connection ends.
func (c *Conn) readLoop(br *bufio.Reader) {
	defer c.loops.Done()
	var scratch [protocol.FrameHeaderBytes]byte
	for {
		h, err := readFrameHeader(br, &scratch)
		if err == nil && h.Flags&protocol.FlagResponse == 0 {
			err = fmt.Errorf("%w: a %s request from the server", protocol.ErrBadFrame, h.Type)
		}
		if err != nil {
			c.fail(fmt.Errorf("read: %w", err))
			return
		}
		p := getFrameBuffer()
		body, err := readBody(br, *p, int(h.BodyLength))
		*p = body
		if err != nil {
			putFrameBuffer(p)
			c.fail(fmt.Errorf("read: %w", err))
			return
		}
		if err := c.deliver(h, p); err != nil {
			putFrameBuffer(p)
			c.fail(err)
			return
		}
	}
}

// deliver hands a response to the Call waiting for it; a response nobody waits for (its Call gave
// up) is dropped. A response of the wrong type is a protocol violation.
func (c *Conn) deliver(h protocol.FrameHeader, p *[]byte) error {
	c.mu.Lock()
	pc, ok := c.pending[h.RequestID]
	if ok && pc.t == h.Type {
		delete(c.pending, h.RequestID)
	}
	c.mu.Unlock()
	switch {
	case !ok:
		putFrameBuffer(p)
		return nil
	case pc.t != h.Type:
		return fmt.Errorf("%w: a %s response to %s request %d", protocol.ErrBadFrame, h.Type, pc.t, h.RequestID)
	}
	pc.result <- callResult{flags: h.Flags, body: p}
	return nil
}
