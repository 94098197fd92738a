package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/shoalmq/shoal/protocol"
)

// Defaults of ServerConfig.
const (
	DefaultMaxInFlightPerConn      = 64
	DefaultMaxInFlightBytesPerConn = protocol.MaxFrameBytes
	DefaultHandshakeTimeout        = 10 * time.Second
)

// maxHandshakeBytes bounds the handshake's body: the server reads it before it knows the peer
// speaks the protocol, so it allocates no more than this for it.
const maxHandshakeBytes = 4 << 10

// Backoff after a failed Accept (out of file descriptors, say), doubling up to the maximum.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// ServerConfig configures Listen. Zero values take the defaults noted.
type ServerConfig struct {
	// Addr is the TCP address to listen on; "127.0.0.1:0" picks a free port (see Server.Addr).
	Addr string
	// NodeID is sent to clients in the handshake response.
	NodeID string
	// Handler serves every request after the handshake. Required.
	Handler Handler
	// Logger receives connection events (nil: slog.Default()).
	Logger *slog.Logger
	// MaxInFlightPerConn bounds the requests served concurrently per connection (default 64).
	// Past it the server stops reading that connection (TCP backpressure); it never queues
	// without bound.
	MaxInFlightPerConn int
	// MaxInFlightBytesPerConn bounds the request-body bytes a connection's requests in flight
	// hold (default protocol.MaxFrameBytes); past it the server stops reading, as above. One
	// request may always be in flight, however large (up to protocol.MaxFrameBytes).
	MaxInFlightBytesPerConn int
	// HandshakeTimeout bounds how long a new connection may take to send its handshake, and how
	// long writing the answer may take (default 10s).
	HandshakeTimeout time.Duration
}

// validate checks the config and fills in defaults, one message per bad field.
func (cfg *ServerConfig) validate() error {
	var errs []error
	if cfg.Addr == "" {
		errs = append(errs, errors.New(`transport: ServerConfig.Addr is empty: set the broker address (--broker-addr), e.g. "127.0.0.1:0" for any free port`))
	}
	if cfg.Handler == nil {
		errs = append(errs, errors.New("transport: ServerConfig.Handler is nil: pass the handler that serves requests"))
	}
	if cfg.MaxInFlightPerConn < 0 {
		errs = append(errs, fmt.Errorf("transport: ServerConfig.MaxInFlightPerConn is %d: use a positive count, or 0 for the default %d",
			cfg.MaxInFlightPerConn, DefaultMaxInFlightPerConn))
	}
	if cfg.MaxInFlightBytesPerConn < 0 {
		errs = append(errs, fmt.Errorf("transport: ServerConfig.MaxInFlightBytesPerConn is %d: use a positive count, or 0 for the default %d",
			cfg.MaxInFlightBytesPerConn, DefaultMaxInFlightBytesPerConn))
	}
	if cfg.HandshakeTimeout < 0 {
		errs = append(errs, fmt.Errorf("transport: ServerConfig.HandshakeTimeout is %v: use a positive duration, or 0 for the default %v",
			cfg.HandshakeTimeout, DefaultHandshakeTimeout))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxInFlightPerConn == 0 {
		cfg.MaxInFlightPerConn = DefaultMaxInFlightPerConn
	}
	if cfg.MaxInFlightBytesPerConn == 0 {
		cfg.MaxInFlightBytesPerConn = DefaultMaxInFlightBytesPerConn
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	return errors.Join(errs...)
}

// Server accepts connections speaking the native protocol and serves their requests with the
// configured Handler. Its methods are safe for concurrent use.
type Server struct {
	cfg    ServerConfig
	logger *slog.Logger
	ln     net.Listener

	// handlerCtx is the parent of every connection's context; cancelAll ends it when Shutdown
	// runs out of time.
	handlerCtx context.Context
	cancelAll  context.CancelFunc
	// closing is closed when Shutdown starts: it stops the accept loop's backoff.
	closing chan struct{}
	// running counts the accept loop and every connection's serve goroutine.
	running sync.WaitGroup

	mu sync.Mutex
	// conns holds every connection being served.
	conns        map[*serverConn]struct{}
	shuttingDown bool
}

// Listen binds cfg.Addr and starts accepting connections. Stop it with Shutdown.
func Listen(cfg ServerConfig) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("transport: listen on %s: the address is in use (another shoal node or program holds it): pick another --broker-addr: %w",
				cfg.Addr, err)
		}
		return nil, fmt.Errorf("transport: listen on %s: check the host part of --broker-addr: %w", cfg.Addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:        cfg,
		logger:     cfg.Logger,
		ln:         ln,
		handlerCtx: ctx,
		cancelAll:  cancel,
		closing:    make(chan struct{}),
		conns:      make(map[*serverConn]struct{}),
	}
	s.running.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr returns the bound address (with the port chosen when cfg.Addr asked for port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops accepting connections, answers requests that arrive from then on with
// protocol.ErrShuttingDown, lets the requests in flight finish and their responses be written,
// then closes every connection. When ctx ends first, it cancels the handlers' contexts, closes
// every connection at once, waits for the handlers to return and returns an error wrapping
// ctx.Err(). It returns only when no goroutine of the server is left. Calling it again waits
// again; it is safe from many goroutines.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := !s.shuttingDown
	s.shuttingDown = true
	conns := s.connList()
	s.mu.Unlock()
	if first {
		close(s.closing)
		_ = s.ln.Close() // the accept loop sees net.ErrClosed
	}
	for _, c := range conns {
		c.stopReading()
	}

	done := make(chan struct{})
	go func() { // ends when the server's goroutines do, which the code below makes certain
		s.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancelAll()
		return nil
	case <-ctx.Done():
	}
	s.cancelAll()
	s.mu.Lock()
	conns = s.connList()
	s.mu.Unlock()
	for _, c := range conns {
		c.abort()
	}
	<-done
	return fmt.Errorf("transport: shutdown cut short, requests in flight were cancelled: %w", ctx.Err())
}

// connList returns the connections being served. s.mu must be held.
func (s *Server) connList() []*serverConn {
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}

// acceptLoop accepts connections until the listener closes, and starts a serve goroutine for each.
func (s *Server) acceptLoop() {
	defer s.running.Done()
	var backoff time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			s.logger.Warn("transport: accept failed; retrying", "addr", s.Addr(), "err", err, "retry_in", backoff)
			timer := time.NewTimer(backoff)
			select {
			case <-timer.C:
			case <-s.closing:
				timer.Stop()
				return
			}
			continue
		}
		backoff = 0
		s.startConn(nc)
	}
}

// startConn registers nc and starts serving it, unless the server is shutting down.
func (s *Server) startConn(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown {
		_ = nc.Close()
		return
	}
	c := newServerConn(s, nc)
	s.conns[c] = struct{}{}
	s.running.Add(1)
	go c.serve()
}

// forget removes a connection that is done.
func (s *Server) forget(c *serverConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}
