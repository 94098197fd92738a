package server

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/redcon"

	"github.com/shoalmq/shoal/protocol/resp"
)

// Backend executes data commands.
//
// Submit is called on the connection's goroutine in arrival order (so a connection's commands
// on one key take effect in that order). It must not block on I/O for long. The returned
// function waits for the reply and may block (XADD waits for fsync and replication; XREAD
// BLOCK waits for data); it must return when its ctx is done (the connection closed or the
// server is closing), with any Value: the reply is then dropped. The server calls each
// returned function exactly once, on the connection's goroutine, in submission order. The
// command, args (the request's words, which cmd was parsed from: a backend that forwards the
// command to another node sends them) and their byte slices stay valid until that function
// returns.
type Backend interface {
	Submit(ctx context.Context, c *Client, cmd resp.Command, args [][]byte) func(context.Context) resp.Value
}

// PipelineEnder is a Backend that wants to know where a connection's pipeline ends: EndPipeline
// is called on the connection's goroutine after the commands read together were submitted and
// before their replies are awaited (and before a blocking command is awaited), so a Backend that
// holds writes back to batch them (XADDs of one pipeline in one log append) sends them then.
type PipelineEnder interface {
	EndPipeline(c *Client)
}

// BackendFunc adapts a function to Backend (tests and simple backends).
type BackendFunc func(ctx context.Context, c *Client, cmd resp.Command, args [][]byte) func(context.Context) resp.Value

// Submit calls f.
func (f BackendFunc) Submit(ctx context.Context, c *Client, cmd resp.Command, args [][]byte) func(context.Context) resp.Value {
	return f(ctx, c, cmd, args)
}

// Config configures a Server. Zero values take the defaults.
type Config struct {
	// Password, when set, is required (AUTH or HELLO AUTH, user "default") before any data
	// command, as Redis's requirepass.
	Password string
	// MaxClients bounds open connections; one more is answered "ERR max number of clients
	// reached" and closed. Default 10000.
	MaxClients int
	// IdleTimeout closes a connection that sends nothing for this long (not while it waits
	// for a blocking command). Zero: never, as Redis's default "timeout 0".
	IdleTimeout time.Duration
	// Limits bound one request (see resp.Limits).
	Limits resp.Limits
	// Version is the redis_version reported by HELLO and INFO. Default DefaultVersion.
	Version string
}

// DefaultVersion is the Redis version Shoal reports: clients enable features by it, and Shoal
// implements Redis 7.0's stream commands.
const DefaultVersion = "7.0.15"

const defaultMaxClients = 10000

// Server serves the RESP protocol. Create it with New; Serve and Close may be called from any
// goroutine.
type Server struct {
	cfg     Config
	backend Backend
	redcon  *redcon.Server

	ctx    context.Context // cancelled by Close: every Client's context derives from it
	cancel context.CancelFunc

	mu       sync.Mutex
	listener net.Listener // set by Serve
	closed   bool

	clients  atomic.Int64   // open connections
	nextID   atomic.Int64   // last client id given
	handlers sync.WaitGroup // one per accepted connection, until its goroutine ends
}

// New returns a server executing data commands on backend. It does not listen yet.
func New(cfg Config, backend Backend) *Server {
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = defaultMaxClients
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	cfg.Limits = resp.NewLimits(cfg.Limits)
	s := &Server{cfg: cfg, backend: backend}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.redcon = redcon.NewServerNetwork("tcp", "", s.serveRequest, s.accept, s.onClosed)
	if cfg.IdleTimeout > 0 {
		s.redcon.SetIdleClose(cfg.IdleTimeout)
	}
	return s
}

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("resp server: closed")

// Serve accepts connections on ln until Close; it blocks, and returns nil after Close or the
// listener's error. It takes ownership of ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrClosed
	}
	guarded := &guardListener{Listener: ln, limits: s.cfg.Limits}
	s.listener = guarded
	s.mu.Unlock()
	return s.redcon.Serve(guarded)
}

// Addr returns the listening address, or nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return nil
	}
	return s.listener.Addr()
}

// Close stops accepting, closes every connection, cancels every Client's context and waits
// until every connection's goroutine has ended or ctx is done (then it returns ctx's error).
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	ln := s.listener
	s.mu.Unlock()
	s.cancel()
	if ln != nil {
		// redcon's accept loop ends on net.ErrClosed and then closes every connection.
		_ = ln.Close()
	}
	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// accept runs on redcon's accept loop for each new connection.
func (s *Server) accept(conn redcon.Conn) bool {
	s.handlers.Add(1)
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed || s.clients.Add(1) > int64(s.cfg.MaxClients) {
		if !closed {
			_, _ = conn.NetConn().Write([]byte("-ERR max number of clients reached\r\n"))
		}
		s.clients.Add(-1)
		s.handlers.Done()
		return false
	}
	guard, _ := conn.NetConn().(*guardConn)
	ctx, cancel := context.WithCancel(s.ctx)
	client := &Client{id: s.nextID.Add(1), ctx: ctx, proto: 2, addr: conn.RemoteAddr()}
	conn.SetContext(&connState{client: client, cancel: cancel, guard: guard,
		authenticated: s.cfg.Password == ""})
	return true
}

// onClosed runs on the connection's goroutine as it ends.
func (s *Server) onClosed(conn redcon.Conn, _ error) {
	if st, ok := conn.Context().(*connState); ok {
		st.cancel()
	}
	s.clients.Add(-1)
	s.handlers.Done()
}

// Client is one connection as the Backend sees it. Its methods may be called from any
// goroutine.
type Client struct {
	id   int64
	ctx  context.Context
	addr string

	mu      sync.Mutex
	name    string
	proto   int
	libName string
	libVer  string

	// data is the Backend's per-connection state (SetData); only the connection's goroutine,
	// which calls Submit and EndPipeline, touches it.
	data any
}

// Data returns what the Backend stored with SetData (nil at first). Call it only from Submit or
// EndPipeline (the connection's goroutine).
func (c *Client) Data() any { return c.data }

// SetData stores the Backend's per-connection state (say, writes it batches across a pipeline).
// Call it only from Submit or EndPipeline.
func (c *Client) SetData(v any) { c.data = v }

// ID returns the connection id (CLIENT ID), unique for the server's life.
func (c *Client) ID() int64 { return c.id }

// Context is cancelled when the connection closes or the server closes.
func (c *Client) Context() context.Context { return c.ctx }

// Name returns the name set by CLIENT SETNAME or HELLO SETNAME.
func (c *Client) Name() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.name
}

// Protocol returns the RESP version of the connection's replies: 2, or 3 after HELLO 3.
func (c *Client) Protocol() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proto
}

func (c *Client) setName(name string) {
	c.mu.Lock()
	c.name = name
	c.mu.Unlock()
}

func (c *Client) setProtocol(proto int) {
	c.mu.Lock()
	c.proto = proto
	c.mu.Unlock()
}

// connState is the per-connection state; only the connection's goroutine touches it.
type connState struct {
	client        *Client
	cancel        context.CancelFunc
	guard         *guardConn
	authenticated bool
	out           []byte    // reply buffer, reused
	pending       []pending // replies of the current batch, reused
}
